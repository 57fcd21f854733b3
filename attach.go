package containers

import (
	"iter"
	"slices"

	"golang.org/x/sys/unix"
)

// An AttachContext describes a move of tasks into a container (the
// kernel's cgroup_taskset): the destination and, for each task, the
// container of the same hierarchy it comes from. It is valid only during the
// callback it is passed to; a subsystem must not keep it.
type AttachContext struct {
	dst   *Container
	moves []move
}

type move struct {
	t        *Task
	from     *Container
	old, new *cssGroup
}

// Container returns the destination.
func (ac *AttachContext) Container() *Container { return ac.dst }

// Len returns the number of tasks that move.
func (ac *AttachContext) Len() int { return len(ac.moves) }

// Task returns the i'th task that moves and the container it leaves.
func (ac *AttachContext) Task(i int) (*Task, *Container) {
	m := &ac.moves[i]
	return m.t, m.from
}

// All returns an iterator over the tasks that move and the containers they
// leave.
func (ac *AttachContext) All() iter.Seq2[*Task, *Container] {
	return func(yield func(*Task, *Container) bool) {
		for i := range ac.moves {
			if !yield(ac.moves[i].t, ac.moves[i].from) {
				return
			}
		}
	}
}

func (ac *AttachContext) reset() {
	clear(ac.moves)
	ac.moves = ac.moves[:0]
	ac.dst = nil
}

// Attach moves task t into c (a write of its ID to c's tasks file). If t is
// already in c, nothing happens and no callback runs. Otherwise each
// subsystem of the hierarchy is asked CanAttach in ID order; if one refuses,
// those that agreed get CancelAttach in reverse order, nothing changes, and
// the error, a SubsystemError naming the refusing subsystem inside an
// *fs.PathError, wraps its errno. Then t switches group and the Attach
// callbacks run; the container t left may be released. An exited task gives
// ESRCH, a removed container ENODEV.
func (c *Container) Attach(t *Task) error {
	return c.attach(t, false)
}

// AttachProcess moves every thread of t's process into c, all or none (a
// write to c's cgroup.procs). Threads already in c are left alone and not
// shown to the callbacks; if all are, nothing happens.
func (c *Container) AttachProcess(t *Task) error {
	return c.attach(t, true)
}

func (c *Container) attach(t *Task, process bool) error {
	sys := c.h.sys
	sys.mu.Lock()
	defer sys.mu.Unlock() // also if a callback panics
	err := sys.attachLocked(c, t, process)
	if err != nil {
		return pathError("attach", c.Path(), err)
	}
	return nil
}

func (sys *System) attachLocked(dst *Container, t *Task, process bool) error {
	if sys.closed.Load() {
		return ErrClosed
	}
	if dst.removed.Load() {
		return unix.ENODEV
	}
	if t == nil || t.sys != sys || t.exited.Load() || !t.born.Load() {
		return unix.ESRCH
	}
	ac := &sys.ac
	defer ac.reset()
	ac.dst = dst
	if process {
		// Hold the process's thread-group lock until the move is done, so
		// that no thread is forked meanwhile: it would start in the
		// process's old containers and be left behind. A single-threaded
		// process gets its thread group now, for ForkThread to wait on.
		tg := t.threadGroup()
		tg.mu.Lock()
		defer tg.mu.Unlock()
		for _, th := range tg.threads {
			ac.add(th)
		}
	} else {
		ac.add(t)
	}
	if len(ac.moves) == 0 {
		return nil
	}
	b := dst.h.binding.Load()
	for i, id := range b.ids {
		e := sys.subsys[id]
		if e.canAttach == nil {
			continue
		}
		if err := e.canAttach.CanAttach(ac); err != nil {
			sys.cancelAttach(ac, b.ids[:i])
			return &SubsystemError{Subsystem: e.name, Op: "can_attach", Err: err}
		}
	}
	// Find the new groups before anything moves, so that nothing has to be
	// undone after this point.
	for i := range ac.moves {
		m := &ac.moves[i]
		key := m.old.key
		for _, id := range b.ids {
			key.css[id] = dst.css[id].Load()
		}
		if b.slot >= 0 {
			if dst.parent == nil {
				key.named[b.slot] = nil
			} else {
				key.named[b.slot] = dst
			}
		}
		m.new = sys.groups.find(&key)
	}
	// Switch. Only Exit can race with us (attaches hold sys.mu); it marks the
	// task exited under t.mu before touching its group.
	n := 0
	var dropped []move
	for i := range ac.moves {
		m := ac.moves[i]
		m.t.mu.Lock()
		if m.t.exited.Load() {
			m.t.mu.Unlock()
			dropped = append(dropped, m)
			sys.groups.putUnused(m.new)
			continue
		}
		m.old.unlink(m.t)
		m.new.link(m.t)
		m.t.group.Store(m.new)
		m.t.mu.Unlock()
		ac.moves[n] = m
		n++
	}
	if n == 0 { // every task exited meanwhile; nothing was compacted
		sys.cancelAttach(ac, b.ids)
		if !process {
			return unix.ESRCH
		}
		return nil
	}
	if len(dropped) > 0 { // CanAttach accepted them: cancel just those
		moved := slices.Clone(ac.moves[:n])
		ac.moves = append(ac.moves[:0], dropped...)
		sys.cancelAttach(ac, b.ids)
		ac.moves = append(ac.moves[:0], moved...)
	}
	ac.moves = ac.moves[:n]
	for _, id := range b.ids {
		if e := sys.subsys[id]; e.attacher != nil {
			e.attacher.Attach(ac)
		}
	}
	for i := range ac.moves {
		sys.groups.put(ac.moves[i].old)
	}
	return nil
}

// add records a move of t unless t is already in the destination or exited.
func (ac *AttachContext) add(t *Task) {
	if t.exited.Load() {
		return
	}
	g := t.group.Load()
	from := g.container(ac.dst.h)
	if from == ac.dst {
		return
	}
	ac.moves = append(ac.moves, move{t: t, from: from, old: g})
}

// cancelAttach calls CancelAttach, in reverse order, for the subsystems in
// ids that have it: they all agreed, by CanAttach or by having none.
func (sys *System) cancelAttach(ac *AttachContext, ids []int) {
	for i := len(ids) - 1; i >= 0; i-- {
		e := sys.subsys[ids[i]]
		if e.canceler != nil {
			e.canceler.CancelAttach(ac)
		}
	}
}
