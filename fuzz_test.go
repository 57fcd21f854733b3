package containers_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// snapshot renders everything a write could change: every file of every
// container of every hierarchy, and where every task is.
func snapshot(sys *containers.System) string {
	var b strings.Builder
	for _, h := range sys.Hierarchies() {
		var walk func(c *containers.Container)
		walk = func(c *containers.Container) {
			for _, fi := range c.Files() {
				data, err := c.ReadFile(fi.Name)
				fmt.Fprintf(&b, "%d %s/%s %q %v\n", h.ID(), c.Path(), fi.Name, data, err)
			}
			for _, k := range c.Children() {
				walk(k)
			}
		}
		walk(h.Root())
	}
	fmt.Fprintf(&b, "groups %d\n", sys.GroupCount())
	return b.String()
}

// FuzzWriteFile writes arbitrary data to arbitrary paths: a write never
// panics, every error is an *fs.PathError holding an errno, and a failed
// write changes nothing.
func FuzzWriteFile(f *testing.F) {
	for _, seed := range []struct{ path, data string }{
		{"/x/tasks", "7"}, {"/x/tasks", " 0x7\n"}, {"/x/cgroup.procs", "8"},
		{"/x/notify_on_release", "1"}, {"/release_agent", "/bin/true\n"},
		{"/x/a.path", "1"}, {"/x/y", "1"}, {"/tasks", "abc"}, {"/x/tasks", ""},
		{"/cgroup.sane_behavior", "0"}, {"/../tasks", "7"}, {"x/tasks", "7"},
		{"/x/cgroup.clone_children", "99999999999999999999999"},
	} {
		f.Add(seed.path, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, path string, data []byte) {
		var log callLog
		sys, _ := newSystem(t, &log, "a", "b")
		h := must(sys.MountString("a,b"))
		x := must(h.Root().Mkdir("x"))
		must(x.Mkdir("y"))
		p := must(sys.NewTask(7))
		must(sys.ForkThread(p, 8))
		before := snapshot(sys)
		err := h.WriteFileAs(p, path, data)
		if err == nil {
			if cerr := sys.CheckInvariants(); cerr != nil {
				t.Fatal(cerr)
			}
			return
		}
		var pe *fs.PathError
		var errno unix.Errno
		if !errors.As(err, &pe) || !errors.As(err, &errno) {
			t.Fatalf("write %q to %q: %v is not a PathError with an errno", data, path, err)
		}
		if diff := cmp.Diff(before, snapshot(sys)); diff != "" {
			t.Fatalf("failed write %q to %q (%v) changed (-before +after):\n%s", data, path, err, diff)
		}
	})
}
