// Package kerneltest holds what the project's tests that compare the library
// with the live kernel's cgroup v1 share: unique names, real processes to
// move, cleanup of cgroup trees, and errno names. Those tests skip
// themselves unless they run as root with cgroup v1 mounted.
package kerneltest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireRoot skips t unless it runs as root and the cgroup v1 file
// named by probe (such as "/sys/fs/cgroup/cpuset/cpuset.cpus") exists.
func RequireRoot(t testing.TB, probe string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(probe); err != nil {
		t.Skip("needs cgroup v1: " + probe)
	}
}

// UniqueName returns prefix followed by the process ID and a random
// suffix, a name no other test run uses.
func UniqueName(prefix string) string {
	var rnd [4]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%s%d_%s", prefix, os.Getpid(), hex.EncodeToString(rnd[:]))
}

// Sleeper starts a process that sleeps until the test ends, and returns
// its pid; cleanup kills and reaps it. Register it after the cgroups it
// will be moved into, so that it is killed before they are removed.
func Sleeper(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// RemoveTree removes the cgroup directory dir and every cgroup under it,
// deepest first. A task that was killed leaves its cgroup only when it is
// reaped, so an EBUSY rmdir is retried for a second.
func RemoveTree(t testing.TB, dir string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		var err error
		for range 100 {
			if err = unix.Rmdir(d); err != unix.EBUSY {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("cleanup: rmdir %s: %v", d, err)
		}
	}
}

// ErrnoName returns "ok" for nil, the symbolic name of the errno inside
// err ("EBUSY"), or a description of an error that holds none.
func ErrnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return "non-errno: " + err.Error()
}

// Alive reports whether the named cgroup v1 hierarchy still exists: this
// process's /proc/self/cgroup has a line for it.
func Alive(name string) bool {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false
	}
	return strings.Contains(string(b), ":name="+name+":") || strings.Contains(string(b), ",name="+name+":")
}

// Destroy makes sure the named hierarchy, already unmounted, is gone. The
// kernel removes a container asynchronously; a hierarchy unmounted while a
// removed child is still dying stays alive for good, with no mount. Destroy
// waits a moment for it to go, then mounts it again on a temporary
// directory, removes what is left in it and unmounts it, until it is gone
// (or it gives up, after a few seconds, with an error).
func Destroy(name string) error {
	for range 10 {
		for range 20 {
			if !Alive(name) {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		dir, err := os.MkdirTemp("", "cgcleanup-")
		if err != nil {
			return err
		}
		if err := unix.Mount("cgroup", dir, "cgroup", 0, "none,name="+name); err != nil {
			os.Remove(dir)
			return fmt.Errorf("mount %s again to destroy it: %w", name, err)
		}
		var dirs []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != dir {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			unix.Rmdir(d)
		}
		time.Sleep(100 * time.Millisecond) // let the removals finish
		err = unix.Unmount(dir, 0)
		os.Remove(dir)
		if err != nil {
			return fmt.Errorf("unmount %s: %w", name, err)
		}
	}
	return fmt.Errorf("hierarchy %s is still alive", name)
}
