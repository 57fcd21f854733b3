package containers

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// TaskID names a task, as a pid names a thread on Linux. Valid IDs are
// positive; 0 in a tasks or cgroup.procs write means the calling task.
type TaskID int32

// Task kinds: real tasks, the sentinel of a group's task list, and the
// cursors that iterators leave in a list between batches.
const (
	taskNormal uint8 = iota
	taskSentinel
	taskCursor
)

// A Task is a thread of the host, known to the System by its TaskID. It is in
// exactly one container of every hierarchy, through its css_group. Tasks are
// made by NewTask, Fork and ForkThread and end with Exit; a Task value stays
// valid after Exit, and then is in every root.
type Task struct {
	id   TaskID
	tgid TaskID // thread-group (process) ID
	sys  *System

	mu    sync.Mutex               // guards exited and every switch of group
	group atomic.Pointer[cssGroup] // readers need no lock
	tg    atomic.Pointer[threadGroup]

	prev, next *Task // the group's task list; guarded by the group's mu

	exited atomic.Bool // set once, under mu
	born   atomic.Bool // visible to lookups
	kind   uint8
}

// threadGroup is the set of live threads of a process with more than one
// thread. Its mu is taken before any Task.mu and is held by a whole-process
// attach, so no thread joins or leaves the process meanwhile.
type threadGroup struct {
	mu      sync.Mutex
	threads []*Task
}

// ID returns the task's ID.
func (t *Task) ID() TaskID { return t.id }

// TGID returns the ID of the task's process (its thread-group leader).
func (t *Task) TGID() TaskID { return t.tgid }

// Exited reports whether Exit was called for t.
func (t *Task) Exited() bool { return t.exited.Load() }

// Container returns the container of h that t is in (h's root for an exited
// task, or if h is not alive), or nil if h belongs to another System.
func (t *Task) Container(h *Hierarchy) *Container {
	if h == nil || h.sys != t.sys {
		return nil
	}
	return t.group.Load().container(h)
}

// State returns t's state of subsystem ss: the state of the container it is
// in, in whichever hierarchy ss is bound to (the root state while ss is not
// mounted). It returns nil if ss is not a subsystem of t's System.
func (t *Task) State(ss Subsystem) State {
	e := t.sys.lookupSubsys(ss)
	if e == nil {
		return nil
	}
	return t.group.Load().key.css[e.id].state
}

// String returns the task's ID in decimal.
func (t *Task) String() string { return strconv.Itoa(int(t.id)) }

const taskShards = 64

// taskTable maps IDs to live tasks, sharded so that Fork and Exit on
// different tasks rarely meet on a lock.
type taskTable struct {
	shards [taskShards]taskShard
}

type taskShard struct {
	mu   sync.Mutex
	m    map[TaskID]*Task
	peak int // the largest len(m) since m was made; guarded by mu

	// A 128-byte stride keeps the hot fields of two shards off one cache
	// line (and its prefetched pair) however the System is aligned.
	_ [104]byte
}

func (tt *taskTable) shard(id TaskID) *taskShard {
	return &tt.shards[uint32(id)%taskShards]
}

// insert adds t unless its ID is taken.
func (tt *taskTable) insert(t *Task) bool {
	s := tt.shard(t.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[TaskID]*Task)
	}
	if _, dup := s.m[t.id]; dup {
		return false
	}
	s.m[t.id] = t
	s.peak = max(s.peak, len(s.m))
	return true
}

func (tt *taskTable) remove(t *Task) {
	s := tt.shard(t.id)
	s.mu.Lock()
	if s.m[t.id] == t {
		delete(s.m, t.id)
		// Go maps never shrink: rebuild one that fell to a quarter of a
		// large peak, so the memory of a million exited tasks goes back.
		// Small tables (under 4096 a shard, 262 144 in all) are left
		// alone: their memory is small, and rebuilding them would make a
		// host whose task count swings pay for regrowing them.
		if n := len(s.m); s.peak >= 4096 && n < s.peak/4 {
			m := make(map[TaskID]*Task, n)
			maps.Copy(m, s.m)
			s.m, s.peak = m, n
		}
	}
	s.mu.Unlock()
}

func (tt *taskTable) lookup(id TaskID) *Task {
	s := tt.shard(id)
	s.mu.Lock()
	t := s.m[id]
	s.mu.Unlock()
	if t == nil || !t.born.Load() {
		return nil
	}
	return t
}

