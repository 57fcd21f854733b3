package cpuset_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/internal/kerneltest"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// kernelCpuset is where the host's cgroup v1 cpuset hierarchy is mounted.
const kernelCpuset = "/sys/fs/cgroup/cpuset"

// needKernel skips the test unless it runs as root on a machine with a
// writable cgroup v1 cpuset hierarchy and at least two online CPUs.
func needKernel(t *testing.T) {
	t.Helper()
	kerneltest.RequireRoot(t, kernelCpuset+"/cpuset.cpus")
	if len(topology.Host().OnlineCPUs) < 2 {
		t.Skip("needs two CPUs")
	}
}

// kernelDir makes a uniquely named child of the kernel's cpuset root with
// the root's CPUs and memory nodes, and removes it and everything under it
// when the test ends.
func kernelDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(kernelCpuset, kerneltest.UniqueName("tcset"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cpuset: %v", err)
	}
	t.Cleanup(func() { kerneltest.RemoveTree(t, dir) })
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(kernelCpuset, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0)
		}
		if err != nil {
			t.Fatalf("setting up %s: %v", dir, err)
		}
	}
	return dir
}

// An op is one step of a differential script: "mkdir", "rmdir", "write"
// (data to file path), "read" or "ls", on a path relative to the test's
// cpuset ("" is the cpuset itself).
type op struct{ kind, path, data string }

func mk(path string) op      { return op{"mkdir", path, ""} }
func rm(path string) op      { return op{"rmdir", path, ""} }
func w(path, data string) op { return op{"write", path, data} }
func r(path string) op       { return op{"read", path, ""} }
func ls(path string) op      { return op{"ls", path, ""} }
func attach(dir string, pid int) op {
	if dir == "" {
		return w("tasks", strconv.Itoa(pid))
	}
	return w(dir+"/tasks", strconv.Itoa(pid))
}

// kernelSide runs ops on the kernel's cgroupfs under dir.
type kernelSide struct{ dir string }

func (k kernelSide) do(o op) string {
	return kerneltest.Kernel{Dir: k.dir}.Do(o.kind, "/"+o.path, o.data)
}

// libSide runs the same ops on a library hierarchy under the container at
// path top.
type libSide struct {
	h   *containers.Hierarchy
	top string
}

func (l libSide) do(o op) string {
	return kerneltest.Library{H: l.h}.Do(o.kind, strings.TrimSuffix(l.top+"/"+o.path, "/"), o.data)
}

// cpusetFiles are the files compared after every write and at the end.
var cpusetFiles = []string{
	"cpuset.cpus", "cpuset.mems", "cpuset.effective_cpus", "cpuset.effective_mems",
	"cpuset.cpu_exclusive", "cpuset.mem_exclusive", "cpuset.mem_hardwall", "cpuset.memory_migrate",
	"cpuset.sched_load_balance", "cpuset.memory_spread_page", "cpuset.memory_spread_slab",
	"cpuset.sched_relax_domain_level", "cpuset.memory_pressure", "tasks", "cgroup.clone_children",
}

// differential runs script on a fresh kernel cpuset and on a library
// container with the same CPUs and memory nodes, and compares every
// result (kdir is from kernelDir). After each write it also compares the file written; at the end,
// every cpuset file of every container made. pids are real processes that
// the script may move; the library knows them as tasks.
func differential(t *testing.T, kdir string, script []op, pids ...int) {
	t.Helper()
	ss := cpuset.New()
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(t.Context()) })
	h, err := sys.MountString("cpuset")
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if _, err := sys.NewTask(containers.TaskID(pid)); err != nil {
			t.Fatal(err)
		}
	}
	k, l := kernelSide{kdir}, libSide{h, "/T"}
	if _, err := h.Root().Mkdir("T"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, _ := h.ReadFile("/" + f)
		if err := h.WriteFile("/T/"+f, b); err != nil {
			t.Fatal(err)
		}
	}
	dirs := []string{""}
	for i, o := range script {
		kr, lr := k.do(o), l.do(o)
		if o.kind == "write" {
			rd := op{"read", o.path, ""}
			kr += " " + k.do(rd)
			lr += " " + l.do(rd)
		}
		if o.kind == "mkdir" && kr == "ok" {
			dirs = append(dirs, o.path)
		}
		if kr != lr {
			t.Errorf("step %d %s %q %q:\n kernel:  %s\n library: %s", i, o.kind, o.path, o.data, kr, lr)
		}
	}
	for _, d := range dirs {
		if k.do(ls(d)) == "ENOENT" {
			continue
		}
		for _, f := range cpusetFiles {
			rd := r(strings.TrimPrefix(d+"/"+f, "/"))
			if kr, lr := k.do(rd), l.do(rd); kr != lr {
				t.Errorf("at the end, %s: kernel %s, library %s", rd.path, kr, lr)
			}
		}
	}
}

