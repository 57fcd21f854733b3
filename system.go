package containers

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A System owns a set of subsystems, the hierarchies they are mounted in,
// and the tasks (the kernel keeps this state in globals; the library keeps
// it in a value, so many Systems can live side by side). Every method is
// safe for concurrent use; see the package documentation for the locks.
type System struct {
	mu sync.Mutex // the structure lock (the kernel's cgroup_mutex)

	subsys  []*subsys // by ID; fixed at New
	byName  map[string]*subsys
	forkers []*subsys // those with Fork callbacks, in ID order
	exiters []*subsys

	dummy  *Hierarchy                   // holds unbound subsystems; never visible
	hiers  atomic.Pointer[[]*Hierarchy] // live hierarchies by ID; replaced under mu
	nextID int                          // guarded by mu
	slots  [MaxNamedHierarchies]*Hierarchy

	groups groupTable
	tasks  taskTable
	ac     AttachContext // reused by every attach; guarded by mu

	rel       releaser
	logger    *slog.Logger
	closed    atomic.Bool
	closeDone chan struct{} // closed when the first Close returns
}

// subsys is the System's record of one subsystem.
type subsys struct {
	id   int
	name string
	ss   Subsystem

	canAttach CanAttacher
	canceler  AttachCanceler
	attacher  Attacher
	forker    Forker
	exiter    Exiter
	postClone PostCloner
	binder    Binder
	files     []File

	root *CSS       // the root state, created at New
	h    *Hierarchy // the hierarchy it is bound to; guarded by mu
}

// An Option configures a System at New.
type Option interface {
	apply(*System)
}

type optionFunc func(*System)

func (f optionFunc) apply(s *System) { f(s) }

// WithReleaseFunc gives a function that is told, asynchronously and with no
// lock held, whenever a container with notify_on_release set becomes empty:
// h is its hierarchy and path its path in h ("/job/sub"). It is called from
// release workers owned by the System: calls for different containers may
// run concurrently (at most 16 at once), calls for one container never
// overlap, and a container emptied again during a call is told again
// afterwards. The hierarchy's exec agent, if any, is started first. f may
// call any method of the System except Flush and Close, which would wait
// for f.
func WithReleaseFunc(f func(h *Hierarchy, path string)) Option {
	return optionFunc(func(s *System) { s.rel.fn = f })
}

// WithLogger gives the logger to which failures that no caller can see are
// reported, such as a release agent that could not be run. The default
// discards them.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(s *System) {
		if l != nil {
			s.logger = l
		}
	})
}

// New returns a System with the given subsystems, whose IDs are their
// indexes. It checks them (none nil, names of 1 to 32 bytes of [a-z0-9_]
// and unique, at most MaxSubsystems, comparable values, valid control
// files) and returns an *fs.PathError wrapping EINVAL for a bad one. Each
// subsystem's Create is called once to make its root state, in ID order; if
// one fails New returns its error. Call Close when done with the System.
func New(subsystems []Subsystem, opts ...Option) (*System, error) {
	if len(subsystems) > MaxSubsystems {
		return nil, pathError("new", "subsystems", unix.EINVAL)
	}
	sys := &System{
		byName:    make(map[string]*subsys),
		logger:    slog.New(slog.DiscardHandler),
		nextID:    1,
		closeDone: make(chan struct{}),
	}
	for _, o := range opts {
		if o != nil {
			o.apply(sys)
		}
	}
	for i, ss := range subsystems {
		// A nil pointer (or map, func, ...) in a non-nil interface would
		// panic in its first method call, Name below: refuse it instead.
		if ss == nil || isNilValue(ss) || !reflect.TypeOf(ss).Comparable() {
			return nil, pathError("new", "subsystem", unix.EINVAL)
		}
		name := ss.Name()
		if !ValidSubsystemName(name) {
			return nil, pathError("new", name, unix.EINVAL)
		}
		if sys.byName[name] != nil {
			return nil, pathError("new", name, unix.EINVAL)
		}
		e := &subsys{id: i, name: name, ss: ss}
		e.canAttach, _ = ss.(CanAttacher)
		e.canceler, _ = ss.(AttachCanceler)
		e.attacher, _ = ss.(Attacher)
		e.forker, _ = ss.(Forker)
		e.exiter, _ = ss.(Exiter)
		e.postClone, _ = ss.(PostCloner)
		e.binder, _ = ss.(Binder)
		if fp, ok := ss.(FileProvider); ok {
			files, err := checkFiles(name, fp.Files())
			if err != nil {
				return nil, err
			}
			e.files = files
		}
		sys.subsys = append(sys.subsys, e)
		sys.byName[name] = e
		if e.forker != nil {
			sys.forkers = append(sys.forkers, e)
		}
		if e.exiter != nil {
			sys.exiters = append(sys.exiters, e)
		}
	}
	sys.groups.init()
	sys.dummy = sys.newHierarchy(0, "", 0, -1)
	sys.dummy.alive.Store(false)       // invisible: no Mount, Remount, Lookup
	sys.dummy.root.removed.Store(true) // nor Mkdir, Attach or file access
	empty := []*Hierarchy{}
	sys.hiers.Store(&empty)
	for _, e := range sys.subsys {
		e.h = sys.dummy
		st, err := e.ss.Create(sys.dummy.root)
		if err == nil {
			err = checkState(st)
		}
		if err != nil {
			return nil, pathError("new", e.name, &SubsystemError{Subsystem: e.name, Op: "create", Err: err})
		}
		s := st.css()
		s.state, s.ss, s.root = st, e, true
		s.container.Store(sys.dummy.root)
		e.root = s
		sys.dummy.root.css[e.id].Store(s)
		sys.groups.def.key.css[e.id] = s
	}
	// The default group's key changed as root states were filled in (the
	// kernel does the same at subsystem registration); rehash it.
	sys.groups.m = map[groupKey]*cssGroup{sys.groups.def.key: sys.groups.def}
	sys.rel.start(sys)
	return sys, nil
}

