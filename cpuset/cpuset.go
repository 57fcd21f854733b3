// Package cpuset is the cpuset subsystem of the containers framework: it
// confines the tasks of each container to a set of CPUs and memory nodes,
// with the file names, list syntax, validation rules and errnos of Linux's
// cgroup v1 cpuset controller.
//
// Each container has a set of CPUs (cpuset.cpus) and of memory nodes
// (cpuset.mems), both subsets of its parent's, and flags. The root takes the
// machine's online CPUs and memory nodes, from the host (topology.Host) or
// from a made-up machine given with WithTopology; its sets are read-only.
// A task cannot move into a container whose CPUs or memory nodes are
// empty (ENOSPC).
//
// When a task moves into a container, and for every task of a container
// whose CPUs change, the subsystem calls its Affinity hook with the new
// CPUs: the default Recorder only remembers them; OSAffinity applies them to
// real threads with sched_setaffinity.
//
// # Files
//
// The control files, named "cpuset.<name>" unless the hierarchy is mounted
// noprefix:
//
//	cpus, mems                        0644  list ("0-3,5"), see ParseListLimit
//	effective_cpus, effective_mems    0444  list; equal to cpus and mems
//	cpu_exclusive, mem_exclusive      0644  0 or 1; any nonzero integer sets
//	mem_hardwall, memory_migrate      0644  0 or 1
//	sched_load_balance                0644  0 or 1 (1 in a new container)
//	memory_spread_page, _slab         0644  0 or 1 (copied from the parent)
//	sched_relax_domain_level          0644  -1 to Limits.MaxRelaxDomainLevel
//	memory_pressure                   0444  events per second × 1000
//	memory_pressure_enabled           0644  root only; enables the meter
//
// # Validation
//
// A write to cpus, mems or a flag is checked as the kernel checks it, in
// this order, and changes nothing if it fails:
//
//   - cpus or mems of the root: EACCES;
//   - bad syntax: EINVAL (or EOVERFLOW, ERANGE: see ParseListLimit); a CPU
//     number at or above Topology.PossibleCPUs: ERANGE; a node at or above
//     Limits.MaxNodes: ERANGE; a CPU or node that the root lacks: EINVAL;
//   - a write that leaves cpus or mems as they are succeeds at once;
//   - a child that would no longer be a subset (its CPUs, nodes, and
//     exclusive flags): EBUSY;
//   - (not in the root) the result not a subset of the parent: EACCES;
//   - an exclusive CPU or node set overlapping a sibling's: EINVAL;
//   - emptying the CPUs or nodes of a container that has tasks: ENOSPC.
//
// # Concurrency
//
// A Subsystem is safe for concurrent use and may serve several Systems
// (its Affinity hook is then shared: the default Recorder, keyed by task
// ID, would mix up tasks of the same ID).
// Each container's settings are an immutable value behind an atomic
// pointer: file reads and the accessors take no lock, and writes, which the
// framework serialises with its structure lock, replace the value as a
// whole. The Affinity hook runs under the structure lock.
package cpuset

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// Name is the subsystem's name, and the prefix of its control files.
const Name = "cpuset"

// Subsystem is the cpuset subsystem. Make it with New; its configuration is
// fixed there, so all its methods are safe for concurrent use.
type Subsystem struct {
	topo     topology.Topology
	limits   Limits
	rootCPUs Set // the online CPUs
	rootMems Set // the memory nodes with memory
	err      error
	affinity Affinity
	forget   func(*containers.Task) // the affinity's Forget method, or nil
	logger   *slog.Logger
	now      func() time.Time
}

// The optional interfaces of the framework that Subsystem implements.
var (
	_ containers.Subsystem    = (*Subsystem)(nil)
	_ containers.CanAttacher  = (*Subsystem)(nil)
	_ containers.Attacher     = (*Subsystem)(nil)
	_ containers.Exiter       = (*Subsystem)(nil)
	_ containers.PostCloner   = (*Subsystem)(nil)
	_ containers.FileProvider = (*Subsystem)(nil)
)

