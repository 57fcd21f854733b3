package subsystemtest

import (
	"sync/atomic"
	"syscall"

	"github.com/taskcontainers/containers"
)

// errRefused is what the refuser returns when told to refuse. EXFULL is
// an errno that no ordinary subsystem returns, so a refusal is easy to
// tell apart from the subsystem under test's own.
const errRefused = syscall.EXFULL

// The refuser is the kit's second subsystem, bound to the same hierarchy
// after the one under test (a higher ID, so its CanAttach and Create run
// later): on demand it refuses attaches, so that the subsystem under test
// sees CancelAttach, and refuses Create, so that it sees a Create undone
// by Destroy. It records its callbacks as the wrapper does. Being last, it
// is never cancelled, so it has no CancelAttach.
type refuser struct {
	name          string
	rec           *recorder
	refuseAttach  atomic.Bool
	refuseCreate  atomic.Bool
	createRefused atomic.Int64 // Creates refused so far
}

type refuserState struct{ containers.CSS }

var (
	_ containers.CanAttacher = (*refuser)(nil)
	_ containers.Attacher    = (*refuser)(nil)
)

func (r *refuser) Name() string { return r.name }

func (r *refuser) Create(c *containers.Container) (containers.State, error) {
	if c.Parent() != nil && r.refuseCreate.Load() {
		r.createRefused.Add(1)
		r.rec.add(event{ss: r.name, kind: evCreate, c: c, err: errRefused})
		return nil, errRefused
	}
	s := &refuserState{}
	r.rec.add(event{ss: r.name, kind: evCreate, c: c, state: s})
	return s, nil
}

func (r *refuser) Destroy(c *containers.Container, s containers.State) {
	r.rec.add(event{ss: r.name, kind: evDestroy, c: c, state: s})
}

func (r *refuser) CanAttach(ac *containers.AttachContext) error {
	var err error
	if r.refuseAttach.Load() {
		err = errRefused
	}
	r.rec.add(event{ss: r.name, kind: evCanAttach, c: ac.Container(), tasks: attachTasks(ac), err: err})
	return err
}

func (r *refuser) Attach(ac *containers.AttachContext) {
	r.rec.add(event{ss: r.name, kind: evAttach, c: ac.Container(), tasks: attachTasks(ac)})
}
