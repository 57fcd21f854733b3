//go:build linux

package cpuacct_test

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

const kernelCpuacct = "/sys/fs/cgroup/cpuacct"

// kernelChild makes a uniquely named child of the kernel's cpuacct
// hierarchy, removed when the test ends (after the test's other cleanups,
// which kill what runs in it), or skips the test without root or without
// a cgroup v1 cpuacct hierarchy.
func kernelChild(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(kernelCpuacct, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		t.Skip("no cgroup v1 hierarchy at " + kernelCpuacct)
	}
	if _, err := os.Stat(filepath.Join(kernelCpuacct, "cpuacct.usage")); err != nil {
		t.Skip("cpuacct is not mounted at " + kernelCpuacct)
	}
	dir := filepath.Join(kernelCpuacct, fmt.Sprintf("tc_cpuacct_test_%d_%x", os.Getpid(), rand.Uint64()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A killed task may take a moment to leave the cgroup.
		var err error
		for range 100 {
			if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("removing %s: %v", dir, err)
	})
	return dir
}

// kernelFiles lists the control files in dir with their modes.
func kernelFiles(t *testing.T, dir string) []containers.FileInfo {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []containers.FileInfo
	for _, e := range ents {
		if e.IsDir() {
			continue // a child cgroup
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, containers.FileInfo{Name: e.Name(), Mode: info.Mode().Perm()})
	}
	return out
}

func kernelRead(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, name := range fileNames {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m[name] = string(b)
	}
	return m
}

// kernelWrite writes data with one write(2) and returns its errno (0 for
// success).
func kernelWrite(t *testing.T, path, data string) unix.Errno {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Write([]byte(data))
	return errnoOf(t, err)
}

func errnoOf(t *testing.T, err error) unix.Errno {
	t.Helper()
	if err == nil {
		return 0
	}
	var e unix.Errno
	if !errors.As(err, &e) {
		t.Fatalf("%v wraps no errno", err)
	}
	return e
}

func withoutStat(m map[string]string) map[string]string {
	m = maps.Clone(m)
	delete(m, "cpuacct.stat")
	return m
}

var digits = regexp.MustCompile(`[0-9]+`)

// shape replaces every number in each file by N.
func shape(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = digits.ReplaceAllString(v, "N")
	}
	return out
}

// TestKernel compares file listings, formats and reset rules with a child
// of the kernel's cpuacct hierarchy.
func TestKernel(t *testing.T) {
	dir := kernelChild(t)
	host := topology.Host()
	sys, ss, h := mounted(t, host.PossibleCPUs)
	c := must(h.Root().Mkdir(filepath.Base(dir)))

	if diff := cmp.Diff(kernelFiles(t, dir), c.Files()); diff != "" {
		t.Errorf("child files (-kernel +ours):\n%s", diff)
	}
	if diff := cmp.Diff(kernelFiles(t, kernelCpuacct), h.Root().Files()); diff != "" {
		t.Errorf("root files (-kernel +ours):\n%s", diff)
	}
	// Fresh, both read zeros: the bytes must be the same.
	if diff := cmp.Diff(kernelRead(t, dir), readAll(t, c)); diff != "" {
		t.Errorf("fresh child (-kernel +ours):\n%s", diff)
	}

	// Burn CPU in the kernel's child, and charge ours.
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start /bin/sh:", err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if e := kernelWrite(t, filepath.Join(dir, "cgroup.procs"), fmt.Sprint(cmd.Process.Pid)); e != 0 {
		t.Fatalf("moving the burner: %v", e)
	}
	task := must(sys.NewTask(1))
	if err := c.Attach(task); err != nil {
		t.Fatal(err)
	}
	for cpu := range host.PossibleCPUs {
		charge(t, ss, task, cpu, time.Duration(cpu+1)*123456789, time.Duration(cpu+1)*98765432)
	}
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	reaped = true
	kernel := kernelRead(t, dir)
	if kernel["cpuacct.usage"] == "0\n" || kernel["cpuacct.stat"] == "user 0\nsystem 0\n" {
		t.Fatalf("the burner was not accounted: %q", kernel)
	}
	if diff := cmp.Diff(shape(kernel), shape(readAll(t, c))); diff != "" {
		t.Errorf("formats with usage (-kernel +ours):\n%s", diff)
	}

	// Reset rules: the same writes succeed and fail with the same errnos.
	kernelStat := kernel["cpuacct.stat"]
	ourStat := string(must(c.ReadFile("cpuacct.stat")))
	for _, in := range []string{"1", "abc", "-1", " 0", "0 ", "01", "0x", "0\n\n", "18446744073709551616", "0", "00", "0x0", "0\n", "+0"} {
		ke := kernelWrite(t, filepath.Join(dir, "cpuacct.usage"), in)
		oe := errnoOf(t, c.WriteFile("cpuacct.usage", []byte(in)))
		if ke != oe {
			t.Errorf("write %q to usage: kernel %v, ours %v", in, ke, oe)
		}
		if ke == 0 {
			kernelAfter, ourAfter := kernelRead(t, dir), readAll(t, c)
			// Nothing runs in either: the reset values are exact.
			if diff := cmp.Diff(withoutStat(kernelAfter), withoutStat(ourAfter)); diff != "" {
				t.Errorf("after writing %q (-kernel +ours):\n%s", in, diff)
			}
			if kernelAfter["cpuacct.stat"] != kernelStat || ourAfter["cpuacct.stat"] != ourStat {
				t.Errorf("stat changed on reset: kernel %q -> %q, ours %q -> %q",
					kernelStat, kernelAfter["cpuacct.stat"], ourStat, ourAfter["cpuacct.stat"])
			}
		}
	}
	for _, name := range fileNames {
		if name == "cpuacct.usage" {
			continue
		}
		ke := kernelWrite(t, filepath.Join(dir, name), "0")
		oe := errnoOf(t, c.WriteFile(name, []byte("0")))
		if ke != oe || ke != unix.EINVAL {
			t.Errorf("write 0 to %s: kernel %v, ours %v", name, ke, oe)
		}
	}
	if ss.State(c).Usage() != 0 {
		t.Errorf("usage after reset %v", ss.State(c).Usage())
	}
}

// TestKernelUnknownFile: a name that is not a file gives ENOENT in both.
func TestKernelUnknownFile(t *testing.T) {
	dir := kernelChild(t)
	_, _, h := mounted(t, topology.Host().PossibleCPUs)
	c := must(h.Root().Mkdir("x"))
	_, kerr := os.ReadFile(filepath.Join(dir, "cpuacct.usage_bogus"))
	_, oerr := c.ReadFile("cpuacct.usage_bogus")
	if ke, oe := errnoOf(t, kerr), errnoOf(t, oerr); ke != oe || ke != unix.ENOENT {
		t.Errorf("unknown file: kernel %v, ours %v", ke, oe)
	}
}
