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

// checkErrno fails t unless err wraps want (nil for success) inside an
// *fs.PathError, as every failing operation of the library returns.
func checkErrno(t testing.TB, what string, err error, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
		return
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Errorf("%s: %v (%T) is not an *fs.PathError", what, err, err)
	}
}

// checkLog compares the callbacks logged since the last take with want.
func checkLog(t testing.TB, what string, log *callLog, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("%s: callbacks (-want +got):\n%s", what, diff)
	}
}

// checkClean fails t if the invariants do not hold or a recorder has a
// state that was created and not destroyed beyond want.
func checkClean(t testing.TB, sys *containers.System, recs []*recorder, want int) {
	t.Helper()
	if err := sys.CheckInvariants(); err != nil {
		t.Errorf("invariants: %v", err)
	}
	for _, r := range recs {
		if n := r.liveStates(); n != want {
			t.Errorf("%s: %d live states, want %d", r.name, n, want)
		}
	}
}

func taskIDs(c *containers.Container) []containers.TaskID {
	return slices.Sorted(c.Tasks())
}

func TestNewCreatesRootStates(t *testing.T) {
	var log callLog
	a, b := newRecorder("a", &log), newRecorder("b", &log)
	sys, err := containers.New([]containers.Subsystem{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	checkLog(t, "New", &log, []string{"a.create (dummy)", "b.create (dummy)"})
	if got := sys.Subsystems(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Subsystems() = %v", got)
	}
	if hs := sys.Hierarchies(); len(hs) != 0 {
		t.Errorf("a new System has hierarchies %v", hs)
	}
	if n := sys.GroupCount(); n != 1 {
		t.Errorf("GroupCount() = %d, want the default group only", n)
	}
	// Root states are never destroyed: closing the System destroys nothing.
	if err := sys.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "Close", &log, nil)
}

func TestMountRemountUnmountBind(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	task := must(sys.NewTask(1))
	log.take()
	h := must(sys.MountString("a,b"))
	checkLog(t, "mount a,b", &log, []string{"a.bind 1", "b.bind 1"})
	if got := h.Subsystems(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Subsystems() = %v", got)
	}
	// The root states moved: the task's state of a is the one in h's root.
	if task.State(recs[0]) != h.Root().State(recs[0]) || h.Root().State(recs[0]) == nil {
		t.Errorf("a's root state did not move into the new root")
	}
	if h.Root().State(recs[2]) != nil {
		t.Errorf("c's state is in a hierarchy it is not bound to")
	}

	checkErrno(t, "remount add c", h.Remount(containers.Options{Subsystems: []string{"a", "b", "c"}}), nil)
	checkLog(t, "remount add c", &log, []string{"c.bind 1"})
	checkErrno(t, "remount drop a", h.Remount(containers.Options{Subsystems: []string{"b", "c"}}), nil)
	checkLog(t, "remount drop a", &log, []string{"a.bind 0"})
	checkErrno(t, "remount swap", h.Remount(containers.Options{Subsystems: []string{"a", "c"}}), nil)
	checkLog(t, "remount swap b for a", &log, []string{"a.bind 1", "b.bind 0"})
	checkErrno(t, "remount same", h.Remount(containers.Options{Subsystems: []string{"a", "c"}}), nil)
	checkLog(t, "remount unchanged", &log, nil)

	checkErrno(t, "unmount", h.Unmount(), nil)
	checkLog(t, "unmount", &log, []string{"a.bind 0", "c.bind 0"})
	if h.Alive() {
		t.Errorf("hierarchy alive after its only unmount")
	}
	if got := task.Container(h); got != h.Root() {
		t.Errorf("task in %v of a destroyed hierarchy, want its root", got)
	}
	// The same root state comes back at the next mount.
	st := task.State(recs[0])
	h2 := must(sys.MountString("a"))
	checkLog(t, "mount a", &log, []string{"a.bind 2"})
	if h2.Root().State(recs[0]) != st {
		t.Errorf("root state of a changed across unmount and mount")
	}
	checkClean(t, sys, recs, 0)
}

func TestMkdirRmdirSequence(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	h := must(sys.MountString("a,c"))
	log.take()
	x := must(h.Root().Mkdir("x"))
	y := must(x.Mkdir("y"))
	checkLog(t, "mkdir", &log, []string{"a.create /x", "c.create /x", "a.create /x/y", "c.create /x/y"})
	checkErrno(t, "rmdir with a child", x.Rmdir(), unix.EBUSY)
	checkErrno(t, "rmdir root", h.Root().Rmdir(), unix.EBUSY)
	checkErrno(t, "rmdir y", y.Rmdir(), nil)
	checkErrno(t, "rmdir y again", y.Rmdir(), unix.ENOENT)
	checkErrno(t, "rmdir x", x.Rmdir(), nil)
	checkLog(t, "rmdir", &log, []string{"a.destroy /x/y", "c.destroy /x/y", "a.destroy /x", "c.destroy /x"})
	if !x.Removed() || !y.Removed() {
		t.Errorf("removed containers do not say so")
	}
	checkErrno(t, "mkdir in removed", func() error { _, err := x.Mkdir("z"); return err }(), unix.ENOENT)
	checkLog(t, "mkdir in a removed container", &log, nil)
	checkClean(t, sys, recs, 0)
}

func TestMkdirCreateFailureRollsBack(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	h := must(sys.MountString("a,b,c"))
	x := must(h.Root().Mkdir("x"))
	log.take()
	groups := sys.GroupCount()

	recs[1].failOn("create", unix.ENOMEM)
	_, err := x.Mkdir("y")
	checkErrno(t, "mkdir with b failing", err, unix.ENOMEM)
	var se *containers.SubsystemError
	if !errors.As(err, &se) || se.Subsystem != "b" || se.Op != "create" {
		t.Errorf("error %v does not name b's create", err)
	}
	checkLog(t, "failed mkdir", &log, []string{"a.create /x/y", "b.create /x/y", "a.destroy /x/y"})
	if kids := x.Children(); len(kids) != 0 {
		t.Errorf("failed mkdir left children %v", kids)
	}
	if _, err := h.Lookup("/x/y"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup after failed mkdir: %v", err)
	}
	if n := sys.GroupCount(); n != groups {
		t.Errorf("GroupCount %d after a failed mkdir, was %d", n, groups)
	}
	checkClean(t, sys, recs, 1) // x only

	// The first subsystem failing leaves no callback to undo.
	recs[1].failOn("create", nil)
	recs[0].failOn("create", unix.EPERM)
	_, err = x.Mkdir("y")
	checkErrno(t, "mkdir with a failing", err, unix.EPERM)
	checkLog(t, "failed mkdir", &log, []string{"a.create /x/y"})

	// The last one failing undoes the others in reverse order.
	recs[0].failOn("create", nil)
	recs[2].failOn("create", unix.ENOSPC)
	_, err = x.Mkdir("y")
	checkErrno(t, "mkdir with c failing", err, unix.ENOSPC)
	checkLog(t, "failed mkdir", &log, []string{
		"a.create /x/y", "b.create /x/y", "c.create /x/y", "b.destroy /x/y", "a.destroy /x/y",
	})
	recs[2].failOn("create", nil)
	// The name is free again.
	must(x.Mkdir("y"))
	checkLog(t, "mkdir", &log, []string{"a.create /x/y", "b.create /x/y", "c.create /x/y"})
	checkClean(t, sys, recs, 2)
}

// TestRmdirBusy shows each reason rmdir gives EBUSY: tasks, children, a
// referenced state, the root, and that none of them calls Destroy.
func TestRmdirBusy(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	h := must(sys.MountString("a,b"))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(5))
	checkErrno(t, "attach", x.Attach(task), nil)
	log.take()
	checkErrno(t, "rmdir with a task", x.Rmdir(), unix.EBUSY)
	checkErrno(t, "exit", sys.Exit(task), nil)
	log.take()

	st := x.State(recs[1]).(*recState)
	st.Get()
	if n := st.Refs(); n != 1 {
		t.Errorf("Refs() = %d after Get", n)
	}
	checkErrno(t, "rmdir with a reference on b's state", x.Rmdir(), unix.EBUSY)
	// The failed rmdir must not have left a's state dead.
	sa := x.State(recs[0]).(*recState)
	if !sa.TryGet() {
		t.Fatalf("TryGet on a's state fails after a refused rmdir")
	}
	sa.Put()
	st.Put()
	checkLog(t, "refused rmdirs", &log, nil)

	// The root state is never counted.
	rs := h.Root().State(recs[0]).(*recState)
	rs.Get()
	if n := rs.Refs(); n != 0 {
		t.Errorf("root state Refs() = %d", n)
	}
	rs.Put()
	checkErrno(t, "rmdir root", h.Root().Rmdir(), unix.EBUSY)

	checkErrno(t, "rmdir", x.Rmdir(), nil)
	checkLog(t, "rmdir", &log, []string{"a.destroy /x", "b.destroy /x"})
	if st.TryGet() {
		t.Errorf("TryGet succeeds on the state of a removed container")
	}
	checkClean(t, sys, recs, 0)
}

