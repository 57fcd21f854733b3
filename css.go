package containers

import (
	"math"
	"sync/atomic"
)

// cssDead is the reference count of a css whose container is being removed:
// TryGet fails on it and Rmdir can tell that nobody held a reference.
const cssDead = math.MinInt64 / 2

// CSS is the framework's header of a subsystem state (the kernel's
// cgroup_subsys_state). Every State embeds one; the framework fills it in
// after Create returns. Its methods are safe for concurrent use.
//
// The reference count lets a subsystem keep a container busy from outside
// its tasks (a charge that outlives a task, say): Rmdir fails with EBUSY
// while any css of the container is referenced. The root state of a
// subsystem is never counted.
type CSS struct {
	refs      atomic.Int64
	container atomic.Pointer[Container]
	state     State
	ss        *subsys
	root      bool
}

func (s *CSS) css() *CSS { return s }

// Container returns the container this state belongs to. A root state
// belongs to the root of the hierarchy its subsystem is bound to.
func (s *CSS) Container() *Container { return s.container.Load() }

// Get takes a reference. The caller must already know the container is
// alive: it holds a reference, or it runs in a callback for this container.
func (s *CSS) Get() {
	if !s.root {
		s.refs.Add(1)
	}
}

// TryGet takes a reference unless the container is being removed, and
// reports whether it did.
func (s *CSS) TryGet() bool {
	if s.root {
		return true
	}
	for {
		v := s.refs.Load()
		if v < 0 {
			return false
		}
		if s.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Put drops a reference taken by Get or TryGet. It never blocks. When the
// last reference goes from an empty container with notify_on_release set,
// the release agent is told.
func (s *CSS) Put() {
	if s.root {
		return
	}
	if s.refs.Add(-1) == 0 {
		if c := s.container.Load(); c != nil && c.notify.Load() {
			c.checkRelease()
		}
	}
}

// Refs returns the number of references held (0 for a root state).
func (s *CSS) Refs() int64 {
	if v := s.refs.Load(); v > 0 {
		return v
	}
	return 0
}

// kill marks an unreferenced css dead so TryGet fails from now on. It
// reports false if the css is referenced.
func (s *CSS) kill() bool { return s.refs.CompareAndSwap(0, cssDead) }

// revive undoes kill.
func (s *CSS) revive() { s.refs.CompareAndSwap(cssDead, 0) }
