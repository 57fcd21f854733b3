package cpuset

import (
	"io"
	"strings"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// Files returns the cpuset control files (see the package documentation).
// Writes run under the System's structure lock, reads without it.
func (ss *Subsystem) Files() []containers.File {
	return []containers.File{
		{
			Name:         "cpus",
			Read:         func(fc *containers.FileContext, w io.Writer) error { return writeList(w, fc, cpusOf) },
			Write:        ss.writeCPUs,
			MaxWriteSize: 100 + 6*ss.limits.NRCPUs,
		},
		{
			Name:         "mems",
			Read:         func(fc *containers.FileContext, w io.Writer) error { return writeList(w, fc, memsOf) },
			Write:        ss.writeMems,
			MaxWriteSize: 100 + 6*ss.limits.MaxNodes,
		},
		{
			Name: "effective_cpus",
			Read: func(fc *containers.FileContext, w io.Writer) error { return writeList(w, fc, cpusOf) },
		},
		{
			Name: "effective_mems",
			Read: func(fc *containers.FileContext, w io.Writer) error { return writeList(w, fc, memsOf) },
		},
		ss.flagFile("cpu_exclusive", cpuExclusive),
		ss.flagFile("mem_exclusive", memExclusive),
		ss.flagFile("mem_hardwall", memHardwall),
		ss.flagFile("memory_migrate", memoryMigrate),
		ss.flagFile("sched_load_balance", schedLoadBalance),
		ss.flagFile("memory_spread_page", spreadPage),
		ss.flagFile("memory_spread_slab", spreadSlab),
		{
			Name: "sched_relax_domain_level",
			ReadInt: func(fc *containers.FileContext) int64 {
				if st := fcState(fc); st != nil {
					return st.settings().relax
				}
				return -1
			},
			WriteInt: ss.writeRelax,
		},
		{
			Name: "memory_pressure",
			ReadUint: func(fc *containers.FileContext) uint64 {
				if st := fcState(fc); st != nil {
					return uint64(st.pressure.rate(ss.now().Unix()))
				}
				return 0
			},
		},
		{
			Name: "memory_pressure_enabled",
			ReadUint: func(fc *containers.FileContext) uint64 {
				if st := fcState(fc); st != nil && st.root.pressureEnabled.Load() {
					return 1
				}
				return 0
			},
			WriteUint: func(fc *containers.FileContext, v uint64) error {
				st := fcState(fc)
				if st == nil {
					return unix.ENODEV
				}
				st.root.pressureEnabled.Store(v != 0)
				return nil
			},
			RootOnly: true,
		},
	}
}

// fcState returns the cpuset a file handler is called for.
func fcState(fc *containers.FileContext) *state {
	st, _ := fc.State.(*state)
	return st
}

func cpusOf(s *settings) Set { return s.cpus }
func memsOf(s *settings) Set { return s.mems }

// writeList writes a mask of fc's cpuset in the kernel's read format.
func writeList(w io.Writer, fc *containers.FileContext, mask func(*settings) Set) error {
	var s string
	if st := fcState(fc); st != nil {
		s = mask(st.settings()).String()
	}
	_, err := io.WriteString(w, s+"\n")
	return err
}

// flagFile returns the file of a flag: reads 0 or 1, and any nonzero
// integer sets it, subject to validate.
func (ss *Subsystem) flagFile(name string, bit flags) containers.File {
	return containers.File{
		Name: name,
		ReadUint: func(fc *containers.FileContext) uint64 {
			if st := fcState(fc); st != nil && st.settings().flags&bit != 0 {
				return 1
			}
			return 0
		},
		WriteUint: func(fc *containers.FileContext, v uint64) error {
			st := fcState(fc)
			if st == nil {
				return unix.ENODEV
			}
			cur := st.settings()
			trial := *cur
			if v != 0 {
				trial.flags |= bit
			} else {
				trial.flags &^= bit
			}
			if err := ss.validate(fc.Container, cur, &trial); err != nil {
				return err
			}
			st.cur.Store(&trial)
			return nil
		},
	}
}

// parseMask reads a cpus or mems write as the kernel's cpuset_write_resmask
// does: a NUL ends it, surrounding whitespace is stripped, and nothing left
// means the empty set; otherwise it is a list of numbers below nbits, all
// of them in the root's mask.
func parseMask(data []byte, nbits int, root Set) (Set, error) {
	s := string(data)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	s = containers.StripSpace(s)
	if s == "" {
		return Set{}, nil
	}
	set, err := ParseListLimit(s, nbits)
	if err != nil {
		return Set{}, err
	}
	if !set.SubsetOf(root) {
		return Set{}, unix.EINVAL
	}
	return set, nil
}

func (ss *Subsystem) writeCPUs(fc *containers.FileContext, data []byte) error {
	return ss.writeMask(fc, data, true)
}

func (ss *Subsystem) writeMems(fc *containers.FileContext, data []byte) error {
	return ss.writeMask(fc, data, false)
}

// writeMask is a write to cpus (cpu) or mems: the kernel's update_cpumask
// and update_nodemask.
func (ss *Subsystem) writeMask(fc *containers.FileContext, data []byte, cpu bool) error {
	st := fcState(fc)
	if st == nil {
		return unix.ENODEV
	}
	if fc.Container.IsRoot() {
		return unix.EACCES
	}
	cur := st.settings()
	trial := *cur
	var err error
	if cpu {
		trial.cpus, err = parseMask(data, ss.topo.PossibleCPUs, ss.rootCPUs)
		if err == nil && trial.cpus.Equal(cur.cpus) {
			return nil
		}
	} else {
		trial.mems, err = parseMask(data, ss.limits.MaxNodes, ss.rootMems)
		if err == nil && trial.mems.Equal(cur.mems) {
			return nil
		}
	}
	if err != nil {
		return err
	}
	if err := ss.validate(fc.Container, cur, &trial); err != nil {
		return err
	}
	st.cur.Store(&trial)
	if cpu {
		ss.updateAffinity(fc.Container, trial.cpus)
	}
	return nil
}

func (ss *Subsystem) writeRelax(fc *containers.FileContext, v int64) error {
	st := fcState(fc)
	if st == nil {
		return unix.ENODEV
	}
	if v < -1 || v > int64(ss.limits.MaxRelaxDomainLevel) {
		return unix.EINVAL
	}
	cur := st.settings()
	if cur.relax == v {
		return nil
	}
	n := *cur
	n.relax = v
	st.cur.Store(&n)
	return nil
}

// validate checks that c may change from cur to trial (the kernel's
// validate_change, in its order). It runs under the System's lock, so the
// tree and every cpuset in it stay as they are.
func (ss *Subsystem) validate(c *containers.Container, cur, trial *settings) error {
	// Every child must stay a subset.
	for _, k := range c.Children() {
		if ks := ss.stateOf(k); ks != nil && !ks.settings().subsetOf(trial) {
			return unix.EBUSY
		}
	}
	p := c.Parent()
	if p == nil {
		return nil
	}
	ps := ss.stateOf(p)
	if ps == nil {
		return unix.EINVAL
	}
	// We must stay a subset of the parent.
	if !trial.subsetOf(ps.settings()) {
		return unix.EACCES
	}
	// Exclusive sets do not overlap a sibling's.
	for _, k := range p.Children() {
		if k == c {
			continue
		}
		ks := ss.stateOf(k)
		if ks == nil {
			continue
		}
		sib := ks.settings()
		if (trial.flags|sib.flags)&cpuExclusive != 0 && trial.cpus.Intersects(sib.cpus) {
			return unix.EINVAL
		}
		if (trial.flags|sib.flags)&memExclusive != 0 && trial.mems.Intersects(sib.mems) {
			return unix.EINVAL
		}
	}
	// A cpuset with tasks keeps some CPUs and memory nodes.
	if (!cur.cpus.IsEmpty() && trial.cpus.IsEmpty()) || (!cur.mems.IsEmpty() && trial.mems.IsEmpty()) {
		if c.TaskCount() > 0 {
			return unix.ENOSPC
		}
	}
	return nil
}