func TestForkCallbacks(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	// Fork callbacks run for every subsystem, mounted or not, in ID order.
	p := must(sys.NewTask(1))
	checkLog(t, "NewTask unmounted", &log, []string{"a.fork 1", "b.fork 1", "c.fork 1"})
	h := must(sys.MountString("b"))
	x := must(h.Root().Mkdir("x"))
	checkErrno(t, "attach", x.Attach(p), nil)
	log.take()
	c := must(sys.Fork(p, 2))
	checkLog(t, "Fork", &log, []string{"a.fork 2", "b.fork 2", "c.fork 2"})
	th := must(sys.ForkThread(c, 3))
	checkLog(t, "ForkThread", &log, []string{"a.fork 3", "b.fork 3", "c.fork 3"})
	for _, k := range []*containers.Task{c, th} {
		if k.Container(h) != x {
			t.Errorf("task %v in %v, want its parent's /x", k, k.Container(h))
		}
	}
	if c.TGID() != 2 || th.TGID() != 2 || p.TGID() != 1 {
		t.Errorf("TGIDs %d %d %d, want 1 2 2", p.TGID(), c.TGID(), th.TGID())
	}
	if got := taskIDs(x); !slices.Equal(got, []containers.TaskID{1, 2, 3}) {
		t.Errorf("x tasks %v", got)
	}
	// Moving the parent afterwards does not move the child.
	checkErrno(t, "attach back", h.Root().Attach(p), nil)
	if c.Container(h) != x {
		t.Errorf("moving the parent moved the child")
	}
	log.take()
	// A failed fork calls nothing.
	_, err := sys.Fork(p, 2)
	checkErrno(t, "fork with an ID in use", err, unix.EEXIST)
	checkErrno(t, "exit", sys.Exit(p), nil)
	log.take()
	_, err = sys.Fork(p, 9)
	checkErrno(t, "fork of an exited parent", err, unix.ESRCH)
	_, err = sys.ForkThread(p, 9)
	checkErrno(t, "fork thread of an exited parent", err, unix.ESRCH)
	checkLog(t, "failed forks", &log, nil)
	if _, err := sys.Task(9); !errors.Is(err, unix.ESRCH) {
		t.Errorf("failed fork left task 9: %v", err)
	}
	checkClean(t, sys, recs[1:2], 1) // b's /x
}

