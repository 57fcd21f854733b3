// Package cpuacct is the CPU accounting subsystem (the kernel's cpuacct
// controller of cgroup v1): it tells how much CPU time the tasks of each
// container, and of its descendants, have used.
//
// CPU time reaches it in two ways. A host that measures time itself (a job
// runner that knows how long each job ran, a simulator) calls
// [Subsystem.Charge]. For tasks that are real processes of this machine, the
// sampler reads their CPU time from procfs and charges the increase since the
// last reading: register them with [Subsystem.Track] and sample on demand
// ([Subsystem.Sample]) or on an interval ([Subsystem.Start] and
// [Subsystem.Stop], or [Subsystem.Run]).
//
// # Files
//
// Every container has the files of today's kernel, in its formats (names
// get the "cpuacct." prefix unless the hierarchy is mounted noprefix):
//
//	usage              0644  total CPU time in ns, "N\n"; writing 0 resets
//	usage_user         0444  user time in ns
//	usage_sys          0444  system time in ns
//	usage_percpu       0444  ns per possible CPU, each followed by a space, then "\n"
//	usage_percpu_user  0444  the same, user time
//	usage_percpu_sys   0444  the same, system time
//	usage_all          0444  "cpu user system\n", then "<cpu> <user_ns> <sys_ns>\n" per possible CPU
//	stat               0444  "user <N>\nsystem <N>\n" in USER_HZ (100 per second) ticks
//
// # Semantics
//
// Accounting is hierarchical: a charge goes to the task's container and to
// every ancestor, at charge time, so reading a container costs the same
// however many tasks and descendants it has. Usage stays where it was spent:
// moving a task does not move its past usage, and a removed container's usage
// stays in its ancestors. While cpuacct is not mounted every task is in the
// root, which is charged as always; the root's values are system-wide.
//
// The library accounts exactly: usage is user plus system time. (The kernel
// measures usage with the scheduler's clock and samples the user/system split
// on ticks, so its usage_user and usage_sys need not add up to usage.)
//
// Writing 0 ("0", "00", "0x0", "0\n") to usage resets usage, usage_user,
// usage_sys, usage_percpu*, and usage_all of that container alone, not of its
// parent or children; stat keeps counting. Any other value gives EINVAL. As in
// today's kernel, resetting the root is accepted and changes nothing, since
// the root's values are system-wide.
//
// # Concurrency
//
// Each container keeps per-CPU counters of user and system nanoseconds in
// atomics; charging and reading take no lock, and never take the System's
// structure lock. A reset stores the current counters as the new zero, so
// concurrent charges are never lost: each counts either before or after it.
package cpuacct

import (
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// Name is the subsystem's name, and the prefix of its control files.
const Name = "cpuacct"

// UserHZ is the number of clock ticks per second in which the stat file
// counts, and in which procfs reports a process's CPU time (the kernel's
// USER_HZ, 100 on every common architecture).
const UserHZ = 100

// tickNs is the length of one USER_HZ tick in nanoseconds.
const tickNs = uint64(time.Second / UserHZ)

// Subsystem is the cpuacct subsystem. Make it with New and give it to
// containers.New. Its methods are safe for concurrent use.
type Subsystem struct {
	ncpu     int    // possible CPUs; fixed at New
	topoSet  bool   // WithTopology was given
	procRoot string // where procfs is mounted; fixed at New
	logger   *slog.Logger

	trackMu  sync.Mutex // guards tracked; a leaf lock
	tracked  map[*containers.Task]*tracked
	ntracked atomic.Int64 // len(tracked), so Exit skips the lock when nothing is tracked

	runMu   sync.Mutex    // guards cancel and runDone
	cancel  func()        // stops the goroutine of Start
	runDone chan struct{} // closed when that goroutine returns
}

// Compile-time checks of the optional interfaces the framework detects.
var (
	_ containers.Subsystem    = (*Subsystem)(nil)
	_ containers.FileProvider = (*Subsystem)(nil)
	_ containers.Exiter       = (*Subsystem)(nil)
)

// An Option configures a Subsystem at New.
type Option interface {
	apply(*Subsystem)
}

type optionFunc func(*Subsystem)

func (f optionFunc) apply(ss *Subsystem) { f(ss) }

// WithTopology gives the machine whose CPUs are accounted: the per-CPU files
// have t.PossibleCPUs entries, and Charge accepts CPUs 0 to
// t.PossibleCPUs-1. The default is topology.Host(). A topology with no
// possible CPU counts as one CPU.
func WithTopology(t topology.Topology) Option {
	return optionFunc(func(ss *Subsystem) { ss.ncpu, ss.topoSet = t.PossibleCPUs, true })
}

// WithProcRoot gives the directory where procfs is mounted, from which the
// sampler reads CPU times (default "/proc").
func WithProcRoot(dir string) Option {
	return optionFunc(func(ss *Subsystem) { ss.procRoot = dir })
}

// WithLogger gives the logger to which the sampler started by Start reports
// the errors of its samples, which no caller sees. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(ss *Subsystem) {
		if l != nil {
			ss.logger = l
		}
	})
}

