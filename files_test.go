package containers_test

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

func listing(c *containers.Container) []string {
	var out []string
	for _, fi := range c.Files() {
		out = append(out, fi.Name+" "+fi.Mode.String())
	}
	return out
}

func TestFileListing(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a", "cpuset")
	h := must(sys.MountString("none,name=n"))
	x := must(h.Root().Mkdir("x"))
	// Today's kernel, for a new named hierarchy without subsystems (spec §3.1).
	wantRoot := []string{
		"cgroup.clone_children -rw-r--r--", "cgroup.procs -rw-r--r--", "cgroup.sane_behavior -r--r--r--",
		"notify_on_release -rw-r--r--", "release_agent -rw-r--r--", "tasks -rw-r--r--",
	}
	wantChild := []string{
		"cgroup.clone_children -rw-r--r--", "cgroup.procs -rw-r--r--",
		"notify_on_release -rw-r--r--", "tasks -rw-r--r--",
	}
	if diff := cmp.Diff(wantRoot, listing(h.Root())); diff != "" {
		t.Errorf("root listing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantChild, listing(x)); diff != "" {
		t.Errorf("child listing (-want +got):\n%s", diff)
	}
	// Subsystem files get their prefix, or none with noprefix.
	hc := must(sys.MountString("cpuset,noprefix"))
	if fe := listing(hc.Root()); !contains(fe, "path -r--r--r--") {
		t.Errorf("noprefix listing %v lacks path", fe)
	}
	ha := must(sys.MountString("a"))
	if fe := listing(ha.Root()); !contains(fe, "a.path -r--r--r--") {
		t.Errorf("listing %v lacks a.path", fe)
	}
}

func contains(ss []string, s string) bool {
	return slices.Contains(ss, s)
}

func TestCoreFileContents(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.Mount(containers.Options{Name: "n", None: true, CloneChildren: true, ReleaseAgent: "/sbin/agent"}))
	x := must(h.Root().Mkdir("x"))
	for _, id := range []containers.TaskID{30, 4, 100} {
		task := must(sys.NewTask(id))
		if err := x.Attach(task); err != nil {
			t.Fatal(err)
		}
	}
	p := must(sys.Task(4))
	th := must(sys.ForkThread(p, 7))
	_ = th
	want := map[string]string{
		"/release_agent":           "/sbin/agent\n",
		"/cgroup.sane_behavior":    "0\n",
		"/cgroup.clone_children":   "1\n",
		"/x/cgroup.clone_children": "1\n",
		"/x/notify_on_release":     "0\n",
		"/x/tasks":                 "4\n7\n30\n100\n",
		"/x/cgroup.procs":          "4\n30\n100\n",
		"/tasks":                   "",
	}
	for path, w := range want {
		got, err := h.ReadFile(path)
		if err != nil || string(got) != w {
			t.Errorf("read %s = %q, %v; want %q", path, got, err, w)
		}
	}
	if err := h.WriteFile("/release_agent", []byte("\n")); err != nil {
		t.Fatal(err)
	}
	if got := must(h.ReadFile("/release_agent")); string(got) != "\n" {
		t.Errorf("cleared release_agent reads %q", got)
	}
	if got := h.Options().String(); got != "clone_children,name=n" {
		t.Errorf("options %q", got)
	}
}

// TestWriteRules checks the kernel's parsing and errnos for the core files
// (spec §2.7, §3), as observed on a live kernel.
func TestWriteRules(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("none,name=n"))
	x := must(h.Root().Mkdir("x"))
	caller := must(sys.NewTask(42))
	must(sys.NewTask(2147483646))
	for _, tc := range []struct {
		path, data string
		want       error
	}{
		{"/x/tasks", "42", nil},
		{"/x/tasks", " 42\n", nil},
		{"/x/tasks", "0x2a", nil},
		{"/x/tasks", "052", nil},
		{"/x/tasks", "+42", nil},
		{"/x/tasks", "0", nil},  // the caller
		{"/x/tasks", "-0", nil}, // the caller too
		{"/x/tasks", "", nil},   // a 0-byte write does nothing
		{"/x/tasks", "abc", unix.EINVAL},
		{"/x/tasks", "1 2", unix.EINVAL},
		{"/x/tasks", "42\n43", unix.EINVAL},
		{"/x/tasks", "-1", unix.EINVAL},
		{"/x/tasks", "0x", unix.EINVAL},
		{"/x/tasks", "\n", unix.EINVAL},
		{"/x/tasks", "99999999999", unix.EINVAL},
		{"/x/tasks", "2147483647", unix.ESRCH},
		{"/x/tasks", "2147483646", nil},
		{"/x/tasks", strings.Repeat("9", 4096), unix.EINVAL},
		{"/x/tasks", strings.Repeat("9", 4097), unix.E2BIG},
		{"/x/tasks", strings.Repeat(" ", 4095) + "42", unix.E2BIG},
		{"/x/cgroup.procs", "42", nil},
		{"/x/cgroup.procs", "7", unix.ESRCH},
		{"/x/notify_on_release", "1", nil},
		{"/x/notify_on_release", "2\n", nil},
		{"/x/notify_on_release", "0x1", nil},
		{"/x/notify_on_release", "01", nil},
		{"/x/notify_on_release", "+0", nil},
		{"/x/notify_on_release", " 1", unix.EINVAL},
		{"/x/notify_on_release", "1 ", unix.EINVAL},
		{"/x/notify_on_release", "1\n\n", unix.EINVAL},
		{"/x/notify_on_release", "\n", unix.EINVAL},
		{"/x/notify_on_release", "-1", unix.EINVAL},
		{"/x/notify_on_release", "abc", unix.EINVAL},
		{"/x/notify_on_release", "0b1", unix.EINVAL},
		{"/x/notify_on_release", "0o1", unix.EINVAL},
		{"/x/notify_on_release", "1_0", unix.EINVAL},
		{"/x/notify_on_release", "99999999999999999999999", unix.ERANGE},
		{"/x/notify_on_release", strings.Repeat("1", 5000), unix.E2BIG},
		{"/cgroup.sane_behavior", "1", unix.EINVAL},
		{"/cgroup.sane_behavior", "", nil},
		{"/cgroup.sane_behavior", strings.Repeat("1", 4097), unix.E2BIG},
		{"/release_agent", strings.Repeat("/", 4095), nil},
		{"/release_agent", strings.Repeat("/", 4096), unix.E2BIG},
		{"/x/release_agent", "/bin/true", unix.ENOENT},
		{"/x/nofile", "1", unix.ENOENT},
		{"/nodir/tasks", "1", unix.ENOENT},
		{"/x", "1", unix.EISDIR},
	} {
		err := h.WriteFileAs(caller, tc.path, []byte(tc.data))
		if tc.want == nil {
			if err != nil {
				t.Errorf("write %q to %s: %v", tc.data, tc.path, err)
			}
			continue
		}
		var pe *fs.PathError
		if !errors.Is(err, tc.want) || !errors.As(err, &pe) {
			t.Errorf("write %q to %s: %v, want %v in a PathError", tc.data, tc.path, err, tc.want)
		}
	}
	if got := must(h.ReadFile("/x/notify_on_release")); string(got) != "0\n" {
		t.Errorf("notify_on_release after the table: %q", got)
	}
	if got := must(h.ReadFile("/x/tasks")); string(got) != "42\n2147483646\n" {
		t.Errorf("x tasks after the table: %q", got)
	}
	// ID 0 without a caller is ESRCH.
	if err := x.WriteFile("tasks", []byte("0")); !errors.Is(err, unix.ESRCH) {
		t.Errorf("write 0 without a caller: %v", err)
	}
}

