package cpuset

import (
	"sync"

	"github.com/taskcontainers/containers"
)

// An Affinity applies the CPUs of a task's cpuset to the task. The
// subsystem calls SetAffinity for each task that moves into a cpuset (from
// Attach) and for every task of a cpuset whose CPUs change (from the write
// to cpuset.cpus), with the cpuset's new CPUs, which are never empty. Tasks
// that fork inherit their parent's CPUs without a call, as threads do.
//
// SetAffinity runs with the System's structure lock held: it must be quick,
// must not block, and must not call mutating methods of the System. Its
// error cannot undo the move or the write, which are already done; the
// subsystem reports it to its logger (WithLogger). An Affinity used by
// several Systems, or by goroutines of its own, must be safe for
// concurrent use.
//
// If an Affinity also has a method Forget(*containers.Task), the subsystem
// calls it when a task exits, without the structure lock.
//
// The CPUs are the cpuset's own. Today's kernel also intersects them with
// the CPUs a task asked for itself (with sched_setaffinity inside its
// cpuset), which the subsystem does not track; an Affinity that wants that
// can keep the tasks' own requests and intersect them.
type Affinity interface {
	SetAffinity(t *containers.Task, cpus Set) error
}

// Recorder is the default Affinity: it remembers the CPUs last given to each
// live task, and counts the calls. The zero Recorder is ready to use; it is
// safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex                     // guards the fields below
	tasks map[containers.TaskID]recorded // until the task exits
	calls int
}

type recorded struct {
	t    *containers.Task
	cpus Set
}

// SetAffinity records that t was given cpus, unless t has exited (its
// record is gone with it).
func (r *Recorder) SetAffinity(t *containers.Task, cpus Set) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	// Exit marks t before the subsystem calls Forget, which waits for mu:
	// either Forget follows and drops this record, or t is seen exited.
	if t.Exited() {
		return nil
	}
	if r.tasks == nil {
		r.tasks = make(map[containers.TaskID]recorded)
	}
	r.tasks[t.ID()] = recorded{t, cpus}
	return nil
}

// Forget drops what was recorded for t.
func (r *Recorder) Forget(t *containers.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tasks[t.ID()].t == t {
		delete(r.tasks, t.ID())
	}
}

// CPUs returns the CPUs last given to the live task id, and whether it was
// given any.
func (r *Recorder) CPUs(id containers.TaskID) (Set, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.tasks[id]
	return e.cpus, ok
}

// Calls returns the number of SetAffinity calls so far.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}