// New returns a cpuacct subsystem.
func New(opts ...Option) *Subsystem {
	ss := &Subsystem{
		procRoot: "/proc",
		logger:   slog.New(slog.DiscardHandler),
		tracked:  make(map[*containers.Task]*tracked),
	}
	for _, o := range opts {
		if o != nil {
			o.apply(ss)
		}
	}
	if !ss.topoSet {
		ss.ncpu = topology.Host().PossibleCPUs
	}
	if ss.ncpu < 1 {
		ss.ncpu = 1
	}
	return ss
}

// Name returns "cpuacct".
func (ss *Subsystem) Name() string { return Name }

// PossibleCPUs returns the number of CPUs accounted: the length of the
// per-CPU files.
func (ss *Subsystem) PossibleCPUs() int { return ss.ncpu }

// cpuCounters are one CPU's counters of a container. user and sys only grow;
// userBase and sysBase are their values at the last reset (always at most
// the counters, since they are copies of earlier values).
type cpuCounters struct {
	user, sys         atomic.Uint64
	userBase, sysBase atomic.Uint64
}

// State is the cpuacct state of a container: its CPU usage and its
// descendants', per CPU. Get it with Subsystem.State or by asserting the
// result of Container.State. Its methods are safe for concurrent use and
// take no lock.
type State struct {
	containers.CSS
	// parent is the state of the parent container, nil for the root. A
	// container keeps its parent for life (rename stays in the parent), and
	// a subsystem's root state is the same value whichever hierarchy holds
	// it, so the link is set at Create and a charge follows it up without
	// looking the subsystem up at every level.
	parent *State
	cpus   []cpuCounters // one per possible CPU; the slice is immutable
}

// Create makes the state of a new container, linked to its parent's state
// so that charges reach every ancestor.
func (ss *Subsystem) Create(c *containers.Container) (containers.State, error) {
	s := &State{cpus: make([]cpuCounters, ss.ncpu)}
	if p := c.Parent(); p != nil {
		ps, ok := p.State(ss).(*State)
		if !ok {
			return nil, unix.EINVAL
		}
		s.parent = ps
	}
	return s, nil
}

// Destroy does nothing: a removed container's usage already is in its
// ancestors, and its state is left to the garbage collector.
func (ss *Subsystem) Destroy(*containers.Container, containers.State) {}

// State returns c's cpuacct state, or nil if cpuacct is not bound to c's
// hierarchy.
func (ss *Subsystem) State(c *containers.Container) *State {
	s, _ := c.State(ss).(*State)
	return s
}

// Charge accounts user and system CPU time that task t spent on CPU cpu to
// t's container of the hierarchy cpuacct is bound to, and to every ancestor
// (to the root alone while cpuacct is not mounted). It takes no lock and
// does not allocate. A cpu outside [0, PossibleCPUs), a negative duration, a
// nil task or a task of a System without this subsystem gives an
// *fs.PathError wrapping EINVAL, and charges nothing. Charging an exited
// task charges the root.
func (ss *Subsystem) Charge(t *containers.Task, cpu int, user, system time.Duration) error {
	if t == nil || cpu < 0 || cpu >= ss.ncpu || user < 0 || system < 0 {
		return chargeError(t)
	}
	s, ok := t.State(ss).(*State)
	if !ok {
		return chargeError(t)
	}
	s.charge(cpu, uint64(user), uint64(system))
	return nil
}

func chargeError(t *containers.Task) error {
	path := "task"
	if t != nil {
		path = "task " + t.String()
	}
	return &fs.PathError{Op: "charge", Path: path, Err: unix.EINVAL}
}

// charge adds the times to s and its ancestors. cpu is in range.
func (s *State) charge(cpu int, user, sys uint64) {
	for ; s != nil; s = s.parent {
		c := &s.cpus[cpu]
		if user != 0 {
			c.user.Add(user)
		}
		if sys != 0 {
			c.sys.Add(sys)
		}
	}
}

// IsRoot reports whether s is the root state, whose values are
// system-wide.
func (s *State) IsRoot() bool { return s.parent == nil }

// PossibleCPUs returns the number of CPUs s counts.
func (s *State) PossibleCPUs() int { return len(s.cpus) }

// CPU returns the user and system time charged on CPU cpu since the last
// reset, or zeros for a CPU out of range.
func (s *State) CPU(cpu int) (user, system time.Duration) {
	if cpu < 0 || cpu >= len(s.cpus) {
		return 0, 0
	}
	u, y := s.cpuNs(cpu)
	return time.Duration(u), time.Duration(y)
}

// cpuNs reads one CPU's user and system ns since the last reset. The base is
// loaded before the counter: a base is a copy of an earlier counter value, so
// the difference never goes below zero.
func (s *State) cpuNs(cpu int) (user, sys uint64) {
	c := &s.cpus[cpu]
	ub, sb := c.userBase.Load(), c.sysBase.Load()
	return c.user.Load() - ub, c.sys.Load() - sb
}

