package cpuset_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

var fuzzFiles = []string{
	"cpuset.cpus", "cpuset.mems", "cpuset.cpu_exclusive", "cpuset.mem_exclusive",
	"cpuset.mem_hardwall", "cpuset.memory_migrate", "cpuset.sched_load_balance",
	"cpuset.memory_spread_page", "cpuset.memory_spread_slab", "cpuset.sched_relax_domain_level",
	"cpuset.memory_pressure", "cpuset.effective_cpus", "cpuset.memory_pressure_enabled",
	"cgroup.clone_children",
}

// FuzzWriteFile drives a small tree of cpusets with writes of any bytes and
// moves of a task, and checks after every step that a failed write changed
// nothing, that every error is an errno the kernel returns, and that the
// tree keeps the kernel's invariants: children are subsets of their parent
// (exclusive flags included), exclusive siblings do not overlap, and a
// cpuset with a task has CPUs and memory nodes.
func FuzzWriteFile(f *testing.F) {
	f.Add([]byte{0x20, 0x21, 0x2e, 0x40, 0x60, 0x61, 0x40, 0x42}, "0-3;0;1;1-2;1;")
	f.Add([]byte{0x20, 0x21, 0x22, 0x23, 0x40, 0x41, 0x42, 0x43, 0x2e, 0x20}, "0-7;0-1;1;1;0-3;0;1;1;x;\n")
	f.Add([]byte{0x2d, 0x40, 0x41, 0x60, 0x61, 0x62, 0x82}, "1;;;4-5;1;1;0")
	f.Fuzz(func(t *testing.T, ops []byte, datas string) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		pieces := strings.Split(datas, ";")
		ss := cpuset.New(cpuset.WithTopology(topology.Uniform(8, 2)))
		sys, err := containers.New([]containers.Subsystem{ss})
		if err != nil {
			t.Fatal(err)
		}
		defer sys.Close(context.Background())
		h, err := sys.MountString("cpuset")
		if err != nil {
			t.Fatal(err)
		}
		root := h.Root()
		a, _ := root.Mkdir("a")
		b, _ := a.Mkdir("b")
		c, _ := root.Mkdir("c")
		d, _ := c.Mkdir("d")
		cs := []*containers.Container{root, a, b, c, d}
		task, _ := sys.NewTask(1)
		for i, o := range ops {
			target := cs[int(o>>5)%len(cs)]
			data := pieces[i%len(pieces)]
			switch k := int(o & 0x1f); {
			case k < len(fuzzFiles):
				name := fuzzFiles[k]
				if target.IsRoot() || name != "cpuset.memory_pressure_enabled" {
					before, _ := target.ReadFile(name)
					err := target.WriteFile(name, []byte(data))
					after, _ := target.ReadFile(name)
					if err != nil && !bytes.Equal(before, after) {
						t.Fatalf("failed write %q to %s/%s (%v) changed %q to %q", data, target, name, err, before, after)
					}
					checkErrno(t, err, unix.EINVAL, unix.ERANGE, unix.EOVERFLOW, unix.EACCES, unix.EBUSY, unix.ENOSPC, unix.E2BIG)
				}
			case k == len(fuzzFiles):
				checkErrno(t, target.Attach(task), unix.ENOSPC)
			default:
				checkErrno(t, root.Attach(task))
			}
			checkInvariants(t, ss, cs)
		}
	})
}

func checkErrno(t *testing.T, err error, allowed ...unix.Errno) {
	t.Helper()
	if err == nil {
		return
	}
	e := errnoOf(err)
	if slices.Contains(allowed, e) {
		return
	}
	t.Fatalf("unexpected error %v", err)
}

func checkInvariants(t *testing.T, ss *cpuset.Subsystem, cs []*containers.Container) {
	t.Helper()
	flag := func(c *containers.Container, name string) bool {
		b, err := c.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b) == "1\n"
	}
	for _, c := range cs {
		cpus, mems := ss.CPUs(c), ss.Mems(c)
		for _, file := range []string{"cpuset.cpus", "cpuset.effective_cpus", "cpuset.mems", "cpuset.effective_mems"} {
			b, _ := c.ReadFile(file)
			want := cpus
			if strings.HasSuffix(file, "mems") {
				want = mems
			}
			if string(b) != want.String()+"\n" {
				t.Fatalf("%s/%s reads %q, the set is %v", c, file, b, want)
			}
		}
		if c.TaskCount() > 0 && (cpus.IsEmpty() || mems.IsEmpty()) {
			t.Fatalf("%s has tasks but cpus %q mems %q", c, cpus, mems)
		}
		p := c.Parent()
		if p == nil {
			continue
		}
		if !cpus.SubsetOf(ss.CPUs(p)) || !mems.SubsetOf(ss.Mems(p)) {
			t.Fatalf("%s (%v/%v) is not a subset of %s (%v/%v)", c, cpus, mems, p, ss.CPUs(p), ss.Mems(p))
		}
		for _, f := range []string{"cpuset.cpu_exclusive", "cpuset.mem_exclusive"} {
			if flag(c, f) && !flag(p, f) {
				t.Fatalf("%s has %s but its parent does not", c, f)
			}
		}
		for _, s := range p.Children() {
			if s == c {
				continue
			}
			if (flag(c, "cpuset.cpu_exclusive") || flag(s, "cpuset.cpu_exclusive")) && cpus.Intersects(ss.CPUs(s)) {
				t.Fatalf("%s and %s overlap in CPUs with one exclusive", c, s)
			}
			if (flag(c, "cpuset.mem_exclusive") || flag(s, "cpuset.mem_exclusive")) && mems.Intersects(ss.Mems(s)) {
				t.Fatalf("%s and %s overlap in nodes with one exclusive", c, s)
			}
		}
	}
}