// isNilValue reports whether v, a non-nil interface value, holds a nil
// pointer, map, channel, func or slice.
func isNilValue(v any) bool {
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.Slice, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// checkState rejects a State that is nil or already in use.
func checkState(st State) error {
	if st == nil {
		return unix.EINVAL
	}
	if v := reflect.ValueOf(st); v.Kind() == reflect.Pointer && v.IsNil() {
		return unix.EINVAL
	}
	if cs := st.css(); cs == nil || cs.state != nil {
		return unix.EINVAL
	}
	return nil
}

// ValidSubsystemName reports whether n is a valid subsystem name: 1 to 32
// bytes of [a-z0-9_].
func ValidSubsystemName(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// lookupSubsys returns the record of ss, or nil. A subsystem given to New
// that wraps another (it has an Unwrap method returning the wrapped one, as
// the subsystemtest kit's wrappers do) is found by either value.
func (sys *System) lookupSubsys(ss Subsystem) *subsys {
	for _, e := range sys.subsys {
		if e.ss == ss {
			return e
		}
	}
	for _, e := range sys.subsys {
		for w := e.ss; ; {
			u, ok := w.(interface{ Unwrap() Subsystem })
			if !ok {
				break
			}
			if w = u.Unwrap(); w == nil || !reflect.TypeOf(w).Comparable() {
				break
			}
			if w == ss {
				return e
			}
		}
	}
	return nil
}

// Subsystems returns the names of the System's subsystems in ID order.
func (sys *System) Subsystems() []string {
	names := make([]string, len(sys.subsys))
	for i, e := range sys.subsys {
		names[i] = e.name
	}
	return names
}

// Hierarchies returns the live hierarchies (mounted, or unmounted but with
// containers left) in ascending ID order.
func (sys *System) Hierarchies() []*Hierarchy {
	hs := *sys.hiers.Load()
	out := make([]*Hierarchy, len(hs))
	copy(out, hs)
	return out
}

// Close drops pending release notifications and queues no more, then waits
// until the deliveries under way are over (callbacks returned, their agents
// exited and reaped) or ctx is done. If ctx is done first, it kills the
// running agents and their process groups, waits until they are reaped and
// returns ctx's error; callbacks still running are not interrupted, calls
// not yet begun are not made, and Flush waits for the rest.
//
// Afterwards Mount, Unmount, Remount, Mkdir, Rmdir, Rename, Attach,
// AttachProcess, Clone, WriteFile, NewTask, Fork and ForkThread return an
// *fs.PathError wrapping ErrClosed. Reads, Exit and CSS.Put still work:
// they keep the books but release nothing. A second Close waits for the
// first to finish, or for its own ctx.
func (sys *System) Close(ctx context.Context) error {
	sys.mu.Lock()
	first := !sys.closed.Swap(true)
	sys.mu.Unlock()
	if !first {
		select {
		case <-sys.closeDone: // the first Close is over, whatever ctx says
			return nil
		default:
		}
		select {
		case <-sys.closeDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := sys.rel.stop(ctx)
	close(sys.closeDone)
	return err
}

// lockOpen takes the structure lock, or returns ErrClosed wrapped for op and
// path (with the lock not held).
func (sys *System) lockOpen(op, path string) error {
	sys.mu.Lock()
	if sys.closed.Load() {
		sys.mu.Unlock()
		return pathError(op, path, ErrClosed)
	}
	return nil
}
