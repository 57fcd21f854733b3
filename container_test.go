package containers_test

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

func TestMkdirNames(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	h := must(sys.MountString("a"))
	must(h.Root().Mkdir("taken"))
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"", unix.EINVAL},
		{"a/b", unix.EINVAL},
		{"/", unix.EINVAL},
		{"a\x00b", unix.EINVAL},
		{"a\nb", unix.EINVAL},
		{"\n", unix.EINVAL},
		{".", unix.EEXIST},
		{"..", unix.EEXIST},
		{"tasks", unix.EEXIST},
		{"cgroup.procs", unix.EEXIST},
		{"notify_on_release", unix.EEXIST},
		{"cgroup.clone_children", unix.EEXIST},
		{"release_agent", unix.EEXIST},
		{"cgroup.sane_behavior", unix.EEXIST},
		{"a.path", unix.EEXIST},
		{"taken", unix.EEXIST},
		{strings.Repeat("x", 256), unix.ENAMETOOLONG},
		{strings.Repeat("x", 4096), unix.ENAMETOOLONG},
		{strings.Repeat("x", 255), nil},
		{"b.path", nil}, // b is not bound here
		{"with spaces", nil},
		{"...", nil},
		{"ünï", nil},
	} {
		log.take()
		c, err := h.Root().Mkdir(tc.name)
		checkErrno(t, fmt.Sprintf("mkdir %q", tc.name), err, tc.err)
		if tc.err != nil {
			if c != nil {
				t.Errorf("mkdir %q failed but returned %v", tc.name, c)
			}
			checkLog(t, fmt.Sprintf("mkdir %q", tc.name), &log, nil)
			continue
		}
		if c == nil || c.Name() != tc.name || must(h.Lookup("/"+tc.name)) != c {
			t.Errorf("mkdir %q made %v", tc.name, c)
		}
	}
	// Root-only files are not in a child: a child may have a child named
	// release_agent (spec §3.2).
	x := must(h.Root().Mkdir("x"))
	for _, name := range []string{"release_agent", "cgroup.sane_behavior"} {
		if _, err := x.Mkdir(name); err != nil {
			t.Errorf("mkdir %s in a child: %v", name, err)
		}
	}
	_, err := x.Mkdir("tasks")
	checkErrno(t, "mkdir tasks in a child", err, unix.EEXIST)
	// With noprefix, the subsystem's bare file names are taken.
	var log2 callLog
	sys2, _ := newSystem(t, &log2, "cpuset")
	n := must(sys2.MountString("cpuset,noprefix"))
	_, err = n.Root().Mkdir("path")
	checkErrno(t, "mkdir over a noprefix file", err, unix.EEXIST)
	must(n.Root().Mkdir("cpuset.path"))
	// Children are listed sorted by name.
	var names []string
	for _, c := range x.Children() {
		names = append(names, c.Name())
	}
	if !slices.Equal(names, []string{"cgroup.sane_behavior", "release_agent"}) {
		t.Errorf("children %v", names)
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
	checkClean(t, sys, recs[:1], 9)
}

func TestMkdirInheritsFlags(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a,clone_children"))
	x := must(h.Root().Mkdir("x"))
	if !x.CloneChildren() || x.NotifyOnRelease() {
		t.Errorf("x: clone_children %v notify %v, want true false", x.CloneChildren(), x.NotifyOnRelease())
	}
	checkErrno(t, "set notify", x.WriteFile("notify_on_release", []byte("1")), nil)
	checkErrno(t, "clear clone_children", x.WriteFile("cgroup.clone_children", []byte("0\n")), nil)
	y := must(x.Mkdir("y"))
	if y.CloneChildren() || !y.NotifyOnRelease() {
		t.Errorf("y: clone_children %v notify %v, want false true", y.CloneChildren(), y.NotifyOnRelease())
	}
	for file, want := range map[string]string{"notify_on_release": "1\n", "cgroup.clone_children": "0\n"} {
		if got := string(must(y.ReadFile(file))); got != want {
			t.Errorf("y %s = %q, want %q", file, got, want)
		}
	}
	// Changing the parent later does not change the child.
	checkErrno(t, "clear notify", x.WriteFile("notify_on_release", []byte("0")), nil)
	if !y.NotifyOnRelease() {
		t.Errorf("y lost notify_on_release when x cleared it")
	}
	// A root starts with notify_on_release 0, whatever was inherited before.
	n := must(sys.MountString("none,name=n"))
	if n.Root().NotifyOnRelease() || n.Root().CloneChildren() {
		t.Errorf("a new root has flags set")
	}
}

