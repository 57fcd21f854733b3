package containers_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

func TestAttachCallbacksInOrder(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	h := must(sys.MountString("a,b,c"))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(4))
	log.take()
	checkErrno(t, "attach", x.Attach(task), nil)
	checkLog(t, "attach", &log, []string{
		"a.can_attach /x 4</", "b.can_attach /x 4</", "c.can_attach /x 4</",
		"a.attach /x 4</", "b.attach /x 4</", "c.attach /x 4</",
	})
	// Already there: success, no callback.
	checkErrno(t, "attach again", x.Attach(task), nil)
	checkLog(t, "attach to the same container", &log, nil)
	checkErrno(t, "attach back", h.Root().Attach(task), nil)
	checkLog(t, "attach to the root", &log, []string{
		"a.can_attach / 4</x", "b.can_attach / 4</x", "c.can_attach / 4</x",
		"a.attach / 4</x", "b.attach / 4</x", "c.attach / 4</x",
	})
	checkClean(t, sys, recs, 1)
}

func TestAttachRefusal(t *testing.T) {
	for _, tc := range []struct {
		refuser int
		want    []string
	}{
		{0, []string{"a.can_attach /y 4</x"}},
		{1, []string{"a.can_attach /y 4</x", "b.can_attach /y 4</x", "a.cancel_attach /y 4</x"}},
		{2, []string{
			"a.can_attach /y 4</x", "b.can_attach /y 4</x", "c.can_attach /y 4</x",
			"b.cancel_attach /y 4</x", "a.cancel_attach /y 4</x",
		}},
	} {
		var log callLog
		sys, recs := newSystem(t, &log, "a", "b", "c")
		h := must(sys.MountString("a,b,c"))
		named := must(sys.MountString("none,name=n"))
		x := must(h.Root().Mkdir("x"))
		y := must(h.Root().Mkdir("y"))
		z := must(named.Root().Mkdir("z"))
		task := must(sys.NewTask(4))
		checkErrno(t, "attach x", x.Attach(task), nil)
		checkErrno(t, "attach z", z.Attach(task), nil)
		before := task.Group()
		groups := sys.GroupCount()
		log.take()

		name := recs[tc.refuser].name
		recs[tc.refuser].failOn("can_attach", unix.ENOSPC)
		err := y.Attach(task)
		checkErrno(t, name+" refuses", err, unix.ENOSPC)
		var se *containers.SubsystemError
		if !errors.As(err, &se) || se.Subsystem != name || se.Op != "can_attach" {
			t.Errorf("%s refuses: error %v does not name it", name, err)
		}
		checkLog(t, name+" refuses", &log, tc.want)
		// Nothing changed.
		if task.Container(h) != x || task.Container(named) != z {
			t.Errorf("%s refuses: task moved to %v, %v", name, task.Container(h), task.Container(named))
		}
		if got := task.Group(); got.ID != before.ID || got.Refs != before.Refs {
			t.Errorf("%s refuses: group %+v, was %+v", name, got, before)
		}
		if n := sys.GroupCount(); n != groups {
			t.Errorf("%s refuses: %d groups, was %d", name, n, groups)
		}
		if got := taskIDs(y); len(got) != 0 {
			t.Errorf("%s refuses: y has tasks %v", name, got)
		}
		checkClean(t, sys, recs, 2)
		// A hierarchy without subsystems has nobody to refuse.
		checkErrno(t, "attach named root", named.Root().Attach(task), nil)
		checkLog(t, "attach in a named hierarchy", &log, nil)
	}
}

func TestAttachProcess(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	h := must(sys.MountString("a,b"))
	x := must(h.Root().Mkdir("x"))
	y := must(h.Root().Mkdir("y"))
	leader := must(sys.NewTask(10))
	t11 := must(sys.ForkThread(leader, 11))
	t12 := must(sys.ForkThread(t11, 12))
	other := must(sys.Fork(leader, 20)) // another process: never moved with 10
	log.take()

	// Any thread names the process: all threads move, in one callback each.
	checkErrno(t, "attach process", x.AttachProcess(t12), nil)
	checkLog(t, "attach process", &log, []string{
		"a.can_attach /x 10</,11</,12</", "b.can_attach /x 10</,11</,12</",
		"a.attach /x 10</,11</,12</", "b.attach /x 10</,11</,12</",
	})
	if got := taskIDs(x); !slices.Equal(got, []containers.TaskID{10, 11, 12}) {
		t.Errorf("x tasks %v", got)
	}
	if other.Container(h) != h.Root() {
		t.Errorf("another process moved with 10")
	}
	if got := string(must(x.ReadFile("cgroup.procs"))); got != "10\n" {
		t.Errorf("x cgroup.procs %q", got)
	}

	// Threads already in the destination are left out.
	checkErrno(t, "attach one thread", y.Attach(t11), nil)
	log.take()
	checkErrno(t, "attach process to y", y.AttachProcess(leader), nil)
	checkLog(t, "attach process partly there", &log, []string{
		"a.can_attach /y 10</x,12</x", "b.can_attach /y 10</x,12</x",
		"a.attach /y 10</x,12</x", "b.attach /y 10</x,12</x",
	})
	// All there: nothing happens.
	checkErrno(t, "attach process again", y.AttachProcess(t12), nil)
	checkLog(t, "attach process all there", &log, nil)

	// All or nothing.
	recs[1].failOn("can_attach", unix.EPERM)
	checkErrno(t, "refused attach process", x.AttachProcess(leader), unix.EPERM)
	checkLog(t, "refused attach process", &log, []string{
		"a.can_attach /x 10</y,11</y,12</y", "b.can_attach /x 10</y,11</y,12</y",
		"a.cancel_attach /x 10</y,11</y,12</y",
	})
	for _, th := range []*containers.Task{leader, t11, t12} {
		if th.Container(h) != y {
			t.Errorf("refused attach moved %v to %v", th, th.Container(h))
		}
	}
	recs[1].failOn("can_attach", nil)

	// An exited thread is not a member any more.
	checkErrno(t, "exit 11", sys.Exit(t11), nil)
	log.take()
	checkErrno(t, "attach process after a thread exit", h.Root().AttachProcess(leader), nil)
	checkLog(t, "attach process after a thread exit", &log, []string{
		"a.can_attach / 10</y,12</y", "b.can_attach / 10</y,12</y",
		"a.attach / 10</y,12</y", "b.attach / 10</y,12</y",
	})
	// A thread forked after the leader moved starts where its creator is.
	t13 := must(sys.ForkThread(leader, 13))
	if t13.Container(h) != h.Root() || t13.TGID() != 10 {
		t.Errorf("new thread in %v with TGID %d", t13.Container(h), t13.TGID())
	}
	checkErrno(t, "attach process of exited", x.AttachProcess(t11), unix.ESRCH)
	checkClean(t, sys, recs, 2)
}

