package cpuset

import (
	"fmt"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// OSAffinity is an Affinity that applies a task's CPUs to the thread of
// this host whose thread ID is the task's ID, with sched_setaffinity(2).
// A host whose task IDs are not all thread IDs must say which are with
// Thread, or OSAffinity would pin unrelated threads.
type OSAffinity struct {
	// Thread reports whether t is a thread of this host (its ID is a tid).
	// Tasks for which it returns false are left alone. Nil means every task
	// is a thread.
	Thread func(t *containers.Task) bool
}

// SetAffinity sets the CPU affinity of t's thread to cpus.
func (a OSAffinity) SetAffinity(t *containers.Task, cpus Set) error {
	if a.Thread != nil && !a.Thread(t) {
		return nil
	}
	cs, err := cpus.CPUSet()
	if err == nil {
		err = unix.SchedSetaffinity(int(t.ID()), &cs)
	}
	if err != nil {
		return fmt.Errorf("sched_setaffinity(%d, %s): %w", t.ID(), cpus, err)
	}
	return nil
}

// cpuSetSize is the number of CPUs a unix.CPUSet holds (CPU_SETSIZE).
const cpuSetSize = 1024

// CPUSet returns s as the CPU mask of sched_setaffinity(2). A number too
// large for a unix.CPUSet (1024 CPUs) gives ERANGE.
func (s Set) CPUSet() (unix.CPUSet, error) {
	var cs unix.CPUSet
	for id := range s.All() {
		if id >= cpuSetSize {
			return unix.CPUSet{}, unix.ERANGE
		}
		cs.Set(id)
	}
	return cs, nil
}

// FromCPUSet returns the CPUs of a sched_getaffinity(2) mask.
func FromCPUSet(cs *unix.CPUSet) Set {
	var b bitmap
	for i := range cpuSetSize {
		if cs.IsSet(i) {
			b.set(i, 1)
		}
	}
	return b.done()
}