// TestRename checks the table of spec §2.6.
func TestRename(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	a := must(h.Root().Mkdir("a"))
	must(h.Root().Mkdir("b"))
	ac := must(a.Mkdir("c"))
	task := must(sys.NewTask(1))
	checkErrno(t, "attach", ac.Attach(task), nil)
	log.take()
	for _, tc := range []struct {
		old, new string
		err      error
	}{
		{"/tasks", "/t2", unix.ENOTDIR},
		{"/a/tasks", "/a/t2", unix.ENOTDIR},
		{"/a", "/b", unix.EEXIST},
		{"/a", "/tasks", unix.ENOTDIR},
		{"/a", "/a.path", unix.ENOTDIR},
		{"/a/c", "/c", unix.EIO},
		{"/a", "/b/a", unix.EIO},
		{"/a", "/x\ny", unix.EINVAL},
		{"/a", "/" + strings.Repeat("x", 256), unix.ENAMETOOLONG},
		{"/nope", "/q", unix.ENOENT},
		{"/nope/a", "/nope/b", unix.ENOENT},
		{"/", "/q", unix.EBUSY},
		{"/a", "/a", nil},
		{"/a/c", "/a/c", nil},
		// Where several rules apply, the kernel's order (checked on a
		// live hierarchy).
		{"/a/c", "/x\ny", unix.EINVAL},
		{"/a", "/b/x\ny", unix.EINVAL},
		{"/tasks", "/x\ny", unix.EINVAL},
		{"/a/c", "/tasks", unix.ENOTDIR},
		{"/a/c", "/b", unix.EIO},
		{"/tasks", "/b/x", unix.ENOTDIR},
		{"/tasks", "/notify_on_release", unix.ENOTDIR},
		{"/tasks", "/b", unix.EISDIR},
		{"/a", "/.", unix.EBUSY},
		{"/a", "/..", unix.EBUSY},
		{"/a/..", "/z", unix.EBUSY},
		{"/a", "/a/c", unix.EINVAL},
		{"/a", "/a/c/z", unix.EINVAL},
		{"/a/c", "/a", unix.ENOTEMPTY},
		{"/a", "/tasks/x", unix.ENOTDIR},
		{"/a", "/nope/x", unix.ENOENT},
	} {
		err := h.Rename(tc.old, tc.new)
		checkErrno(t, fmt.Sprintf("rename %q %q", tc.old, tc.new), err, tc.err)
		if must(h.Lookup("/a")) != a || must(h.Lookup("/a/c")) != ac {
			t.Fatalf("rename %q %q changed the tree", tc.old, tc.new)
		}
	}
	// A populated container can be renamed; paths follow at once.
	checkErrno(t, "rename /a /z", h.Rename("/a", "/z"), nil)
	if a.Name() != "z" || ac.Path() != "/z/c" || task.Container(h).Path() != "/z/c" {
		t.Errorf("after rename: %v, %v, task in %v", a, ac, task.Container(h))
	}
	if _, err := h.Lookup("/a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old name still found: %v", err)
	}
	var names []string
	for _, c := range h.Root().Children() {
		names = append(names, c.Name())
	}
	if !slices.Equal(names, []string{"b", "z"}) {
		t.Errorf("root children %v, want [b z] sorted", names)
	}
	checkErrno(t, "rename /z/c /z/d", h.Rename("/z/c", "/z/d"), nil)
	if got := string(must(must(h.Lookup("/z/d")).ReadFile("tasks"))); got != "1\n" {
		t.Errorf("tasks of the renamed container %q", got)
	}
	checkLog(t, "renames", &log, nil)
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