// totals returns the user and system ns since the last reset, summed over
// CPUs.
func (s *State) totals() (user, sys uint64) {
	for i := range s.cpus {
		u, y := s.cpuNs(i)
		user += u
		sys += y
	}
	return user, sys
}

// Usage returns the CPU time charged to s since the last reset (the usage
// file).
func (s *State) Usage() time.Duration {
	u, y := s.totals()
	return time.Duration(u + y)
}

// User returns the user time charged to s since the last reset.
func (s *State) User() time.Duration {
	u, _ := s.totals()
	return time.Duration(u)
}

// System returns the system time charged to s since the last reset.
func (s *State) System() time.Duration {
	_, y := s.totals()
	return time.Duration(y)
}

// Stat returns the user and system time ever charged to s, resets
// notwithstanding, in USER_HZ ticks (the stat file).
func (s *State) Stat() (userTicks, systemTicks uint64) {
	var u, y uint64
	for i := range s.cpus {
		c := &s.cpus[i]
		u += c.user.Load()
		y += c.sys.Load()
	}
	return u / tickNs, y / tickNs
}

// Reset zeroes the usage of s (what writing 0 to its usage file does): the
// usage* files restart from zero, stat does not. Resetting the root does
// nothing. Charges that race with Reset count either before or after it.
func (s *State) Reset() {
	if s.parent == nil {
		return
	}
	for i := range s.cpus {
		c := &s.cpus[i]
		c.userBase.Store(c.user.Load())
		c.sysBase.Store(c.sys.Load())
	}
}

// Files returns the control files of today's kernel.
func (ss *Subsystem) Files() []containers.File {
	return []containers.File{
		{Name: "usage", ReadUint: readUsage, WriteUint: writeUsage},
		{Name: "usage_user", ReadUint: readUser},
		{Name: "usage_sys", ReadUint: readSys},
		{Name: "usage_percpu", Read: readPerCPU(true, true)},
		{Name: "usage_percpu_user", Read: readPerCPU(true, false)},
		{Name: "usage_percpu_sys", Read: readPerCPU(false, true)},
		{Name: "usage_all", Read: readAll},
		{Name: "stat", Read: readStatFile},
	}
}

// stateOf returns the state a file handler runs for. The framework always
// passes a *State to this subsystem's handlers.
func stateOf(fc *containers.FileContext) (*State, bool) {
	s, ok := fc.State.(*State)
	return s, ok
}

func readUsage(fc *containers.FileContext) uint64 {
	if s, ok := stateOf(fc); ok {
		u, y := s.totals()
		return u + y
	}
	return 0
}

func readUser(fc *containers.FileContext) uint64 {
	if s, ok := stateOf(fc); ok {
		u, _ := s.totals()
		return u
	}
	return 0
}

func readSys(fc *containers.FileContext) uint64 {
	if s, ok := stateOf(fc); ok {
		_, y := s.totals()
		return y
	}
	return 0
}

// writeUsage resets on 0 (parsed by the framework as kstrtoull does) and
// refuses anything else, as the kernel's cpuusage_write.
func writeUsage(fc *containers.FileContext, v uint64) error {
	if v != 0 {
		return unix.EINVAL
	}
	s, ok := stateOf(fc)
	if !ok {
		return unix.EINVAL
	}
	s.Reset()
	return nil
}

// readPerCPU returns the reader of usage_percpu (user and sys),
// usage_percpu_user or usage_percpu_sys: "%d " per possible CPU, then "\n".
func readPerCPU(user, sys bool) func(*containers.FileContext, io.Writer) error {
	return func(fc *containers.FileContext, w io.Writer) error {
		s, ok := stateOf(fc)
		if !ok {
			return unix.EINVAL
		}
		b := make([]byte, 0, 21*len(s.cpus)+1)
		for i := range s.cpus {
			u, y := s.cpuNs(i)
			var v uint64
			if user {
				v += u
			}
			if sys {
				v += y
			}
			b = strconv.AppendUint(b, v, 10)
			b = append(b, ' ')
		}
		b = append(b, '\n')
		_, err := w.Write(b)
		return err
	}
}

// readAll renders usage_all: a header, then "<cpu> <user> <sys>\n" per CPU.
func readAll(fc *containers.FileContext, w io.Writer) error {
	s, ok := stateOf(fc)
	if !ok {
		return unix.EINVAL
	}
	b := make([]byte, 0, 16+48*len(s.cpus))
	b = append(b, "cpu user system\n"...)
	for i := range s.cpus {
		u, y := s.cpuNs(i)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, u, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, y, 10)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// readStatFile renders stat: "user <ticks>\nsystem <ticks>\n".
func readStatFile(fc *containers.FileContext, w io.Writer) error {
	s, ok := stateOf(fc)
	if !ok {
		return unix.EINVAL
	}
	u, y := s.Stat()
	b := make([]byte, 0, 64)
	b = append(b, "user "...)
	b = strconv.AppendUint(b, u, 10)
	b = append(b, "\nsystem "...)
	b = strconv.AppendUint(b, y, 10)
	b = append(b, '\n')
	_, err := w.Write(b)
	return err
}