func TestRemovedContainerFiles(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	x := must(h.Root().Mkdir("x"))
	if err := x.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ReadFile("tasks"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("read through an old handle: %v, want ENODEV", err)
	}
	if err := x.WriteFile("notify_on_release", []byte("1")); !errors.Is(err, unix.ENODEV) {
		t.Errorf("write through an old handle: %v, want ENODEV", err)
	}
}

func TestProcReports(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "cpuset", "cpuacct", "debug", "net_cls")
	hc := must(sys.MountString("cpuset"))         // ID 1
	hn := must(sys.MountString("none,name=jobs")) // ID 2
	ha := must(sys.MountString("cpuacct,debug,name=acct"))
	must(hc.Root().Mkdir("s"))
	c1 := must(must(hc.Lookup("/s")).Mkdir("c1"))
	j := must(hn.Root().Mkdir("j"))
	must(ha.Root().Mkdir("a"))
	task := must(sys.NewTask(9))
	if err := c1.Attach(task); err != nil {
		t.Fatal(err)
	}
	if err := j.Attach(task); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sys.WriteProcCgroups(&b); err != nil {
		t.Fatal(err)
	}
	want := "#subsys_name\thierarchy\tnum_cgroups\tenabled\n" +
		"cpuset\t1\t3\t1\n" +
		"cpuacct\t3\t2\t1\n" +
		"debug\t3\t2\t1\n" +
		"net_cls\t0\t1\t1\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("/proc/cgroups (-want +got):\n%s", diff)
	}
	b.Reset()
	if err := sys.WriteProcCgroup(&b, task); err != nil {
		t.Fatal(err)
	}
	want = "3:cpuacct,debug,name=acct:/\n2:name=jobs:/j\n1:cpuset:/s/c1\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("/proc/PID/cgroup (-want +got):\n%s", diff)
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := sys.WriteProcCgroup(&b, task); err != nil {
		t.Fatal(err)
	}
	want = "3:cpuacct,debug,name=acct:/\n2:name=jobs:/\n1:cpuset:/\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("/proc/PID/cgroup of an exited task (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		opts containers.Options
		want string
	}{
		{containers.Options{Subsystems: []string{"net_cls"}, ReleaseAgent: "/bin/false", Name: "H2"}, "net_cls,release_agent=/bin/false,name=H2"},
	} {
		h := must(sys.Mount(tc.opts))
		if got := h.Options().String(); got != tc.want {
			t.Errorf("options %q, want %q", got, tc.want)
		}
	}
}

// TestNoBreakSpace: the kernel's isspace counts 0xA0 as a space, so a
// tasks write wrapped in it works.
func TestNoBreakSpace(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	x := must(h.Root().Mkdir("x"))
	must(sys.NewTask(7))
	if err := x.WriteFile("tasks", []byte("\xa07\xa0\n")); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile("/release_agent", []byte("\xa0/bin/true\xa0")); err != nil {
		t.Fatal(err)
	}
	if got := must(h.ReadFile("/release_agent")); string(got) != "/bin/true\n" {
		t.Errorf("release_agent %q", got)
	}
}

// TestRmdirWhileReading: a reader of a container's tasks does not keep it
// busy.
func TestRmdirWhileReading(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(7))
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	for id := range x.Tasks() {
		if id != 7 {
			t.Fatalf("task %d", id)
		}
		if err := h.Root().Attach(task); err != nil {
			t.Fatal(err)
		}
		if err := x.Rmdir(); err != nil {
			t.Fatalf("rmdir while reading: %v", err)
		}
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