func TestErrorsIs(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	_, err := h.Lookup("/missing")
	if !errors.Is(err, unix.ENOENT) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup: %v is not ENOENT and fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "lookup" || pe.Path != "/missing" {
		t.Errorf("lookup error %#v", err)
	}
	must(h.Root().Mkdir("x"))
	_, err = h.Root().Mkdir("x")
	if !errors.Is(err, unix.EEXIST) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("mkdir: %v is not EEXIST and fs.ErrExist", err)
	}
	if !errors.As(err, &pe) || pe.Op != "mkdir" || pe.Path != "/x" {
		t.Errorf("mkdir error %#v", err)
	}
	_, err = h.Lookup("/tasks/x")
	checkErrno(t, "lookup through a file", err, unix.ENOTDIR)
	_, err = h.Lookup("relative")
	checkErrno(t, "relative lookup", err, unix.ENOENT)
	if c, err := h.Lookup("/x/../x/./"); err != nil || c.Path() != "/x" {
		t.Errorf("lookup with dots: %v, %v", c, err)
	}
	_, err = h.Root().Child("nope")
	checkErrno(t, "Child", err, fs.ErrNotExist)
	// After Close every mutating call gives ErrClosed.
	task := must(sys.NewTask(1))
	checkErrno(t, "close", sys.Close(t.Context()), nil)
	_, err = h.Root().Mkdir("y")
	checkErrno(t, "mkdir after close", err, containers.ErrClosed)
	_, err = sys.NewTask(2)
	checkErrno(t, "NewTask after close", err, containers.ErrClosed)
	_, err = sys.MountString("a")
	checkErrno(t, "mount after close", err, containers.ErrClosed)
	checkErrno(t, "attach after close", h.Root().Attach(task), containers.ErrClosed)
	if _, err := h.Lookup("/x"); err != nil {
		t.Errorf("lookup after close: %v", err)
	}
}

// oddSubsystem is a Subsystem value that is not comparable: it holds a
// slice.
type oddSubsystem struct{ names []string }

func (o oddSubsystem) Name() string { return "odd" + strings.Join(o.names, "") }
func (o oddSubsystem) Create(*containers.Container) (containers.State, error) {
	return &probeState{}, nil
}
func (o oddSubsystem) Destroy(*containers.Container, containers.State) {}

// stateSubsystem returns what its create field says.
type stateSubsystem struct {
	name   string
	create func() (containers.State, error)
}

func (s *stateSubsystem) Name() string { return s.name }
func (s *stateSubsystem) Create(*containers.Container) (containers.State, error) {
	return s.create()
}
func (s *stateSubsystem) Destroy(*containers.Container, containers.State) {}

// fileSubsystem has the files its field says.
type fileSubsystem struct{ files []containers.File }

func (f *fileSubsystem) Name() string { return "files" }
func (f *fileSubsystem) Create(*containers.Container) (containers.State, error) {
	return &probeState{}, nil
}
func (f *fileSubsystem) Destroy(*containers.Container, containers.State) {}
func (f *fileSubsystem) Files() []containers.File                        { return f.files }

