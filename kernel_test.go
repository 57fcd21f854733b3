package containers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/internal/kerneltest"
	"golang.org/x/sys/unix"
)

// kernelHierarchy mounts a new named cgroup v1 hierarchy ("none,name=N"
// plus extra options) on a temporary directory, or skips the test where
// that is impossible (not root, no cgroup v1). Cleanup removes every
// container left under it, unmounts it and removes the directory.
func kernelHierarchy(t *testing.T, extra string) (dir, name string) {
	t.Helper()
	kerneltest.RequireRoot(t, "/sys/fs/cgroup/cpuset/tasks")
	name = kerneltest.UniqueName("tc")
	dir = t.TempDir()
	opts := "none,name=" + name
	if extra != "" {
		opts += "," + extra
	}
	if err := unix.Mount("cgroup", dir, "cgroup", 0, opts); err != nil {
		t.Skipf("cannot mount a cgroup v1 hierarchy: %v", err)
	}
	t.Cleanup(func() {
		// Move every task back to the root, deepest containers first, then
		// remove them.
		var dirs []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != dir {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			if b, err := os.ReadFile(filepath.Join(d, "tasks")); err == nil {
				for id := range strings.FieldsSeq(string(b)) {
					os.WriteFile(filepath.Join(dir, "tasks"), []byte(id), 0)
				}
			}
			if err := os.Remove(d); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("cleanup: unmount %s: %v", dir, err)
		} else if err := kerneltest.Destroy(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir, name
}

// TestKernelDifferentialFiles runs one script of mkdir, rmdir, rename,
// writes, reads and listings on a real named hierarchy and on the library,
// and compares every result: contents, listings and errnos.
func TestKernelDifferentialFiles(t *testing.T) {
	dir, name := kernelHierarchy(t, "")
	p1, p2 := kerneltest.Sleeper(t), kerneltest.Sleeper(t)
	sys, err := containers.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(t.Context()) })
	h := must(sys.MountString("none,name=" + name))
	must(sys.NewTask(containers.TaskID(p1)))
	must(sys.NewTask(containers.TaskID(p2)))
	s1, s2 := strconv.Itoa(p1), strconv.Itoa(p2)
	script := [][3]string{
		{"ls", "/", ""},
		{"read", "/release_agent", ""},
		{"read", "/cgroup.sane_behavior", ""},
		{"read", "/notify_on_release", ""},
		{"read", "/cgroup.clone_children", ""},
		{"mkdir", "/a", ""},
		{"mkdir", "/a", ""},
		{"mkdir", "/a/b", ""},
		{"mkdir", "/a/x\ny", ""},
		{"mkdir", "/a/tasks", ""},
		{"mkdir", "/a/..", ""},
		{"mkdir", "/release_agent", ""},
		{"mkdir", "/a/release_agent", ""},
		{"mkdir", "/nope/c", ""},
		{"ls", "/a", ""},
		{"rmdir", "/a/release_agent", ""},
		{"write", "/a/tasks", s1},
		{"write", "/a/tasks", " " + s1 + "\n"},
		{"write", "/a/b/tasks", s2},
		{"read", "/a/tasks", ""},
		{"read", "/a/b/cgroup.procs", ""},
		{"rmdir", "/a", ""},
		{"rmdir", "/a/b", ""},
		{"rmdir", "/", ""},
		{"write", "/a/tasks", "abc"},
		{"write", "/a/tasks", s1 + " " + s2},
		{"write", "/a/tasks", "-1"},
		{"write", "/a/tasks", "99999999999"},
		{"write", "/a/tasks", "2147483647"},
		{"write", "/a/tasks", "\n"},
		{"write", "/a/tasks", ""},
		{"write", "/a/tasks", strings.Repeat("9", 4097)},
		{"write", "/a/cgroup.procs", s2},
		{"read", "/a/cgroup.procs", ""},
		{"read", "/a/b/tasks", ""},
		{"write", "/a/notify_on_release", "2"},
		{"read", "/a/notify_on_release", ""},
		{"mkdir", "/a/n", ""},
		{"read", "/a/n/notify_on_release", ""},
		{"write", "/a/notify_on_release", " 1"},
		{"write", "/a/notify_on_release", "1 "},
		{"write", "/a/notify_on_release", "0x0"},
		{"write", "/a/notify_on_release", "-1"},
		{"write", "/a/notify_on_release", "0b1"},
		{"write", "/a/notify_on_release", "99999999999999999999999"},
		{"read", "/a/notify_on_release", ""},
		{"write", "/cgroup.clone_children", "1"},
		{"mkdir", "/cc", ""},
		{"read", "/cc/cgroup.clone_children", ""},
		{"write", "/cgroup.sane_behavior", "1"},
		{"write", "/cgroup.sane_behavior", ""},
		{"write", "/release_agent", "  /bin/true  \n"},
		{"read", "/release_agent", ""},
		{"write", "/release_agent", strings.Repeat("/", 4096)},
		{"write", "/release_agent", ""},
		{"read", "/release_agent", ""},
		{"write", "/release_agent", "\n"},
		{"read", "/release_agent", ""},
		{"write", "/a/nofile", "1"},
		{"read", "/a/nofile", ""},
		{"read", "/a", ""},
		{"rename", "/a/n", "/a/m"},
		{"rename", "/a/m", "/cc/m"},
		{"rename", "/a/m", "/a/b"},
		{"rename", "/a/m", "/a/tasks"},
		{"rename", "/a/tasks", "/a/t2"},
		{"rename", "/a/m", "/a/m"},
		{"rename", "/a/m", "/a/x\ny"},
		{"ls", "/a", ""},
		{"write", "/tasks", s1},
		{"write", "/tasks", s2},
		{"rmdir", "/a/b", ""},
		{"rmdir", "/a/m", ""},
		{"rmdir", "/a/m", ""},
		{"rmdir", "/a", ""},
		{"rmdir", "/cc", ""},
		{"ls", "/", ""},
	}
	k, l := kerneltest.Kernel{Dir: dir}, kerneltest.Library{H: h}
	var want, got []string
	for _, s := range script {
		line := fmt.Sprintf("%s %q %q -> ", s[0], s[1], s[2])
		want = append(want, line+k.Do(s[0], s[1], s[2]))
		got = append(got, line+l.Do(s[0], s[1], s[2]))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kernel (-) and library (+) differ:\n%s", diff)
	}
}

// TestKernelDifferentialProcCgroup compares the line of /proc/PID/cgroup for
// a named hierarchy (less the hierarchy ID, which differs) with the
// library's, for a task moved two levels down and after rename.
func TestKernelDifferentialProcCgroup(t *testing.T) {
	dir, name := kernelHierarchy(t, "")
	pid := kerneltest.Sleeper(t)
	sys, err := containers.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(t.Context()) })
	h := must(sys.MountString("none,name=" + name))
	task := must(sys.NewTask(containers.TaskID(pid)))
	k, l := kerneltest.Kernel{Dir: dir}, kerneltest.Library{H: h}
	for _, s := range [][3]string{
		{"mkdir", "/j", ""}, {"mkdir", "/j/sub", ""},
		{"write", "/j/sub/tasks", strconv.Itoa(pid)},
		{"rename", "/j/sub", "/j/renamed"},
	} {
		if a, b := k.Do(s[0], s[1], s[2]), l.Do(s[0], s[1], s[2]); a != "ok" || b != "ok" {
			t.Fatalf("%v: kernel %s, library %s", s, a, b)
		}
	}
	kernelLine := ""
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if _, rest, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(rest, "name="+name+":") {
			kernelLine = rest
		}
	}
	var lib strings.Builder
	if err := sys.WriteProcCgroup(&lib, task); err != nil {
		t.Fatal(err)
	}
	_, libLine, _ := strings.Cut(lib.String(), ":")
	if kernelLine != libLine || libLine != "name="+name+":/j/renamed\n" {
		t.Errorf("/proc/PID/cgroup: kernel %q, library %q", kernelLine, libLine)
	}
	k.Do("write", "/tasks", strconv.Itoa(pid))
}