func TestKernelCPUsSyntax(t *testing.T) {
	needKernel(t)
	script := []op{mk("a")}
	for _, tc := range parseCases {
		script = append(script, w("a/cpuset.cpus", tc.in), w("a/cpuset.cpus", "\n"))
	}
	for _, in := range []string{"0-1", "1", "0 1", strings.Repeat(" ", 1635) + "1", strings.Repeat(" ", 1636) + "1", "0" + strings.Repeat(",", 4096)} {
		script = append(script, w("a/cpuset.cpus", in))
	}
	differential(t, kernelDir(t), script)
}

func TestKernelMemsSyntax(t *testing.T) {
	needKernel(t)
	script := []op{mk("a")}
	for _, in := range []string{
		"0", "1", "0-1", "2", "all", "ALL", "N", "0-N", "1023", "1024", "100000", "99999999999",
		"4294967295", "0-1:1/2", "x", "0\n1", "\n", " 0 ", "0,0", "00", "+0", "-1", "0x0", "\xa00",
		strings.Repeat(" ", 6243) + "0", strings.Repeat(" ", 6244) + "0",
	} {
		script = append(script, w("a/cpuset.mems", in), w("a/cpuset.mems", "\n"))
	}
	differential(t, kernelDir(t), script)
}

func TestKernelFlags(t *testing.T) {
	needKernel(t)
	script := []op{mk("a"), ls("a")}
	values := []string{"1", "0", "2", "0x1", "+1", "-1", "-0", "abc", " 1", "1 ", "08", "0x", "1\n", "99999999999999999999999", "", strings.Repeat("0", 4096) + "1"}
	for _, f := range []string{"mem_hardwall", "memory_migrate", "sched_load_balance", "memory_spread_page", "memory_spread_slab", "cpu_exclusive", "mem_exclusive", "memory_pressure", "effective_cpus", "effective_mems"} {
		for _, v := range values {
			script = append(script, w("a/cpuset."+f, v))
		}
		script = append(script, w("a/cpuset."+f, "0"))
	}
	for _, v := range []string{"-2", "-1", "0", "1", "2", "3", "4", "5", "6", "-0", "+1", "0x1", "abc", "99999999999999999999999"} {
		script = append(script, w("a/cpuset.sched_relax_domain_level", v))
	}
	script = append(script,
		w("a/cpuset.memory_spread_page", "1"), w("a/cpuset.memory_spread_slab", "1"), w("a/cpuset.memory_migrate", "1"),
		w("a/cpuset.sched_load_balance", "0"), w("a/cpuset.sched_relax_domain_level", "1"),
		mk("a/b"), w("a/cpuset.memory_pressure_enabled", "1"))
	differential(t, kernelDir(t), script)
}

// TestKernelRelaxDomainLevel compares the library's default largest
// sched_relax_domain_level with the one the kernel takes.
func TestKernelRelaxDomainLevel(t *testing.T) {
	needKernel(t)
	dir := kernelDir(t)
	kmax := -1
	for v := 0; v <= 8; v++ {
		if os.WriteFile(dir+"/cpuset.sched_relax_domain_level", []byte(strconv.Itoa(v)), 0) == nil {
			kmax = v
		}
	}
	if got := cpuset.New().Limits().MaxRelaxDomainLevel; got != kmax {
		t.Errorf("the library takes sched_relax_domain_level up to %d, the kernel up to %d", got, kmax)
	}
}

func TestKernelSubsets(t *testing.T) {
	needKernel(t)
	differential(t, kernelDir(t), []op{
		mk("a"), mk("a/b"), mk("c"),
		w("a/cpuset.cpus", "0"),
		w("a/b/cpuset.cpus", "1"),
		w("a/b/cpuset.cpus", "0-1"),
		w("a/b/cpuset.cpus", "0"),
		w("a/cpuset.cpus", "1"),
		w("a/cpuset.cpus", "\n"),
		w("a/cpuset.mems", "0"),
		w("a/b/cpuset.mems", "0"),
		w("a/cpuset.mems", "\n"),
		w("a/b/cpuset.cpus", "\n"),
		w("a/cpuset.cpus", "1"),
		w("a/cpuset.cpu_exclusive", "1"), // T is not exclusive
		w("a/cpuset.mem_exclusive", "1"),
		w("a/b/cpuset.cpu_exclusive", "1"),
		w("c/cpuset.cpus", "0-1"),
		w("cpuset.cpus", "1"), // c has CPU 0
		w("c/cpuset.cpus", "1"),
		w("cpuset.cpus", "1"),
		w("cpuset.cpus", "0"),
		rm("a"), rm("a/b"), rm("a"),
	})
}