func (tt *taskTable) count() int {
	n := 0
	for i := range tt.shards {
		s := &tt.shards[i]
		s.mu.Lock()
		for _, t := range s.m {
			if t.born.Load() {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

func taskPath(id TaskID) string { return "task " + strconv.Itoa(int(id)) }

// Task returns the live task with the ID, or ESRCH.
func (sys *System) Task(id TaskID) (*Task, error) {
	if t := sys.tasks.lookup(id); t != nil {
		return t, nil
	}
	return nil, pathError("task", taskPath(id), unix.ESRCH)
}

// NewTask registers a task that already exists in the host (a process that
// was running before the System, say). It is placed in the root of every
// hierarchy, and the Fork callbacks run for it as for a newborn task, so that
// Fork and Exit stay balanced. An ID that is not positive gives EINVAL, an
// ID already in use EEXIST.
func (sys *System) NewTask(id TaskID) (*Task, error) {
	return sys.newTask("newtask", nil, id, false)
}

// Fork registers task id as a new process forked by parent: it starts in
// parent's containers (the kernel's cgroup_fork/cgroup_post_fork), and the
// Fork callbacks of every subsystem run in ID order. Fork never takes the
// structure lock. A parent that is nil or exited gives ESRCH; an ID in use,
// EEXIST.
func (sys *System) Fork(parent *Task, id TaskID) (*Task, error) {
	if parent == nil { // newTask reads a nil parent as NewTask's "no parent"
		return nil, pathError("fork", taskPath(id), unix.ESRCH)
	}
	return sys.newTask("fork", parent, id, false)
}

// ForkThread is Fork for a new thread of parent's process: the child's TGID
// is parent's, and moving the process through cgroup.procs or AttachProcess
// moves it too. The Fork callbacks run under the process's thread-group
// lock, so that no whole-process attach can miss the new thread.
func (sys *System) ForkThread(parent *Task, id TaskID) (*Task, error) {
	if parent == nil { // newTask would take the TGID of a nil parent
		return nil, pathError("fork", taskPath(id), unix.ESRCH)
	}
	return sys.newTask("fork", parent, id, true)
}

func (sys *System) newTask(op string, parent *Task, id TaskID, thread bool) (*Task, error) {
	if sys.closed.Load() {
		return nil, pathError(op, taskPath(id), ErrClosed)
	}
	if id <= 0 {
		return nil, pathError(op, taskPath(id), unix.EINVAL)
	}
	if parent != nil && parent.sys != sys {
		return nil, pathError(op, taskPath(id), unix.EINVAL)
	}
	child := &Task{id: id, tgid: id, sys: sys}
	if !sys.tasks.insert(child) {
		return nil, pathError(op, taskPath(id), unix.EEXIST)
	}
	var tg *threadGroup
	if thread {
		child.tgid = parent.tgid
		tg = parent.threadGroup()
		tg.mu.Lock() // no whole-process attach may miss the new thread
	}
	g := sys.groups.def
	if parent == nil {
		g.get() // the default group is never freed
	} else {
		// Take a reference on the group the parent is in at this instant,
		// without its lock: a group the parent has just left may be dying,
		// and tryGet refuses it; then the parent is elsewhere already.
		for {
			g = parent.group.Load()
			if g.tryGet() {
				break
			}
		}
		if parent.exited.Load() {
			sys.groups.put(g)
			if tg != nil {
				tg.mu.Unlock()
			}
			sys.tasks.remove(child)
			return nil, pathError(op, taskPath(parent.id), unix.ESRCH)
		}
	}
	child.group.Store(g)
	// Link first, then call the Fork callbacks (as today's kernel does): a
	// concurrent change that walks the group's tasks either sees the child
	// or happened before its callback, which then sees the change.
	g.link(child)
	for _, e := range sys.forkers {
		e.forker.Fork(child)
	}
	if tg != nil {
		// A whole-process attach, which holds tg.mu, sees the thread only
		// once it is on its group's list; an Exit, which finds it by ID
		// only once it is born, sees its thread group.
		tg.threads = append(tg.threads, child)
		child.tg.Store(tg)
	}
	child.born.Store(true)
	if tg != nil {
		tg.mu.Unlock()
	}
	return child, nil
}

// threadGroup returns t's thread group, making one if t's process had a
// single thread.
func (t *Task) threadGroup() *threadGroup {
	if tg := t.tg.Load(); tg != nil {
		return tg
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tg := t.tg.Load(); tg != nil {
		return tg
	}
	tg := &threadGroup{}
	if !t.exited.Load() {
		tg.threads = []*Task{t}
	}
	t.tg.Store(tg)
	return tg
}

// Exit ends task t (the kernel's cgroup_exit): the Exit callbacks run in
// subsystem ID order while t is still in its containers, then t leaves them
// at once and counts as being in every root, and its ID is free for a new
// task. Containers left empty may be released. Exit never takes the
// structure lock. Exiting a task twice gives ESRCH. Exit still works after
// Close: it keeps the books for a task that really ended, and releases
// nothing.
func (sys *System) Exit(t *Task) error {
	if t == nil || t.sys != sys || !t.born.Load() {
		return pathError("exit", "task", unix.ESRCH)
	}
	t.mu.Lock()
	if t.exited.Load() {
		t.mu.Unlock()
		return pathError("exit", taskPath(t.id), unix.ESRCH)
	}
	t.exited.Store(true) // from now on no attach moves t
	t.mu.Unlock()
	for _, e := range sys.exiters {
		e.exiter.Exit(t)
	}
	if tg := t.tg.Load(); tg != nil {
		tg.mu.Lock()
		for i, o := range tg.threads {
			if o == t {
				tg.threads = append(tg.threads[:i], tg.threads[i+1:]...)
				break
			}
		}
		tg.mu.Unlock()
	}
	// No attach changes t's group once it is marked exited (they check
	// under t.mu), so it needs no lock now.
	g := t.group.Load()
	g.unlink(t)
	t.group.Store(sys.groups.def) // exited tasks hold no reference
	sys.tasks.remove(t)           // only now may the ID name another task
	sys.groups.put(g)
	return nil
}
