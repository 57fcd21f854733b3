package cpuset_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// newSystem returns a System with a cpuset subsystem on a 64-CPU, 4-node
// machine (unless opts give another topology), and closes it at the end of
// the test.
func newSystem(t testing.TB, opts ...cpuset.Option) (*containers.System, *cpuset.Subsystem) {
	t.Helper()
	opts = append([]cpuset.Option{cpuset.WithTopology(topology.Uniform(64, 4))}, opts...)
	ss := cpuset.New(opts...)
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return sys, ss
}

// mount mounts opts ("cpuset", "cpuset,noprefix", ...) or fails the test.
func mount(t testing.TB, sys *containers.System, opts string) *containers.Hierarchy {
	t.Helper()
	h, err := sys.MountString(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mkdir(t testing.TB, h *containers.Hierarchy, path string) *containers.Container {
	t.Helper()
	dir, name := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	if dir == "" {
		dir = "/"
	}
	p, err := h.Lookup(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Mkdir(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func write(t testing.TB, h *containers.Hierarchy, path, data string) {
	t.Helper()
	if err := h.WriteFile(path, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, h *containers.Hierarchy, path string) string {
	t.Helper()
	b, err := h.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// errnoOf returns the errno in err, or 0 for nil (-1 for an error without
// one).
func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^unix.Errno(0)
}

// The listing of spec §4.2, as a Linux 6.18 cpuset hierarchy shows it: the
// root, then what a child lacks.
var kernelRootListing = []containers.FileInfo{
	{Name: "cgroup.clone_children", Mode: 0o644},
	{Name: "cgroup.procs", Mode: 0o644},
	{Name: "cgroup.sane_behavior", Mode: 0o444},
	{Name: "cpuset.cpu_exclusive", Mode: 0o644},
	{Name: "cpuset.cpus", Mode: 0o644},
	{Name: "cpuset.effective_cpus", Mode: 0o444},
	{Name: "cpuset.effective_mems", Mode: 0o444},
	{Name: "cpuset.mem_exclusive", Mode: 0o644},
	{Name: "cpuset.mem_hardwall", Mode: 0o644},
	{Name: "cpuset.memory_migrate", Mode: 0o644},
	{Name: "cpuset.memory_pressure", Mode: 0o444},
	{Name: "cpuset.memory_pressure_enabled", Mode: 0o644},
	{Name: "cpuset.memory_spread_page", Mode: 0o644},
	{Name: "cpuset.memory_spread_slab", Mode: 0o644},
	{Name: "cpuset.mems", Mode: 0o644},
	{Name: "cpuset.sched_load_balance", Mode: 0o644},
	{Name: "cpuset.sched_relax_domain_level", Mode: 0o644},
	{Name: "notify_on_release", Mode: 0o644},
	{Name: "release_agent", Mode: 0o644},
	{Name: "tasks", Mode: 0o644},
}

func childListing(root []containers.FileInfo, prefix string) []containers.FileInfo {
	var out []containers.FileInfo
	for _, fi := range root {
		switch strings.TrimPrefix(fi.Name, prefix) {
		case "cgroup.sane_behavior", "release_agent", "memory_pressure_enabled":
			continue
		}
		out = append(out, fi)
	}
	return out
}

func TestFiles(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset")
	c := mkdir(t, h, "/a")
	if diff := cmp.Diff(kernelRootListing, h.Root().Files()); diff != "" {
		t.Errorf("root listing (-kernel +library):\n%s", diff)
	}
	if diff := cmp.Diff(childListing(kernelRootListing, "cpuset."), c.Files()); diff != "" {
		t.Errorf("child listing (-kernel +library):\n%s", diff)
	}
}

func TestFilesNoPrefix(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset,noprefix")
	c := mkdir(t, h, "/a")
	var want []containers.FileInfo
	for _, fi := range kernelRootListing {
		want = append(want, containers.FileInfo{Name: strings.TrimPrefix(fi.Name, "cpuset."), Mode: fi.Mode})
	}
	sortInfos(want)
	if diff := cmp.Diff(want, h.Root().Files()); diff != "" {
		t.Errorf("root listing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(childListing(want, ""), c.Files()); diff != "" {
		t.Errorf("child listing (-want +got):\n%s", diff)
	}
	write(t, h, "/a/cpus", "1-2")
	if got := read(t, h, "/a/cpus"); got != "1-2\n" {
		t.Errorf("cpus = %q", got)
	}
}

func sortInfos(fis []containers.FileInfo) {
	for i := range fis {
		for j := i + 1; j < len(fis); j++ {
			if fis[j].Name < fis[i].Name {
				fis[i], fis[j] = fis[j], fis[i]
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/a")
	root := map[string]string{
		"cpus": "0-63\n", "mems": "0-3\n", "effective_cpus": "0-63\n", "effective_mems": "0-3\n",
		"cpu_exclusive": "1\n", "mem_exclusive": "1\n", "mem_hardwall": "0\n", "memory_migrate": "0\n",
		"sched_load_balance": "1\n", "memory_spread_page": "0\n", "memory_spread_slab": "0\n",
		"sched_relax_domain_level": "-1\n", "memory_pressure": "0\n", "memory_pressure_enabled": "0\n",
	}
	child := map[string]string{
		"cpus": "\n", "mems": "\n", "effective_cpus": "\n", "effective_mems": "\n",
		"cpu_exclusive": "0\n", "mem_exclusive": "0\n", "mem_hardwall": "0\n", "memory_migrate": "0\n",
		"sched_load_balance": "1\n", "memory_spread_page": "0\n", "memory_spread_slab": "0\n",
		"sched_relax_domain_level": "-1\n", "memory_pressure": "0\n",
	}
	for name, want := range root {
		if got := read(t, h, "/cpuset."+name); got != want {
			t.Errorf("root %s = %q, want %q", name, got, want)
		}
	}
	for name, want := range child {
		if got := read(t, h, "/a/cpuset."+name); got != want {
			t.Errorf("child %s = %q, want %q", name, got, want)
		}
	}
	// memory_spread_* are copied from the parent, nothing else.
	write(t, h, "/a/cpuset.memory_spread_page", "1")
	write(t, h, "/a/cpuset.memory_spread_slab", "1")
	write(t, h, "/a/cpuset.memory_migrate", "1")
	write(t, h, "/a/cpuset.sched_load_balance", "0")
	write(t, h, "/a/cpuset.sched_relax_domain_level", "1")
	mkdir(t, h, "/a/b")
	for name, want := range map[string]string{
		"memory_spread_page": "1\n", "memory_spread_slab": "1\n", "memory_migrate": "0\n",
		"sched_load_balance": "1\n", "sched_relax_domain_level": "-1\n",
	} {
		if got := read(t, h, "/a/b/cpuset."+name); got != want {
			t.Errorf("grandchild %s = %q, want %q", name, got, want)
		}
	}
}

// step is one write of a scenario and what it should give.
type step struct {
	path, data string
	errno      unix.Errno
}

// A scenario starts from /a, /a/b and /c under the root of a 64-CPU,
// 4-node machine, after its setup writes (which must succeed), then does
// its steps and checks the files in want.
type scenario struct {
	name  string
	setup []string // "path data"
	steps []step
	want  map[string]string
}

var scenarios = []scenario{
	{
		name:  "root masks are read-only",
		steps: []step{{"/cpuset.cpus", "0-63", unix.EACCES}, {"/cpuset.mems", "junk", unix.EACCES}, {"/cpuset.mems", "\n", unix.EACCES}},
		want:  map[string]string{"/cpuset.cpus": "0-63\n", "/cpuset.mems": "0-3\n"},
	},
	{
		name: "cpus syntax",
		steps: []step{
			{"/a/cpuset.cpus", "0-3,8-11:2/4", 0},
			{"/a/cpuset.cpus", "a", unix.EINVAL},
			{"/a/cpuset.cpus", "0-", unix.EINVAL},
			{"/a/cpuset.cpus", "1-0", unix.EINVAL},
			{"/a/cpuset.cpus", "-1", unix.EINVAL},
			{"/a/cpuset.cpus", "0x1", unix.EINVAL},
			{"/a/cpuset.cpus", "0-1:3/2", unix.EINVAL},
			{"/a/cpuset.cpus", "64", unix.ERANGE},
			{"/a/cpuset.cpus", "100000", unix.ERANGE},
			{"/a/cpuset.cpus", "99999999999", unix.EOVERFLOW},
		},
		want: map[string]string{"/a/cpuset.cpus": "0-3,8-9\n", "/a/cpuset.effective_cpus": "0-3,8-9\n"},
	},
	{
		name:  "cpus keywords",
		steps: []step{{"/a/cpuset.cpus", "ALL:1/16", 0}, {"/c/cpuset.cpus", "N", 0}},
		want:  map[string]string{"/a/cpuset.cpus": "0,16,32,48\n", "/c/cpuset.cpus": "63\n"},
	},
	{
		name:  "cpus empty writes",
		setup: []string{"/a/cpuset.cpus 5"},
		steps: []step{{"/a/cpuset.cpus", " \n", 0}},
		want:  map[string]string{"/a/cpuset.cpus": "\n"},
	},
	{
		name:  "mems syntax and nodes",
		steps: []step{{"/a/cpuset.mems", "1,3", 0}, {"/a/cpuset.mems", "4", unix.EINVAL}, {"/a/cpuset.mems", "all", unix.EINVAL}, {"/a/cpuset.mems", "N", unix.EINVAL}, {"/a/cpuset.mems", "1023", unix.EINVAL}, {"/a/cpuset.mems", "1024", unix.ERANGE}, {"/a/cpuset.mems", "x", unix.EINVAL}},
		want:  map[string]string{"/a/cpuset.mems": "1,3\n", "/a/cpuset.effective_mems": "1,3\n"},
	},
	{
		name:  "child must be a subset of the parent",
		setup: []string{"/a/cpuset.cpus 0-3", "/a/cpuset.mems 0"},
		steps: []step{{"/a/b/cpuset.cpus", "4", unix.EACCES}, {"/a/b/cpuset.cpus", "0-4", unix.EACCES}, {"/a/b/cpuset.mems", "1", unix.EACCES}, {"/a/b/cpuset.cpus", "2-3", 0}, {"/a/b/cpuset.mems", "0", 0}},
		want:  map[string]string{"/a/b/cpuset.cpus": "2-3\n", "/a/b/cpuset.mems": "0\n"},
	},
	{
		name:  "parent cannot shrink below a child",
		setup: []string{"/a/cpuset.cpus 0-3", "/a/cpuset.mems 0-1", "/a/b/cpuset.cpus 3", "/a/b/cpuset.mems 1"},
		steps: []step{{"/a/cpuset.cpus", "0-2", unix.EBUSY}, {"/a/cpuset.cpus", "\n", unix.EBUSY}, {"/a/cpuset.mems", "0", unix.EBUSY}, {"/a/cpuset.cpus", "3-5", 0}},
		want:  map[string]string{"/a/cpuset.cpus": "3-5\n", "/a/cpuset.mems": "0-1\n"},
	},
	{
		name:  "children subset is checked before the parent subset",
		setup: []string{"/a/cpuset.cpus 0-3", "/a/b/cpuset.cpus 3"},
		steps: []step{{"/a/cpuset.cpus", "0-1,63", unix.EBUSY}},
	},
	{
		name:  "exclusive needs an exclusive parent",
		setup: []string{"/a/cpuset.cpus 0-3"},
		steps: []step{{"/a/b/cpuset.cpu_exclusive", "1", unix.EACCES}, {"/a/b/cpuset.mem_exclusive", "1", unix.EACCES}, {"/a/cpuset.cpu_exclusive", "1", 0}, {"/a/b/cpuset.cpu_exclusive", "1", 0}, {"/a/cpuset.cpu_exclusive", "0", unix.EBUSY}},
		want:  map[string]string{"/a/cpuset.cpu_exclusive": "1\n", "/a/b/cpuset.cpu_exclusive": "1\n", "/a/b/cpuset.mem_exclusive": "0\n"},
	},
	{
		name:  "exclusive siblings",
		setup: []string{"/a/cpuset.cpus 0-3", "/a/cpuset.mems 0", "/a/cpuset.cpu_exclusive 1"},
		steps: []step{
			{"/c/cpuset.cpus", "3-4", unix.EINVAL},
			{"/c/cpuset.cpus", "4-5", 0},
			{"/c/cpuset.mems", "0", 0}, // a is not mem_exclusive
			{"/a/cpuset.mem_exclusive", "1", unix.EINVAL},
			{"/c/cpuset.mems", "1", 0},
			{"/a/cpuset.mem_exclusive", "1", 0},
			{"/c/cpuset.mems", "0-1", unix.EINVAL},
			{"/c/cpuset.cpu_exclusive", "1", 0},
			{"/a/cpuset.cpus", "0-4", unix.EINVAL},
		},
		want: map[string]string{"/c/cpuset.cpus": "4-5\n", "/c/cpuset.mems": "1\n", "/a/cpuset.cpus": "0-3\n"},
	},
	{
		name:  "turning exclusive on while overlapping",
		setup: []string{"/a/cpuset.cpus 0-3", "/c/cpuset.cpus 3"},
		steps: []step{{"/a/cpuset.cpu_exclusive", "1", unix.EINVAL}, {"/c/cpuset.cpu_exclusive", "2", unix.EINVAL}},
		want:  map[string]string{"/a/cpuset.cpu_exclusive": "0\n", "/c/cpuset.cpu_exclusive": "0\n"},
	},
	{
		name:  "flags take any integer",
		steps: []step{{"/a/cpuset.mem_hardwall", "2", 0}, {"/a/cpuset.memory_migrate", "0x1", 0}, {"/a/cpuset.memory_spread_page", "+1\n", 0}, {"/a/cpuset.memory_spread_slab", "-1", unix.EINVAL}, {"/a/cpuset.sched_load_balance", "abc", unix.EINVAL}, {"/a/cpuset.cpu_exclusive", " 1", unix.EINVAL}, {"/a/cpuset.mem_exclusive", "99999999999999999999999", unix.ERANGE}},
		want:  map[string]string{"/a/cpuset.mem_hardwall": "1\n", "/a/cpuset.memory_migrate": "1\n", "/a/cpuset.memory_spread_page": "1\n", "/a/cpuset.memory_spread_slab": "0\n"},
	},
	{
		name:  "sched_relax_domain_level",
		steps: []step{{"/a/cpuset.sched_relax_domain_level", "-2", unix.EINVAL}, {"/a/cpuset.sched_relax_domain_level", "4", unix.EINVAL}, {"/a/cpuset.sched_relax_domain_level", "3", 0}, {"/a/cpuset.sched_relax_domain_level", "abc", unix.EINVAL}, {"/cpuset.sched_relax_domain_level", "0", 0}},
		want:  map[string]string{"/a/cpuset.sched_relax_domain_level": "3\n", "/cpuset.sched_relax_domain_level": "0\n"},
	},
	{
		name:  "read-only files",
		steps: []step{{"/a/cpuset.memory_pressure", "0", unix.EINVAL}, {"/a/cpuset.effective_cpus", "0", unix.EINVAL}, {"/a/cpuset.effective_mems", "0", unix.EINVAL}, {"/a/cpuset.memory_pressure_enabled", "1", unix.ENOENT}},
	},
	{
		name:  "memory_pressure_enabled",
		steps: []step{{"/cpuset.memory_pressure_enabled", "7", 0}},
		want:  map[string]string{"/cpuset.memory_pressure_enabled": "1\n"},
	},
	{
		name:  "root flags",
		setup: []string{"/a/cpuset.cpus 1", "/a/cpuset.cpu_exclusive 1"},
		steps: []step{{"/cpuset.cpu_exclusive", "0", unix.EBUSY}, {"/cpuset.mem_exclusive", "0", 0}, {"/cpuset.mem_exclusive", "1", 0}},
		want:  map[string]string{"/cpuset.cpu_exclusive": "1\n"},
	},
	{
		name: "write length",
		steps: []step{
			{"/a/cpuset.cpus", "1" + strings.Repeat(" ", 100+6*64-1), 0},
			{"/a/cpuset.cpus", "2" + strings.Repeat(" ", 100+6*64), unix.E2BIG},
			{"/a/cpuset.mems", "1" + strings.Repeat(" ", 100+6*1024-1), 0},
			{"/a/cpuset.mems", "2" + strings.Repeat(" ", 100+6*1024), unix.E2BIG},
		},
		want: map[string]string{"/a/cpuset.cpus": "1\n", "/a/cpuset.mems": "1\n"},
	},
	{
		name:  "unchanged masks are not validated",
		setup: []string{"/a/cpuset.cpus 0-1"},
		steps: []step{{"/a/cpuset.cpus", "1,0", 0}},
		want:  map[string]string{"/a/cpuset.cpus": "0-1\n"},
	},
}

func runScenario(t *testing.T, sc scenario) {
	sys, _ := newSystem(t, cpuset.WithLimits(cpuset.Limits{MaxRelaxDomainLevel: 3}))
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/a")
	mkdir(t, h, "/a/b")
	mkdir(t, h, "/c")
	for _, s := range sc.setup {
		path, data, _ := strings.Cut(s, " ")
		write(t, h, path, data)
	}
	for _, st := range sc.steps {
		before, _ := h.ReadFile(st.path)
		err := h.WriteFile(st.path, []byte(st.data))
		if got := errnoOf(err); got != st.errno {
			t.Errorf("write %q to %s: %v, want errno %v", st.data, st.path, err, st.errno)
		}
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Errorf("write %q to %s: %T is not an *fs.PathError", st.data, st.path, err)
			}
			if after, _ := h.ReadFile(st.path); !bytes.Equal(after, before) {
				t.Errorf("failed write %q to %s changed it from %q to %q", st.data, st.path, before, after)
			}
		}
	}
	for path, want := range sc.want {
		if got := read(t, h, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

func TestTopologyRules(t *testing.T) {
	// CPUs 0-7 possible, 0-3 and 6 online; nodes 0-3 possible, 0 and 2
	// with memory.
	topo := topology.Topology{PossibleCPUs: 8, OnlineCPUs: []int{0, 1, 2, 3, 6}, PossibleNodes: 4, Nodes: []int{0, 2}}
	sys, ss := newSystem(t, cpuset.WithTopology(topo))
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/a")
	if got := read(t, h, "/cpuset.cpus"); got != "0-3,6\n" {
		t.Errorf("root cpus = %q", got)
	}
	if got := read(t, h, "/cpuset.mems"); got != "0,2\n" {
		t.Errorf("root mems = %q", got)
	}
	for _, st := range []step{
		{"/a/cpuset.cpus", "4", unix.EINVAL},   // possible, not online
		{"/a/cpuset.cpus", "8", unix.ERANGE},   // not possible
		{"/a/cpuset.cpus", "all", unix.EINVAL}, // 0-7
		{"/a/cpuset.cpus", "6", 0},
		{"/a/cpuset.mems", "1", unix.EINVAL},
		{"/a/cpuset.mems", "3", unix.EINVAL},
		{"/a/cpuset.mems", "2", 0},
	} {
		if got := errnoOf(h.WriteFile(st.path, []byte(st.data))); got != st.errno {
			t.Errorf("write %q to %s: errno %v, want %v", st.data, st.path, got, st.errno)
		}
	}
	if got := ss.Limits(); got != (cpuset.Limits{NRCPUs: 8, MaxNodes: 1024, MaxRelaxDomainLevel: 3}) {
		t.Errorf("Limits() = %+v", got)
	}
	if got := ss.Topology(); got.PossibleCPUs != 8 || len(got.OnlineCPUs) != 5 {
		t.Errorf("Topology() = %+v", got)
	}
}

func TestLimitsDefaults(t *testing.T) {
	for _, tc := range []struct {
		topo topology.Topology
		give cpuset.Limits
		want cpuset.Limits
	}{
		{topology.Uniform(1, 1), cpuset.Limits{}, cpuset.Limits{NRCPUs: 1, MaxNodes: 1024, MaxRelaxDomainLevel: 1}},
		{topology.Uniform(2, 1), cpuset.Limits{}, cpuset.Limits{NRCPUs: 2, MaxNodes: 1024, MaxRelaxDomainLevel: 2}},
		{topology.Uniform(64, 4), cpuset.Limits{}, cpuset.Limits{NRCPUs: 64, MaxNodes: 1024, MaxRelaxDomainLevel: 3}},
		{topology.Uniform(64, 4), cpuset.Limits{NRCPUs: 8, MaxNodes: 64, MaxRelaxDomainLevel: 5}, cpuset.Limits{NRCPUs: 64, MaxNodes: 64, MaxRelaxDomainLevel: 5}},
		{topology.Uniform(2, 8), cpuset.Limits{MaxNodes: 2}, cpuset.Limits{NRCPUs: 2, MaxNodes: 8, MaxRelaxDomainLevel: 3}},
		{topology.Uniform(4, 1), cpuset.Limits{NRCPUs: 256, MaxNodes: 100000}, cpuset.Limits{NRCPUs: 256, MaxNodes: cpuset.MaxBits, MaxRelaxDomainLevel: 2}},
	} {
		if got := cpuset.New(cpuset.WithTopology(tc.topo), cpuset.WithLimits(tc.give)).Limits(); got != tc.want {
			t.Errorf("%+v with %+v: Limits() = %+v, want %+v", tc.topo, tc.give, got, tc.want)
		}
	}
}

func TestSmallMaxNodes(t *testing.T) {
	sys, _ := newSystem(t, cpuset.WithLimits(cpuset.Limits{MaxNodes: 8}))
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/a")
	for _, st := range []step{
		{"/a/cpuset.mems", "7", unix.EINVAL},
		{"/a/cpuset.mems", "8", unix.ERANGE},
		{"/a/cpuset.mems", "1" + strings.Repeat(" ", 100+6*8), unix.E2BIG},
	} {
		if got := errnoOf(h.WriteFile(st.path, []byte(st.data))); got != st.errno {
			t.Errorf("write %q to %s: errno %v, want %v", st.data, st.path, got, st.errno)
		}
	}
}

func TestInvalidTopology(t *testing.T) {
	for _, topo := range []topology.Topology{
		{},
		{PossibleCPUs: 2, OnlineCPUs: []int{2}, PossibleNodes: 1, Nodes: []int{0}},
		{PossibleCPUs: 2, OnlineCPUs: []int{-1}, PossibleNodes: 1, Nodes: []int{0}},
		{PossibleCPUs: 2, OnlineCPUs: []int{0}, PossibleNodes: 1, Nodes: []int{1}},
		{PossibleCPUs: 2, OnlineCPUs: []int{0}, PossibleNodes: 1},
		{PossibleCPUs: 2, PossibleNodes: 1, Nodes: []int{0}},
		{PossibleCPUs: cpuset.MaxBits + 1, OnlineCPUs: []int{0}, PossibleNodes: 1, Nodes: []int{0}},
		{PossibleCPUs: 1, OnlineCPUs: []int{0}, PossibleNodes: cpuset.MaxBits + 1, Nodes: []int{0}},
	} {
		sys, err := containers.New([]containers.Subsystem{cpuset.New(cpuset.WithTopology(topo))})
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("topology %+v: New = %v, want EINVAL", topo, err)
		}
		if sys != nil {
			_ = sys.Close(context.Background())
		}
	}
}

func TestHostTopology(t *testing.T) {
	host := topology.Host()
	sys, err := containers.New([]containers.Subsystem{cpuset.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	h := mount(t, sys, "cpuset")
	want := cpuset.Of(host.OnlineCPUs...).String() + "\n"
	if got := read(t, h, "/cpuset.cpus"); got != want {
		t.Errorf("root cpus = %q, host online CPUs %q", got, want)
	}
	want = cpuset.Of(host.Nodes...).String() + "\n"
	if got := read(t, h, "/cpuset.mems"); got != want {
		t.Errorf("root mems = %q, host nodes %q", got, want)
	}
}

func TestHostLimits(t *testing.T) {
	l := cpuset.HostLimits()
	if b, err := readFileString("/sys/devices/system/cpu/kernel_max"); err == nil {
		if want := atoi(t, b) + 1; l.NRCPUs != want {
			t.Errorf("NRCPUs = %d, kernel_max+1 = %d", l.NRCPUs, want)
		}
	}
	if l.MaxNodes != 0 && (l.MaxNodes%32 != 0 || l.MaxNodes > cpuset.MaxBits) {
		t.Errorf("MaxNodes = %d is not a whole number of 32-bit words", l.MaxNodes)
	}
	if l.MaxRelaxDomainLevel != 0 {
		t.Errorf("MaxRelaxDomainLevel = %d", l.MaxRelaxDomainLevel)
	}
}

func TestAttach(t *testing.T) {
	sys, ss := newSystem(t)
	rec := ss.Affinity().(*cpuset.Recorder)
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	task, err := sys.NewTask(10)
	if err != nil {
		t.Fatal(err)
	}
	// Empty cpus, then empty mems: ENOSPC, and the task stays.
	if err := a.Attach(task); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("attach to empty cpus = %v, want ENOSPC", err)
	}
	var se *containers.SubsystemError
	if err := a.Attach(task); !errors.As(err, &se) || se.Subsystem != cpuset.Name {
		t.Errorf("attach error %v does not name the subsystem", err)
	}
	write(t, h, "/a/cpuset.cpus", "2-3")
	if err := a.Attach(task); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("attach to empty mems = %v, want ENOSPC", err)
	}
	if task.Container(h) != h.Root() || rec.Calls() != 0 {
		t.Fatalf("refused attach moved the task or set its affinity")
	}
	write(t, h, "/a/cpuset.mems", "1")
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	if got, ok := rec.CPUs(10); !ok || got.String() != "2-3" {
		t.Errorf("affinity after attach = %v, %v", got, ok)
	}
	if got := ss.ProcCPUSet(task); got != "/a\n" {
		t.Errorf("ProcCPUSet = %q", got)
	}
	if got := ss.TaskCPUs(task); got.String() != "2-3" {
		t.Errorf("TaskCPUs = %v", got)
	}
	// Every task of the cpuset follows its cpus; others do not.
	child, err := sys.Fork(task, 11)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sys.NewTask(12)
	if err != nil {
		t.Fatal(err)
	}
	write(t, h, "/a/cpuset.cpus", "4,6")
	for _, id := range []containers.TaskID{10, 11} {
		if got, ok := rec.CPUs(id); !ok || got.String() != "4,6" {
			t.Errorf("task %d affinity = %v, %v; want 4,6", id, got, ok)
		}
	}
	if _, ok := rec.CPUs(12); ok {
		t.Error("a task outside the cpuset got an affinity")
	}
	// Emptying a cpuset with tasks: ENOSPC; unchanged cpus: no calls.
	calls := rec.Calls()
	for _, path := range []string{"/a/cpuset.cpus", "/a/cpuset.mems"} {
		if err := h.WriteFile(path, []byte("\n")); !errors.Is(err, unix.ENOSPC) {
			t.Errorf("emptying %s with tasks = %v, want ENOSPC", path, err)
		}
	}
	write(t, h, "/a/cpuset.cpus", "6,4")
	write(t, h, "/a/cpuset.mems", "0-1")
	if rec.Calls() != calls {
		t.Errorf("%d affinity calls for unchanged cpus", rec.Calls()-calls)
	}
	// Back to the root: all the online CPUs.
	if err := h.Root().Attach(task); err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.CPUs(10); got.String() != "0-63" {
		t.Errorf("affinity back in the root = %v", got)
	}
	// Exited tasks are forgotten; a cpuset whose tasks left may empty.
	if err := sys.Exit(child); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.CPUs(11); ok {
		t.Error("the recorder kept an exited task")
	}
	write(t, h, "/a/cpuset.cpus", "\n")
	if err := h.Root().Attach(other); err != nil {
		t.Fatal(err)
	}
	if err := sys.Exit(other); err != nil {
		t.Fatal(err)
	}
	if got := ss.ProcCPUSet(other); got != "/\n" {
		t.Errorf("ProcCPUSet of an exited task = %q", got)
	}
}

func TestAttachProcess(t *testing.T) {
	sys, ss := newSystem(t)
	rec := ss.Affinity().(*cpuset.Recorder)
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	write(t, h, "/a/cpuset.cpus", "7")
	write(t, h, "/a/cpuset.mems", "0")
	leader, _ := sys.NewTask(20)
	if _, err := sys.ForkThread(leader, 21); err != nil {
		t.Fatal(err)
	}
	if err := a.AttachProcess(leader); err != nil {
		t.Fatal(err)
	}
	for _, id := range []containers.TaskID{20, 21} {
		if got, ok := rec.CPUs(id); !ok || got.String() != "7" {
			t.Errorf("thread %d affinity = %v, %v", id, got, ok)
		}
	}
}

func TestProcCPUSet(t *testing.T) {
	sys, ss := newSystem(t)
	task, _ := sys.NewTask(5)
	if got := ss.ProcCPUSet(task); got != "/\n" {
		t.Errorf("not mounted: %q", got)
	}
	if got := ss.TaskCPUs(task); got.String() != "0-63" {
		t.Errorf("not mounted: TaskCPUs = %v", got)
	}
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/x")
	c := mkdir(t, h, "/x/y")
	write(t, h, "/x/cpuset.cpus", "1")
	write(t, h, "/x/cpuset.mems", "0")
	write(t, h, "/x/y/cpuset.cpus", "1")
	write(t, h, "/x/y/cpuset.mems", "0")
	if err := c.Attach(task); err != nil {
		t.Fatal(err)
	}
	if got := ss.ProcCPUSet(task); got != "/x/y\n" {
		t.Errorf("mounted: %q", got)
	}
	// A task of another System, and a nil task.
	other, _ := newSystem(t)
	ot, _ := other.NewTask(5)
	if got := ss.ProcCPUSet(ot); got != "" {
		t.Errorf("foreign task: %q", got)
	}
	if got := ss.ProcCPUSet(nil); got != "" {
		t.Errorf("nil task: %q", got)
	}
	if !ss.TaskCPUs(nil).IsEmpty() || !ss.CPUs(nil).IsEmpty() || !ss.Mems(nil).IsEmpty() {
		t.Error("accessors of nil are not empty")
	}
	if got := ss.CPUs(c); got.String() != "1" {
		t.Errorf("CPUs = %v", got)
	}
	if got := ss.Mems(h.Root()); got.String() != "0-3" {
		t.Errorf("Mems(root) = %v", got)
	}
}

func TestSubsystemInTwoSystems(t *testing.T) {
	ss := cpuset.New(cpuset.WithTopology(topology.Uniform(4, 1)))
	var hs []*containers.Hierarchy
	for range 2 {
		sys, err := containers.New([]containers.Subsystem{ss})
		if err != nil {
			t.Fatal(err)
		}
		defer sys.Close(context.Background())
		h := mount(t, sys, "cpuset")
		mkdir(t, h, "/a")
		hs = append(hs, h)
	}
	write(t, hs[0], "/a/cpuset.cpus", "1")
	write(t, hs[1], "/a/cpuset.cpus", "2")
	write(t, hs[0], "/cpuset.memory_pressure_enabled", "1")
	if a, b := read(t, hs[0], "/a/cpuset.cpus"), read(t, hs[1], "/a/cpuset.cpus"); a != "1\n" || b != "2\n" {
		t.Errorf("Systems share cpusets: %q %q", a, b)
	}
	if got := read(t, hs[1], "/cpuset.memory_pressure_enabled"); got != "0\n" {
		t.Errorf("Systems share memory_pressure_enabled: %q", got)
	}
}

func TestCloneChildren(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/p")
	write(t, h, "/p/cpuset.cpus", "1-2")
	write(t, h, "/p/cpuset.mems", "0")
	write(t, h, "/p/cgroup.clone_children", "1")
	mkdir(t, h, "/p/a")
	mkdir(t, h, "/p/a/g") // clone_children is inherited
	for _, path := range []string{"/p/a", "/p/a/g"} {
		if got := read(t, h, path+"/cpuset.cpus") + read(t, h, path+"/cpuset.mems"); got != "1-2\n0\n" {
			t.Errorf("%s cpus+mems = %q, want the parent's", path, got)
		}
	}
	// With a cpu_exclusive sibling, the new child stays empty.
	write(t, h, "/p/cpuset.cpu_exclusive", "1")
	write(t, h, "/p/a/cpuset.cpu_exclusive", "1")
	mkdir(t, h, "/p/b")
	if got := read(t, h, "/p/b/cpuset.cpus") + read(t, h, "/p/b/cpuset.mems"); got != "\n\n" {
		t.Errorf("with an exclusive sibling: cpus+mems = %q, want empty", got)
	}
	// Without clone_children, nothing is copied.
	write(t, h, "/p/a/cgroup.clone_children", "0")
	mkdir(t, h, "/p/a/h")
	if got := read(t, h, "/p/a/h/cpuset.cpus"); got != "\n" {
		t.Errorf("without clone_children: cpus = %q", got)
	}
	// The mount option sets it in the root.
	sys2, _ := newSystem(t)
	h2 := mount(t, sys2, "cpuset,clone_children")
	mkdir(t, h2, "/x")
	if got := read(t, h2, "/x/cpuset.cpus"); got != "0-63\n" {
		t.Errorf("clone_children mount: cpus = %q", got)
	}
}

func TestClone(t *testing.T) {
	sys, ss := newSystem(t)
	rec := ss.Affinity().(*cpuset.Recorder)
	h := mount(t, sys, "cpuset")
	mkdir(t, h, "/p")
	write(t, h, "/p/cpuset.cpus", "8-9")
	write(t, h, "/p/cpuset.mems", "2")
	task, _ := sys.NewTask(30)
	if err := h.WriteFile("/p/tasks", []byte("30")); err != nil {
		t.Fatal(err)
	}
	c, err := sys.Clone(task, cpuset.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != "/p/node_30" || task.Container(h) != c {
		t.Fatalf("clone made %s; task in %s", c.Path(), task.Container(h).Path())
	}
	if got := read(t, h, "/p/node_30/cpuset.cpus") + read(t, h, "/p/node_30/cpuset.mems"); got != "8-9\n2\n" {
		t.Errorf("cloned cpus+mems = %q", got)
	}
	if got, _ := rec.CPUs(30); got.String() != "8-9" {
		t.Errorf("affinity after clone = %v", got)
	}
	// Exclusive cpusets elsewhere do not matter: a clone from node_30 has
	// no sibling.
	write(t, h, "/p/cpuset.cpu_exclusive", "1")
	write(t, h, "/p/node_30/cpuset.cpu_exclusive", "1")
	c2, err := sys.Clone(task, cpuset.Name, "second")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, h, c2.Path()+"/cpuset.cpus"); got != "8-9\n" {
		t.Errorf("second clone cpus = %q", got)
	}
	// An exclusive sibling (node_30) leaves a clone from /p empty, so its
	// attach fails with ENOSPC and the container is removed.
	mover, _ := sys.NewTask(31)
	if err := h.WriteFile("/p/tasks", []byte("31")); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Clone(mover, cpuset.Name, "third"); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("clone with an exclusive sibling = %v, want ENOSPC", err)
	}
	if _, err := h.Lookup("/p/third"); err == nil {
		t.Error("the refused clone was left behind")
	}
	if mover.Container(h).Path() != "/p" {
		t.Errorf("the task of the refused clone is in %s", mover.Container(h).Path())
	}
}

func TestMemoryPressure(t *testing.T) {
	var now atomic.Int64
	now.Store(1000)
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	sys, ss := newSystem(t, cpuset.WithClock(clock))
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	write(t, h, "/a/cpuset.cpus", "0")
	write(t, h, "/a/cpuset.mems", "0")
	task, _ := sys.NewTask(40)
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	// Disabled: events are not counted.
	ss.MemoryPressureBump(task)
	now.Add(1)
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "0\n" {
		t.Errorf("disabled meter = %q", got)
	}
	write(t, h, "/cpuset.memory_pressure_enabled", "1")
	// 10 events in one second: (1000-933) × 10 × 1000 / 1000 = 670 after the
	// second has passed, then a 10 s half-life.
	for range 10 {
		ss.MemoryPressureBump(task)
	}
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "0\n" {
		t.Errorf("within the second = %q", got)
	}
	now.Add(1)
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "670\n" {
		t.Errorf("after a second = %q, want 670", got)
	}
	now.Add(10)
	// 670 × 0.933 ten times, each truncated.
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "332\n" {
		t.Errorf("after ten more seconds = %q, want 332", got)
	}
	if got := read(t, h, "/cpuset.memory_pressure"); got != "0\n" {
		t.Errorf("root meter = %q, want 0", got)
	}
	now.Add(1000) // decays at most 99 steps, to 0
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "0\n" {
		t.Errorf("long after = %q", got)
	}
	// The count of one second is bounded.
	for range 2000 {
		ss.MemoryPressureBump(task)
	}
	now.Add(1)
	if got := read(t, h, "/a/cpuset.memory_pressure"); got != "67000\n" {
		t.Errorf("bounded burst = %q, want 67000", got)
	}
	ss.MemoryPressureBump(nil)
}

// failing is an Affinity that fails, to see errors reach the logger.
type failing struct{ calls atomic.Int32 }

func (f *failing) SetAffinity(*containers.Task, cpuset.Set) error {
	f.calls.Add(1)
	return unix.EPERM
}

func TestAffinityErrorsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	f := &failing{}
	sys, ss := newSystem(t, cpuset.WithAffinity(f), cpuset.WithLogger(logger))
	if ss.Affinity() != f {
		t.Fatal("Affinity() is not the hook given")
	}
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	write(t, h, "/a/cpuset.cpus", "3")
	write(t, h, "/a/cpuset.mems", "0")
	task, _ := sys.NewTask(50)
	if err := a.Attach(task); err != nil {
		t.Fatalf("a failing hook failed the attach: %v", err)
	}
	write(t, h, "/a/cpuset.cpus", "4")
	if f.calls.Load() != 2 {
		t.Errorf("%d hook calls, want 2", f.calls.Load())
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "operation not permitted") != 2 || !strings.Contains(out, "task=50") || !strings.Contains(out, "cpus=4") {
		t.Errorf("log:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRemovedContainer(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	if err := a.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadFile("cpuset.cpus"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("read of a removed cpuset = %v", err)
	}
	if err := a.WriteFile("cpuset.cpus", []byte("1")); !errors.Is(err, unix.ENODEV) {
		t.Errorf("write to a removed cpuset = %v", err)
	}
}

// TestConcurrentReads reads masks and flags while they change: every read
// is a value some write left.
func TestConcurrentReads(t *testing.T) {
	sys, _ := newSystem(t)
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	write(t, h, "/a/cpuset.mems", "0")
	task, _ := sys.NewTask(60)
	valid := map[string]bool{"\n": true, "1-2\n": true, "5\n": true}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				b, err := a.ReadFile("cpuset.cpus")
				if err != nil || !valid[string(b)] {
					t.Errorf("read %q, %v", b, err)
					return
				}
				if _, err := a.ReadFile("cpuset.memory_pressure"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 300 {
		data := []string{"1-2", "5"}[i%2]
		if err := a.WriteFile("cpuset.cpus", []byte(data)); err != nil {
			t.Error(err)
		}
		if i%3 == 0 {
			_ = a.Attach(task)
			_ = h.Root().Attach(task)
		}
	}
	if err := a.WriteFile("cpuset.cpus", []byte("\n")); err != nil {
		t.Error(err)
	}
	stop.Store(true)
	wg.Wait()
}

func readFileString(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecorder(t *testing.T) {
	sys, _ := newSystem(t)
	a, _ := sys.NewTask(1)
	b, _ := sys.NewTask(2)
	var r cpuset.Recorder
	if _, ok := r.CPUs(1); ok || r.Calls() != 0 {
		t.Fatal("the zero Recorder is not empty")
	}
	r.Forget(a) // nothing to forget
	r.SetAffinity(a, cpuset.Of(1))
	r.SetAffinity(a, cpuset.Of(2))
	r.SetAffinity(b, cpuset.Of(3))
	if got, ok := r.CPUs(1); !ok || got.String() != "2" || r.Calls() != 3 {
		t.Errorf("CPUs(1) = %v, %v after %d calls", got, ok, r.Calls())
	}
	if err := sys.Exit(a); err != nil {
		t.Fatal(err)
	}
	r.Forget(a)
	r.SetAffinity(a, cpuset.Of(4)) // exited: not recorded
	if _, ok := r.CPUs(1); ok {
		t.Error("an exited task is recorded")
	}
	// A new task with a reused ID is not forgotten for the old one.
	a2, err := sys.NewTask(1)
	if err != nil {
		t.Fatal(err)
	}
	r.SetAffinity(a2, cpuset.Of(5))
	r.Forget(a)
	if got, ok := r.CPUs(1); !ok || got.String() != "5" {
		t.Errorf("the new task 1 = %v, %v", got, ok)
	}
	if got, _ := r.CPUs(2); got.String() != "3" || r.Calls() != 5 {
		t.Errorf("task 2 = %v after %d calls", got, r.Calls())
	}
}