// TestKernelExclusive makes the test's cpuset exclusive, for its children
// to be: it must be the only child of the kernel's root with CPUs, so
// the test skips if another is there.
func TestKernelExclusive(t *testing.T) {
	needKernel(t)
	differential(t, kernelDir(t), []op{
		w("cpuset.cpu_exclusive", "1"),
		w("cpuset.mem_exclusive", "1"),
		r("cpuset.cpu_exclusive"),
		mk("a"), mk("c"),
		w("a/cpuset.cpus", "0"),
		w("c/cpuset.cpus", "0-1"),
		w("a/cpuset.cpu_exclusive", "1"), // overlaps c
		w("c/cpuset.cpus", "1"),
		w("a/cpuset.cpu_exclusive", "1"),
		w("c/cpuset.cpus", "0"), // overlaps exclusive a
		w("c/cpuset.cpus", "0-1"),
		w("c/cpuset.cpu_exclusive", "1"),
		mk("a/b"),
		w("a/b/cpuset.cpus", "0"),
		w("a/b/cpuset.cpu_exclusive", "1"),
		w("a/cpuset.cpu_exclusive", "0"), // b is exclusive
		w("a/cpuset.mems", "0"),
		w("c/cpuset.mems", "0"),
		w("a/cpuset.mem_exclusive", "1"), // overlaps c
		w("c/cpuset.mems", "\n"),
		w("a/cpuset.mem_exclusive", "1"),
		w("c/cpuset.mems", "0"),
		w("a/cpuset.cpus", "0-1"), // c's CPU 1 is exclusive
		w("cpuset.cpu_exclusive", "0"),
		w("cpuset.cpus", "0"),
		rm("a/b"), rm("a"), rm("c"),
		w("cpuset.cpu_exclusive", "0"),
		w("cpuset.mem_exclusive", "0"),
	})
}

// TestKernelTasks moves a real process between kernel cpusets and the same
// task between library cpusets.
func TestKernelTasks(t *testing.T) {
	needKernel(t)
	kdir := kernelDir(t)
	pid := kerneltest.Sleeper(t)
	differential(t, kdir, []op{
		mk("a"), mk("x"),
		w("a/cpuset.cpus", "0-1"),
		attach("a", pid), // no mems
		w("a/cpuset.mems", "0"),
		attach("a", pid),
		r("a/cgroup.procs"),
		w("a/cpuset.cpus", "\n"),
		w("a/cpuset.mems", "\n"),
		w("a/cpuset.mems", " \n"),
		w("a/cpuset.cpus", "1"),
		w("a/cpuset.cpus", "0"),
		attach("x", pid),
		w("x/cpuset.cpus", "0"),
		attach("x", pid),
		w("x/cpuset.mems", "0"),
		attach("x", pid),
		w("a/cpuset.cpus", "\n"),
		w("a/cpuset.mems", "\n"),
		rm("a"),
		rm("x"),
		w("x/cgroup.procs", strconv.Itoa(pid)),
		attach("", pid),
		rm("x"),
	}, pid)
}

func TestKernelCloneChildren(t *testing.T) {
	needKernel(t)
	differential(t, kernelDir(t), []op{
		w("cgroup.clone_children", "1"),
		mk("a"),
		mk("a/g"),
		w("a/cpuset.cpus", "1"),
		w("cpuset.cpu_exclusive", "1"),
		w("a/cpuset.cpu_exclusive", "1"),
		mk("b"),
		w("a/g/cgroup.clone_children", "0"),
		mk("a/g/h"),
		rm("a/g/h"), rm("a/g"), rm("a"), rm("b"),
		w("cpuset.cpu_exclusive", "0"),
	})
}

// TestKernelProcCPUSet compares /proc/PID/cpuset with ProcCPUSet.
func TestKernelProcCPUSet(t *testing.T) {
	needKernel(t)
	kdir := kernelDir(t)
	pid := kerneltest.Sleeper(t)
	if err := os.Mkdir(kdir+"/a", 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"cpus": "1", "mems": "0"} {
		if err := os.WriteFile(kdir+"/a/cpuset."+f, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(kdir+"/a/tasks", []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fmt.Sprintf("/proc/%d/cpuset", pid))
	if err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil || cpuset.FromCPUSet(&set).String() != "1" {
		t.Errorf("the kernel set the affinity to %v, %v", cpuset.FromCPUSet(&set), err)
	}

	ss := cpuset.New()
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, err := sys.MountString("cpuset")
	if err != nil {
		t.Fatal(err)
	}
	task, err := sys.NewTask(containers.TaskID(pid))
	if err != nil {
		t.Fatal(err)
	}
	// The same path in the library's hierarchy.
	base := strings.TrimPrefix(kdir, kernelCpuset)
	top, err := h.Root().Mkdir(filepath.Base(base))
	if err != nil {
		t.Fatal(err)
	}
	a, err := top.Mkdir("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*containers.Container{top, a} {
		if err := c.WriteFile("cpuset.cpus", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile("cpuset.mems", []byte("0")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	if got := ss.ProcCPUSet(task); got != string(want) {
		t.Errorf("ProcCPUSet = %q, /proc/%d/cpuset = %q", got, pid, want)
	}
}
