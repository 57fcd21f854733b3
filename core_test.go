package containers_test

import (
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// must returns v, or panics with err: for set-up steps that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAttachSequence(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	h := must(sys.Mount(containers.Options{Subsystems: []string{"a", "b"}}))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(10))
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	recs[1].failOn("can_attach", unix.ENOSPC)
	y := must(h.Root().Mkdir("y"))
	err := y.Attach(task)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("attach: %v, want ENOSPC", err)
	}
	var se *containers.SubsystemError
	if !errors.As(err, &se) || se.Subsystem != "b" {
		t.Fatalf("attach error %v does not name b", err)
	}
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a.bind 1", "b.bind 1",
		"a.create /x", "b.create /x",
		"a.fork 10", "b.fork 10",
		"a.can_attach /x 10</", "b.can_attach /x 10</",
		"a.attach /x 10</", "b.attach /x 10</",
		"a.create /y", "b.create /y",
		"a.can_attach /y 10</x", "b.can_attach /y 10</x", "a.cancel_attach /y 10</x",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}
	if got := slices.Collect(x.Tasks()); !slices.Equal(got, []containers.TaskID{10}) {
		t.Errorf("x tasks = %v", got)
	}
	if err := x.Rmdir(); !errors.Is(err, unix.EBUSY) {
		t.Errorf("rmdir busy: %v", err)
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	if err := x.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Lookup("/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup removed: %v", err)
	}
}

func TestInvariantsAfterSequence(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	h1 := must(sys.MountString("a,b"))
	h2 := must(sys.MountString("none,name=n"))
	x := must(h1.Root().Mkdir("x"))
	y := must(h2.Root().Mkdir("y"))
	p := must(sys.NewTask(1))
	c := must(sys.Fork(p, 2))
	th := must(sys.ForkThread(c, 3))
	if err := x.AttachProcess(th); err != nil {
		t.Fatal(err)
	}
	if err := y.Attach(c); err != nil {
		t.Fatal(err)
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(x.Tasks()); !slices.Equal(got, []containers.TaskID{2, 3}) {
		t.Errorf("x tasks %v", got)
	}
	if got := must(x.ReadFile("cgroup.procs")); string(got) != "2\n" {
		t.Errorf("x procs %q", got)
	}
	for _, task := range []*containers.Task{th, c, p} {
		if err := sys.Exit(task); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if n := sys.GroupCount(); n != 1 {
		t.Errorf("%d groups left, want the default only", n)
	}
	for _, k := range []*containers.Container{x, y} {
		if err := k.Rmdir(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		if n := r.liveStates(); n != 0 {
			t.Errorf("%s: %d states not destroyed", r.name, n)
		}
	}
}

type namedFiles struct {
	name  string
	files []containers.File
}

type plainState struct{ containers.CSS }

func (n *namedFiles) Name() string { return n.name }
func (n *namedFiles) Create(*containers.Container) (containers.State, error) {
	return &plainState{}, nil
}
func (n *namedFiles) Destroy(*containers.Container, containers.State) {}
func (n *namedFiles) Files() []containers.File                        { return n.files }

// TestFileNameClashesCoreFile: a subsystem named "cgroup" cannot shadow
// cgroup.procs with a file "procs".
func TestFileNameClashesCoreFile(t *testing.T) {
	ss := &namedFiles{name: "cgroup", files: []containers.File{{
		Name: "procs", ReadUint: func(*containers.FileContext) uint64 { return 42 },
	}}}
	if _, err := containers.New([]containers.Subsystem{ss}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("New with a file shadowing cgroup.procs: %v, want EINVAL", err)
	}
}

// TestForeignHierarchy: a hierarchy of another System has no container of
// a task.
func TestForeignHierarchy(t *testing.T) {
	var log callLog
	sys1, _ := newSystem(t, &log, "a", "b")
	sys2, _ := newSystem(t, &log)
	h1 := must(sys1.MountString("b"))
	task := must(sys2.NewTask(1))
	if c := task.Container(h1); c != nil {
		t.Errorf("container in a foreign hierarchy: %v", c)
	}
}