func TestNewValidation(t *testing.T) {
	var log callLog
	rec := func(name string) containers.Subsystem { return newRecorder(name, &log) }
	var many []containers.Subsystem
	for i := range containers.MaxSubsystems + 1 {
		many = append(many, rec(fmt.Sprintf("s%d", i)))
	}
	read := func(*containers.FileContext) uint64 { return 0 }
	shared := &probeState{}
	for _, tc := range []struct {
		name string
		ss   []containers.Subsystem
	}{
		{"nil", []containers.Subsystem{rec("a"), nil}},
		{"nil pointer", []containers.Subsystem{(*recorder)(nil)}},
		{"not comparable", []containers.Subsystem{oddSubsystem{}}},
		{"duplicate", []containers.Subsystem{rec("a"), rec("b"), rec("a")}},
		{"empty name", []containers.Subsystem{rec("")}},
		{"upper case", []containers.Subsystem{rec("Cpu")}},
		{"dash", []containers.Subsystem{rec("a-b")}},
		{"dot", []containers.Subsystem{rec("a.b")}},
		{"too long", []containers.Subsystem{rec(strings.Repeat("a", 33))}},
		{"too many", many},
		{"nil state", []containers.Subsystem{&stateSubsystem{"s", func() (containers.State, error) { return nil, nil }}}},
		{"nil pointer state", []containers.Subsystem{&stateSubsystem{"s", func() (containers.State, error) { return (*probeState)(nil), nil }}}},
		{"shared state", []containers.Subsystem{
			&stateSubsystem{"s", func() (containers.State, error) { return shared, nil }},
			&stateSubsystem{"t", func() (containers.State, error) { return shared, nil }},
		}},
		{"file without a reader", []containers.Subsystem{&fileSubsystem{[]containers.File{{Name: "x"}}}}},
		{"file with two readers", []containers.Subsystem{&fileSubsystem{[]containers.File{{Name: "x", ReadUint: read, ReadInt: func(*containers.FileContext) int64 { return 0 }}}}}},
		{"file named like a core file", []containers.Subsystem{&fileSubsystem{[]containers.File{{Name: "tasks", ReadUint: read}}}}},
		{"file name with a slash", []containers.Subsystem{&fileSubsystem{[]containers.File{{Name: "a/b", ReadUint: read}}}}},
		{"duplicate file", []containers.Subsystem{&fileSubsystem{[]containers.File{{Name: "x", ReadUint: read}, {Name: "x", ReadUint: read}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, err := containers.New(tc.ss)
			if sys != nil {
				sys.Close(t.Context())
				t.Fatalf("New accepted %s", tc.name)
			}
			checkErrno(t, "New", err, unix.EINVAL)
		})
	}
	// A root Create that fails fails New with its error.
	_, err := containers.New([]containers.Subsystem{&stateSubsystem{"s", func() (containers.State, error) { return nil, unix.ENOMEM }}})
	checkErrno(t, "New with a failing Create", err, unix.ENOMEM)
	var se *containers.SubsystemError
	if !errors.As(err, &se) || se.Subsystem != "s" {
		t.Errorf("error %v does not name s", err)
	}
	// The limits themselves are fine.
	sys := must(containers.New(many[:containers.MaxSubsystems], nil, containers.WithLogger(nil)))
	defer sys.Close(t.Context())
	must(sys.MountString("all"))
	sys0 := must(containers.New(nil))
	defer sys0.Close(t.Context())
	_, err = sys0.MountString("")
	checkErrno(t, "mount all of nothing", err, unix.EINVAL)
	must(sys0.MountString("none,name=n"))
	log.take()
}

// TestCreateBadState checks that a Create returning an unusable state
// fails the mkdir with EINVAL and leaves nothing, instead of panicking.
func TestCreateBadState(t *testing.T) {
	var log callLog
	a := newRecorder("a", &log)
	var next func() (containers.State, error)
	root := &probeState{}
	s := &stateSubsystem{"s", func() (containers.State, error) {
		if next == nil {
			return root, nil
		}
		return next()
	}}
	sys := must(containers.New([]containers.Subsystem{a, s}))
	defer sys.Close(t.Context())
	h := must(sys.MountString("a,s"))
	log.take()
	for name, st := range map[string]func() (containers.State, error){
		"nil":         func() (containers.State, error) { return nil, nil },
		"nil pointer": func() (containers.State, error) { return (*probeState)(nil), nil },
		"root state":  func() (containers.State, error) { return root, nil },
	} {
		next = st
		_, err := h.Root().Mkdir("x")
		checkErrno(t, "mkdir with a "+name+" state", err, unix.EINVAL)
		checkLog(t, "mkdir with a "+name+" state", &log, []string{"a.create /x", "a.destroy /x"})
	}
	next = func() (containers.State, error) { return &probeState{}, nil }
	must(h.Root().Mkdir("x"))
	checkClean(t, sys, []*recorder{a}, 1)
}