func TestAttachErrors(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a")
	h := must(sys.MountString("a"))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(1))
	checkErrno(t, "rmdir x", x.Rmdir(), nil)
	log.take()
	checkErrno(t, "attach to a removed container", x.Attach(task), unix.ENODEV)
	checkErrno(t, "attach process to a removed container", x.AttachProcess(task), unix.ENODEV)
	checkErrno(t, "attach nil", h.Root().Attach(nil), unix.ESRCH)
	checkErrno(t, "attach process nil", h.Root().AttachProcess(nil), unix.ESRCH)
	checkLog(t, "refused", &log, nil)
	checkClean(t, sys, recs, 0)

	// Writing to the tasks file is an attach, with the file's errnos.
	y := must(h.Root().Mkdir("y"))
	log.take()
	checkErrno(t, "write tasks", y.WriteFile("tasks", []byte("1\n")), nil)
	checkLog(t, "write tasks", &log, []string{"a.can_attach /y 1</", "a.attach /y 1</"})
	checkErrno(t, "write unknown task", y.WriteFile("tasks", []byte("2")), unix.ESRCH)
	checkErrno(t, "write junk", y.WriteFile("tasks", []byte("x")), unix.EINVAL)
	checkErrno(t, "write procs", h.Root().WriteFile("cgroup.procs", []byte("1")), nil)
	if task.Container(h) != h.Root() {
		t.Errorf("cgroup.procs write did not move the task")
	}
}

// gate is a subsystem whose Fork and CanAttach callbacks, once armed, tell
// the test they started and wait until it lets them go on: the test can
// run another operation in the middle of one.
type gate struct {
	forkArmed, attachArmed atomic.Bool
	entered, release       chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) Name() string { return "gate" }
func (g *gate) Create(*containers.Container) (containers.State, error) {
	return &probeState{}, nil
}
func (g *gate) Destroy(*containers.Container, containers.State) {}
func (g *gate) Fork(*containers.Task) {
	if g.forkArmed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
}
func (g *gate) CanAttach(*containers.AttachContext) error {
	if g.attachArmed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return nil
}

// settle gives a goroutine that was just started time to run into a lock.
func settle() { time.Sleep(20 * time.Millisecond) }

// TestAttachProcessDuringThreadFork moves a process while one of its
// threads is being forked (inside the Fork callbacks): the new thread must
// end up with the others, never be half moved.
func TestAttachProcessDuringThreadFork(t *testing.T) {
	g := newGate()
	sys := must(containers.New([]containers.Subsystem{g}))
	defer sys.Close(t.Context())
	h := must(sys.MountString("gate"))
	x := must(h.Root().Mkdir("x"))
	leader := must(sys.NewTask(1))
	must(sys.ForkThread(leader, 2))

	g.forkArmed.Store(true)
	forked := make(chan *containers.Task)
	go func() { forked <- must(sys.ForkThread(leader, 3)) }()
	<-g.entered // thread 3 is in its Fork callbacks
	attached := make(chan error)
	go func() { attached <- x.AttachProcess(leader) }()
	settle()
	close(g.release)
	th := <-forked
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	for _, task := range []*containers.Task{leader, th} {
		if task.Container(h) != x {
			t.Errorf("thread %v in %v, want /x with its process", task, task.Container(h))
		}
	}
	if got := taskIDs(x); !slices.Equal(got, []containers.TaskID{1, 2, 3}) {
		t.Errorf("x tasks %v", got)
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

// TestThreadForkDuringAttachProcess forks the first extra thread of a
// process while the process is being moved (inside CanAttach): the thread
// must end up where the process goes.
func TestThreadForkDuringAttachProcess(t *testing.T) {
	g := newGate()
	sys := must(containers.New([]containers.Subsystem{g}))
	defer sys.Close(t.Context())
	h := must(sys.MountString("gate"))
	x := must(h.Root().Mkdir("x"))
	leader := must(sys.NewTask(1)) // a single-threaded process

	g.attachArmed.Store(true)
	attached := make(chan error)
	go func() { attached <- x.AttachProcess(leader) }()
	<-g.entered // the attach is in CanAttach
	forked := make(chan *containers.Task)
	go func() { forked <- must(sys.ForkThread(leader, 2)) }()
	settle()
	close(g.release)
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	th := <-forked
	for _, task := range []*containers.Task{leader, th} {
		if task.Container(h) != x {
			t.Errorf("thread %v in %v, want /x with its process", task, task.Container(h))
		}
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}