// An Option configures a Subsystem at New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config collects the options of New.
type config struct {
	topo     *topology.Topology
	limits   Limits
	affinity Affinity
	logger   *slog.Logger
	now      func() time.Time
}

// WithTopology gives the machine the subsystem models: the root's CPUs are
// t.OnlineCPUs and its memory nodes t.Nodes, and CPU numbers must be below
// t.PossibleCPUs. Without it the host's topology is used. An invalid
// topology (no online CPU or node, a number out of range, more than MaxBits
// CPUs) makes containers.New fail with EINVAL.
func WithTopology(t topology.Topology) Option {
	return optionFunc(func(c *config) { c.topo = &t })
}

// WithLimits gives the kernel's build-time limits the subsystem models.
// Zero fields keep their defaults (see Limits).
func WithLimits(l Limits) Option {
	return optionFunc(func(c *config) { c.limits = l })
}

// WithAffinity gives the hook that applies a task's CPUs when it moves into
// a container and when its container's CPUs change. The default is a new
// Recorder.
func WithAffinity(a Affinity) Option {
	return optionFunc(func(c *config) {
		if a != nil {
			c.affinity = a
		}
	})
}

// WithLogger gives the logger to which errors of the Affinity hook are
// reported (they cannot fail the move or the write that caused them). The
// default discards them.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithClock gives the clock of the memory-pressure meter, which counts in
// whole seconds. It is called concurrently, without locks. The default is
// time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// New returns a cpuset subsystem to pass to containers.New.
func New(opts ...Option) *Subsystem {
	cfg := config{
		logger: slog.New(slog.DiscardHandler),
		now:    time.Now,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	ss := &Subsystem{affinity: cfg.affinity, logger: cfg.logger, now: cfg.now}
	if ss.affinity == nil {
		ss.affinity = &Recorder{}
	}
	if f, ok := ss.affinity.(interface{ Forget(*containers.Task) }); ok {
		ss.forget = f.Forget
	}
	limits := cfg.limits
	if cfg.topo != nil {
		ss.topo = *cfg.topo
	} else {
		ss.topo = topology.Host()
		host := HostLimits()
		if limits.NRCPUs == 0 {
			limits.NRCPUs = host.NRCPUs
		}
		if limits.MaxNodes == 0 {
			limits.MaxNodes = host.MaxNodes
		}
	}
	ss.limits = limits.withDefaults(ss.topo)
	ss.err = ss.checkTopology()
	if ss.err == nil {
		ss.rootCPUs = Of(ss.topo.OnlineCPUs...)
		ss.rootMems = Of(ss.topo.Nodes...)
	}
	return ss
}

// checkTopology validates the topology against the limits.
func (ss *Subsystem) checkTopology() error {
	t, l := &ss.topo, &ss.limits
	if t.PossibleCPUs < 1 || t.PossibleCPUs > MaxBits || len(t.OnlineCPUs) == 0 ||
		t.PossibleNodes < 1 || t.PossibleNodes > l.MaxNodes || len(t.Nodes) == 0 {
		return unix.EINVAL
	}
	for _, c := range t.OnlineCPUs {
		if c < 0 || c >= t.PossibleCPUs {
			return unix.EINVAL
		}
	}
	for _, n := range t.Nodes {
		if n < 0 || n >= t.PossibleNodes {
			return unix.EINVAL
		}
	}
	return nil
}

// Name returns Name.
func (ss *Subsystem) Name() string { return Name }

// Topology returns the machine the subsystem models.
func (ss *Subsystem) Topology() topology.Topology {
	t := ss.topo
	t.OnlineCPUs = append([]int(nil), t.OnlineCPUs...)
	t.Nodes = append([]int(nil), t.Nodes...)
	return t
}

// Limits returns the kernel limits the subsystem models, defaults filled in.
func (ss *Subsystem) Limits() Limits { return ss.limits }

// Affinity returns the subsystem's affinity hook: the one given with
// WithAffinity, or the default *Recorder.
func (ss *Subsystem) Affinity() Affinity { return ss.affinity }

// flags are a cpuset's flag bits.
type flags uint8

const (
	cpuExclusive flags = 1 << iota
	memExclusive
	memHardwall
	memoryMigrate
	schedLoadBalance
	spreadPage
	spreadSlab
)

// settings are a cpuset's masks and flags. A value is never modified once
// published through state.cur.
type settings struct {
	cpus, mems Set
	flags      flags
	relax      int64 // sched_relax_domain_level
}

// subsetOf is the kernel's is_cpuset_subset: masks and exclusive flags.
func (s *settings) subsetOf(p *settings) bool {
	excl := s.flags & (cpuExclusive | memExclusive)
	return s.cpus.SubsetOf(p.cpus) && s.mems.SubsetOf(p.mems) && excl&^p.flags == 0
}

// state is a container's cpuset (the kernel's struct cpuset).
type state struct {
	containers.CSS
	root *state // the root state of the same System; itself for a root

	cur atomic.Pointer[settings] // replaced under the System's lock

	pressure fmeter
	// pressureEnabled is memory_pressure_enabled; used in the root only.
	pressureEnabled atomic.Bool
}

func (st *state) settings() *settings { return st.cur.Load() }

// stateOf returns c's cpuset, or nil if ss is not bound to c's hierarchy.
func (ss *Subsystem) stateOf(c *containers.Container) *state {
	if c == nil {
		return nil
	}
	st, _ := c.State(ss).(*state)
	return st
}

// Create makes the cpuset of a new container: for the System's root, the
// machine's online CPUs and memory nodes, both exclusive; for a child, empty
// sets, sched_load_balance on, the memory_spread flags of the parent and
// sched_relax_domain_level -1. If the parent's cgroup.clone_children is set
// and no sibling is cpu or mem exclusive, the child starts with the parent's
// CPUs and memory nodes.
func (ss *Subsystem) Create(c *containers.Container) (containers.State, error) {
	p := c.Parent()
	if p == nil {
		if ss.err != nil {
			return nil, ss.err
		}
		st := &state{}
		st.root = st
		st.cur.Store(&settings{
			cpus:  ss.rootCPUs,
			mems:  ss.rootMems,
			flags: cpuExclusive | memExclusive | schedLoadBalance,
			relax: -1,
		})
		return st, nil
	}
	ps := ss.stateOf(p)
	if ps == nil {
		return nil, unix.EINVAL
	}
	pset := ps.settings()
	s := &settings{flags: schedLoadBalance | pset.flags&(spreadPage|spreadSlab), relax: -1}
	if p.CloneChildren() && !ss.exclusiveChild(p, nil) {
		s.cpus, s.mems = pset.cpus, pset.mems
	}
	st := &state{root: ps.root}
	st.cur.Store(s)
	return st, nil
}

// exclusiveChild reports whether a child of p other than skip is cpu or mem
// exclusive.
func (ss *Subsystem) exclusiveChild(p, skip *containers.Container) bool {
	for _, k := range p.Children() {
		if k == skip {
			continue
		}
		if ks := ss.stateOf(k); ks != nil && ks.settings().flags&(cpuExclusive|memExclusive) != 0 {
			return true
		}
	}
	return false
}

// Destroy releases a cpuset; nothing outlives it.
func (ss *Subsystem) Destroy(*containers.Container, containers.State) {}

// PostClone gives a container made by System.Clone its parent's CPUs and
// memory nodes, unless a sibling is cpu or mem exclusive; then they stay
// empty and the attach that follows fails with ENOSPC (the 2.6.24 kernel's
// cpuset_post_clone).
func (ss *Subsystem) PostClone(c *containers.Container) {
	st, ps := ss.stateOf(c), ss.stateOf(c.Parent())
	if st == nil || ps == nil || ss.exclusiveChild(c.Parent(), c) {
		return
	}
	n := *st.settings()
	pset := ps.settings()
	n.cpus, n.mems = pset.cpus, pset.mems
	st.cur.Store(&n)
}

// CanAttach refuses a move into a container whose CPUs or memory nodes are
// empty with ENOSPC.
func (ss *Subsystem) CanAttach(ac *containers.AttachContext) error {
	st := ss.stateOf(ac.Container())
	if st == nil {
		return unix.EINVAL
	}
	if s := st.settings(); s.cpus.IsEmpty() || s.mems.IsEmpty() {
		return unix.ENOSPC
	}
	return nil
}

// Attach gives the tasks that moved the CPUs of their new container,
// through the Affinity hook.
func (ss *Subsystem) Attach(ac *containers.AttachContext) {
	st := ss.stateOf(ac.Container())
	if st == nil {
		return
	}
	cpus := st.settings().cpus
	for t := range ac.All() {
		ss.setAffinity(t, cpus)
	}
}

// Exit tells the Affinity hook, if it has a Forget method (as Recorder
// does), that t is gone.
func (ss *Subsystem) Exit(t *containers.Task) {
	if ss.forget != nil {
		ss.forget(t)
	}
}

// setAffinity calls the hook and reports its error.
func (ss *Subsystem) setAffinity(t *containers.Task, cpus Set) {
	if err := ss.affinity.SetAffinity(t, cpus); err != nil {
		ss.logger.Warn("cpuset: cannot set the affinity of a task",
			"task", int(t.ID()), "cpus", cpus.String(), "err", err)
	}
}

// updateAffinity gives every task of c the CPUs cpus. It runs under the
// System's lock, which keeps tasks from moving meanwhile; a task that exits
// meanwhile may still be given them.
func (ss *Subsystem) updateAffinity(c *containers.Container, cpus Set) {
	h := c.Hierarchy()
	sys := h.System()
	for id := range c.Tasks() {
		t, err := sys.Task(id)
		if err != nil || t.Container(h) != c { // exited, or the ID was reused
			continue
		}
		ss.setAffinity(t, cpus)
	}
}

// CPUs returns the CPUs of c (cpuset.cpus), or the empty set if the
// subsystem is not bound to c's hierarchy.
func (ss *Subsystem) CPUs(c *containers.Container) Set {
	if st := ss.stateOf(c); st != nil {
		return st.settings().cpus
	}
	return Set{}
}

// Mems returns the memory nodes of c (cpuset.mems), or the empty set if
// the subsystem is not bound to c's hierarchy.
func (ss *Subsystem) Mems(c *containers.Container) Set {
	if st := ss.stateOf(c); st != nil {
		return st.settings().mems
	}
	return Set{}
}

// taskState returns t's cpuset, or nil if t is not of a System of ss.
func (ss *Subsystem) taskState(t *containers.Task) *state {
	if t == nil {
		return nil
	}
	st, _ := t.State(ss).(*state)
	return st
}

// TaskCPUs returns the CPUs of t's cpuset: the machine's online CPUs while
// the subsystem is not mounted or t has exited, the empty set if t is not
// of a System of ss.
func (ss *Subsystem) TaskCPUs(t *containers.Task) Set {
	if st := ss.taskState(t); st != nil {
		return st.settings().cpus
	}
	return Set{}
}

// ProcCPUSet returns the content of /proc/PID/cpuset for t: the path of
// its cpuset in the hierarchy the subsystem is mounted in, and a newline
// ("/jobs/web\n"); "/\n" while the subsystem is not mounted or after t
// exited. It returns "" if t is not of a System of ss.
func (ss *Subsystem) ProcCPUSet(t *containers.Task) string {
	st := ss.taskState(t)
	if st == nil {
		return ""
	}
	return st.Container().Path() + "\n"
}

// MemoryPressureBump records a memory-pressure event (a task that had to
// reclaim memory, in the kernel) for t's cpuset, if memory_pressure_enabled
// is set in the root; the cpuset's memory_pressure file shows the filtered
// rate. Hosts call it; it takes no lock of the System.
func (ss *Subsystem) MemoryPressureBump(t *containers.Task) {
	st := ss.taskState(t)
	if st == nil || !st.root.pressureEnabled.Load() {
		return
	}
	st.pressure.markEvent(ss.now().Unix())
}