// exitProbe is a subsystem whose Exit callback records where the exiting
// task is while the callback runs.
type exitProbe struct {
	h    *containers.Hierarchy
	seen []string
}

type probeState struct{ containers.CSS }

func (p *exitProbe) Name() string { return "probe" }
func (p *exitProbe) Create(*containers.Container) (containers.State, error) {
	return &probeState{}, nil
}
func (p *exitProbe) Destroy(*containers.Container, containers.State) {}
func (p *exitProbe) Exit(t *containers.Task) {
	p.seen = append(p.seen, t.Container(p.h).Path())
}

func TestExitCallbacks(t *testing.T) {
	var log callLog
	a, b := newRecorder("a", &log), newRecorder("b", &log)
	probe := &exitProbe{}
	sys := must(containers.New([]containers.Subsystem{a, probe, b}))
	defer sys.Close(t.Context())
	h := must(sys.MountString("a,probe"))
	probe.h = h
	named := must(sys.MountString("none,name=n"))
	x := must(h.Root().Mkdir("x"))
	y := must(named.Root().Mkdir("y"))
	task := must(sys.NewTask(7))
	other := must(sys.NewTask(8))
	checkErrno(t, "attach x", x.Attach(task), nil)
	checkErrno(t, "attach y", y.Attach(task), nil)
	checkErrno(t, "attach other", x.Attach(other), nil)
	log.take()

	checkErrno(t, "exit", sys.Exit(task), nil)
	checkLog(t, "exit", &log, []string{"a.exit 7", "b.exit 7"})
	if !slices.Equal(probe.seen, []string{"/x"}) {
		t.Errorf("during Exit the task was in %v, want /x", probe.seen)
	}
	if !task.Exited() {
		t.Errorf("Exited() false after Exit")
	}
	// The task leaves at once and shows the root everywhere.
	for _, hh := range []*containers.Hierarchy{h, named} {
		if got := task.Container(hh); got != hh.Root() {
			t.Errorf("exited task in %v of %v, want the root", got, hh)
		}
	}
	if got := taskIDs(x); !slices.Equal(got, []containers.TaskID{8}) {
		t.Errorf("x tasks %v after exit", got)
	}
	if got := taskIDs(y); len(got) != 0 {
		t.Errorf("y tasks %v after exit", got)
	}
	if got := taskIDs(named.Root()); !slices.Equal(got, []containers.TaskID{8}) {
		t.Errorf("root tasks %v: an exited task is not listed", got)
	}
	if task.State(a) != h.Root().State(a) {
		t.Errorf("exited task's state is not the root state")
	}
	if _, err := sys.Task(7); !errors.Is(err, unix.ESRCH) {
		t.Errorf("Task(7) after exit: %v", err)
	}
	checkErrno(t, "exit twice", sys.Exit(task), unix.ESRCH)
	checkErrno(t, "attach exited", x.Attach(task), unix.ESRCH)
	checkErrno(t, "exit nil", sys.Exit(nil), unix.ESRCH)
	checkLog(t, "refused", &log, nil)
	// The container of an exited task can go.
	checkErrno(t, "rmdir y", y.Rmdir(), nil)
	// The ID is free for a new task.
	again := must(sys.NewTask(7))
	if again == task || again.Container(h) != h.Root() {
		t.Errorf("a new task 7 is not a new task in the root")
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

func TestTaskIDErrors(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	other, _ := newSystem(t, &log, "a")
	p := must(sys.NewTask(1))
	_, err := sys.NewTask(1)
	checkErrno(t, "NewTask duplicate", err, unix.EEXIST)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("EEXIST is not fs.ErrExist: %v", err)
	}
	for _, id := range []containers.TaskID{0, -1} {
		_, err = sys.NewTask(id)
		checkErrno(t, "NewTask bad ID", err, unix.EINVAL)
		_, err = sys.Fork(p, id)
		checkErrno(t, "Fork bad ID", err, unix.EINVAL)
	}
	_, err = sys.Task(2)
	checkErrno(t, "Task unknown", err, unix.ESRCH)
	if got, err := sys.Task(1); got != p || err != nil {
		t.Errorf("Task(1) = %v, %v", got, err)
	}
	// A task of another System is not one of ours.
	q := must(other.NewTask(5))
	_, err = sys.Fork(q, 6)
	checkErrno(t, "Fork of a foreign parent", err, unix.EINVAL)
	checkErrno(t, "Exit of a foreign task", sys.Exit(q), unix.ESRCH)
	h := must(sys.MountString("a"))
	checkErrno(t, "Attach of a foreign task", h.Root().Attach(q), unix.ESRCH)
	// No parent at all.
	_, err = sys.Fork(nil, 7)
	checkErrno(t, "Fork without a parent", err, unix.ESRCH)
	_, err = sys.ForkThread(nil, 8)
	checkErrno(t, "ForkThread without a parent", err, unix.ESRCH)
	if n := sys.LiveTasks(); n != 1 {
		t.Errorf("%d live tasks, want 1", n)
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}
