package containers_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/taskcontainers/containers"
)

// callLog collects the callbacks of recorder subsystems, in order.
type callLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *callLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// take returns the lines logged so far and clears the log.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// recorder is a fake subsystem that logs every callback as
// "name.callback path [tasks]" and fails the callbacks named in fail.
type recorder struct {
	name string
	log  *callLog

	mu   sync.Mutex
	fail map[string]error // callback name -> error to return
	live map[*recState]bool
}

type recState struct {
	containers.CSS
	path string
}

func newRecorder(name string, log *callLog) *recorder {
	return &recorder{name: name, log: log, fail: map[string]error{}, live: map[*recState]bool{}}
}

func (r *recorder) failOn(cb string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.fail, cb)
	} else {
		r.fail[cb] = err
	}
}

func (r *recorder) failure(cb string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fail[cb]
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Create(c *containers.Container) (containers.State, error) {
	path := "(dummy)"
	if c.Parent() != nil || c.Hierarchy().ID() != 0 {
		path = c.Path()
	}
	r.log.add("%s.create %s", r.name, path)
	if err := r.failure("create"); err != nil {
		return nil, err
	}
	s := &recState{path: path}
	r.mu.Lock()
	r.live[s] = true
	r.mu.Unlock()
	return s, nil
}

func (r *recorder) Destroy(c *containers.Container, s containers.State) {
	r.log.add("%s.destroy %s", r.name, c.Path())
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := s.(*recState)
	if !r.live[rs] {
		panic("destroy of a state not live: " + rs.path)
	}
	delete(r.live, rs)
}

// liveStates returns the number of non-root states that were created and not
// destroyed.
func (r *recorder) liveStates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live) - 1 // the root state
}

func taskList(ac *containers.AttachContext) string {
	var ids []string
	for t, from := range ac.All() {
		ids = append(ids, fmt.Sprintf("%d<%s", t.ID(), from.Path()))
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

func (r *recorder) CanAttach(ac *containers.AttachContext) error {
	r.log.add("%s.can_attach %s %s", r.name, ac.Container().Path(), taskList(ac))
	return r.failure("can_attach")
}

func (r *recorder) CancelAttach(ac *containers.AttachContext) {
	r.log.add("%s.cancel_attach %s %s", r.name, ac.Container().Path(), taskList(ac))
}

func (r *recorder) Attach(ac *containers.AttachContext) {
	r.log.add("%s.attach %s %s", r.name, ac.Container().Path(), taskList(ac))
}

func (r *recorder) Fork(t *containers.Task) { r.log.add("%s.fork %d", r.name, t.ID()) }
func (r *recorder) Exit(t *containers.Task) { r.log.add("%s.exit %d", r.name, t.ID()) }

func (r *recorder) PostClone(c *containers.Container) {
	r.log.add("%s.post_clone %s", r.name, c.Path())
}

func (r *recorder) Bind(root *containers.Container) {
	r.log.add("%s.bind %d", r.name, root.Hierarchy().ID())
}

func (r *recorder) Files() []containers.File {
	return []containers.File{{
		Name:     "path",
		ReadUint: func(fc *containers.FileContext) uint64 { return uint64(len(fc.State.(*recState).path)) },
	}}
}

// newSystem returns a System with recorders named names, closed when t ends.
func newSystem(t testing.TB, log *callLog, names ...string) (*containers.System, []*recorder) {
	t.Helper()
	var recs []*recorder
	var ss []containers.Subsystem
	for _, n := range names {
		r := newRecorder(n, log)
		recs = append(recs, r)
		ss = append(ss, r)
	}
	sys, err := containers.New(ss)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { sys.Close(t.Context()) })
	log.take()
	return sys, recs
}
