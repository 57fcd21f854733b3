package cpuacct_test

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// must returns v, or panics with err: for set-up steps that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// newSystem returns a System with cpuacct alone on a cpus-CPU machine,
// closed when the test ends.
func newSystem(tb testing.TB, cpus int, opts ...cpuacct.Option) (*containers.System, *cpuacct.Subsystem) {
	tb.Helper()
	opts = append([]cpuacct.Option{cpuacct.WithTopology(topology.Uniform(cpus, 1))}, opts...)
	ss := cpuacct.New(opts...)
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return sys, ss
}

// mounted is newSystem with cpuacct mounted.
func mounted(tb testing.TB, cpus int, opts ...cpuacct.Option) (*containers.System, *cpuacct.Subsystem, *containers.Hierarchy) {
	tb.Helper()
	sys, ss := newSystem(tb, cpus, opts...)
	h, err := sys.MountString("cpuacct")
	if err != nil {
		tb.Fatal(err)
	}
	return sys, ss, h
}

var fileNames = []string{
	"cpuacct.stat", "cpuacct.usage", "cpuacct.usage_all", "cpuacct.usage_percpu",
	"cpuacct.usage_percpu_sys", "cpuacct.usage_percpu_user", "cpuacct.usage_sys",
	"cpuacct.usage_user",
}

// readAll returns the content of every cpuacct file of c.
func readAll(tb testing.TB, c *containers.Container) map[string]string {
	tb.Helper()
	m := make(map[string]string)
	for _, name := range fileNames {
		b, err := c.ReadFile(name)
		if err != nil {
			tb.Fatalf("read %s%s: %v", c.Path(), name, err)
		}
		m[name] = string(b)
	}
	return m
}

// zeros is what every cpuacct file of a fresh container holds on 2 CPUs,
// byte for byte as a fresh child of the kernel's cpuacct hierarchy reads.
var zeros = map[string]string{
	"cpuacct.stat":              "user 0\nsystem 0\n",
	"cpuacct.usage":             "0\n",
	"cpuacct.usage_all":         "cpu user system\n0 0 0\n1 0 0\n",
	"cpuacct.usage_percpu":      "0 0 \n",
	"cpuacct.usage_percpu_sys":  "0 0 \n",
	"cpuacct.usage_percpu_user": "0 0 \n",
	"cpuacct.usage_sys":         "0\n",
	"cpuacct.usage_user":        "0\n",
}

func TestFilesAndModes(t *testing.T) {
	_, _, h := mounted(t, 2)
	c := must(h.Root().Mkdir("a"))
	want := []containers.FileInfo{
		{Name: "cgroup.clone_children", Mode: 0o644},
		{Name: "cgroup.procs", Mode: 0o644},
		{Name: "cpuacct.stat", Mode: 0o444},
		{Name: "cpuacct.usage", Mode: 0o644},
		{Name: "cpuacct.usage_all", Mode: 0o444},
		{Name: "cpuacct.usage_percpu", Mode: 0o444},
		{Name: "cpuacct.usage_percpu_sys", Mode: 0o444},
		{Name: "cpuacct.usage_percpu_user", Mode: 0o444},
		{Name: "cpuacct.usage_sys", Mode: 0o444},
		{Name: "cpuacct.usage_user", Mode: 0o444},
		{Name: "notify_on_release", Mode: 0o644},
		{Name: "tasks", Mode: 0o644},
	}
	if diff := cmp.Diff(want, c.Files()); diff != "" {
		t.Errorf("child files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(zeros, readAll(t, c)); diff != "" {
		t.Errorf("fresh child (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(zeros, readAll(t, h.Root())); diff != "" {
		t.Errorf("fresh root (-want +got):\n%s", diff)
	}
}

func TestFormats(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	b := must(a.Mkdir("b"))
	other := must(h.Root().Mkdir("other"))
	task := must(sys.NewTask(1))
	if err := b.Attach(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 0, 1500*time.Millisecond, 250*time.Millisecond)
	charge(t, ss, task, 1, 30*time.Millisecond, 7*time.Millisecond)
	want := map[string]string{
		"cpuacct.stat":              "user 153\nsystem 25\n",
		"cpuacct.usage":             "1787000000\n",
		"cpuacct.usage_all":         "cpu user system\n0 1500000000 250000000\n1 30000000 7000000\n",
		"cpuacct.usage_percpu":      "1750000000 37000000 \n",
		"cpuacct.usage_percpu_sys":  "250000000 7000000 \n",
		"cpuacct.usage_percpu_user": "1500000000 30000000 \n",
		"cpuacct.usage_sys":         "257000000\n",
		"cpuacct.usage_user":        "1530000000\n",
	}
	for _, c := range []*containers.Container{b, a, h.Root()} {
		if diff := cmp.Diff(want, readAll(t, c)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.Path(), diff)
		}
	}
	if diff := cmp.Diff(zeros, readAll(t, other)); diff != "" {
		t.Errorf("sibling (-want +got):\n%s", diff)
	}
	s := ss.State(a)
	if s.Usage() != 1787*time.Millisecond || s.User() != 1530*time.Millisecond || s.System() != 257*time.Millisecond {
		t.Errorf("State: usage %v user %v system %v", s.Usage(), s.User(), s.System())
	}
	if u, y := s.CPU(1); u != 30*time.Millisecond || y != 7*time.Millisecond {
		t.Errorf("State.CPU(1) = %v, %v", u, y)
	}
	if u, y := s.CPU(2); u != 0 || y != 0 {
		t.Errorf("State.CPU(2) = %v, %v; want zeros", u, y)
	}
	if u, y := s.Stat(); u != 153 || y != 25 {
		t.Errorf("State.Stat() = %d, %d", u, y)
	}
	if s.PossibleCPUs() != 2 || ss.PossibleCPUs() != 2 || s.IsRoot() || !ss.State(h.Root()).IsRoot() {
		t.Errorf("PossibleCPUs or IsRoot wrong")
	}
}

// TestStatTicks checks that stat divides the sum of nanoseconds, not each
// CPU's share: 3 times 6 ms is one tick, not zero.
func TestStatTicks(t *testing.T) {
	sys, ss, h := mounted(t, 4)
	task := must(sys.NewTask(1))
	for cpu := range 3 {
		charge(t, ss, task, cpu, 6*time.Millisecond, 9999999)
	}
	got := string(must(h.Root().ReadFile("cpuacct.stat")))
	if want := "user 1\nsystem 2\n"; got != want {
		t.Errorf("stat = %q, want %q", got, want)
	}
	got = string(must(h.Root().ReadFile("cpuacct.usage_percpu")))
	if want := "15999999 15999999 15999999 0 \n"; got != want {
		t.Errorf("usage_percpu = %q, want %q", got, want)
	}
}

func charge(tb testing.TB, ss *cpuacct.Subsystem, task *containers.Task, cpu int, user, sys time.Duration) {
	tb.Helper()
	if err := ss.Charge(task, cpu, user, sys); err != nil {
		tb.Fatal(err)
	}
}

func TestChargeErrors(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	task := must(sys.NewTask(1))
	otherSys, err := containers.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer otherSys.Close(context.Background())
	stranger := must(otherSys.NewTask(1))
	for _, tc := range []struct {
		name      string
		task      *containers.Task
		cpu       int
		user, sys time.Duration
	}{
		{"cpu -1", task, -1, 1, 1},
		{"cpu 2", task, 2, 1, 1},
		{"negative user", task, 0, -1, 1},
		{"negative sys", task, 0, 1, -1},
		{"nil task", nil, 0, 1, 1},
		{"other System", stranger, 0, 1, 1},
	} {
		err := ss.Charge(tc.task, tc.cpu, tc.user, tc.sys)
		var pe *fs.PathError
		if !errors.Is(err, unix.EINVAL) || !errors.As(err, &pe) {
			t.Errorf("%s: %v, want an *fs.PathError wrapping EINVAL", tc.name, err)
		}
	}
	if diff := cmp.Diff(zeros, readAll(t, h.Root())); diff != "" {
		t.Errorf("failed charges changed the root (-want +got):\n%s", diff)
	}
}

func TestUsageStaysWhereSpent(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	b := must(h.Root().Mkdir("b"))
	sub := must(a.Mkdir("sub"))
	task := must(sys.NewTask(7))
	if err := sub.Attach(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 0, 100, 10)
	if err := b.Attach(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 1, 1000, 0)
	if err := sub.Rmdir(); err != nil {
		t.Fatal(err)
	}
	usage := func(c *containers.Container) string {
		return strings.TrimSpace(string(must(c.ReadFile("cpuacct.usage"))))
	}
	for c, want := range map[*containers.Container]string{a: "110", b: "1000", h.Root(): "1110"} {
		if got := usage(c); got != want {
			t.Errorf("%s usage = %s, want %s", c.Path(), got, want)
		}
	}
	// An exited task is in the root.
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 0, 5, 0)
	if got := usage(b); got != "1000" {
		t.Errorf("b usage after exit = %s", got)
	}
	if got := usage(h.Root()); got != "1115" {
		t.Errorf("root usage after exit = %s", got)
	}
}

// TestUnmounted: without a mount every task is in the root, which is
// charged; mounting shows the root's usage in the new hierarchy's root.
func TestUnmounted(t *testing.T) {
	sys, ss := newSystem(t, 2)
	task := must(sys.NewTask(1))
	charge(t, ss, task, 1, 2*time.Second, time.Second)
	h := must(sys.MountString("cpuacct"))
	got := readAll(t, h.Root())
	if want := "cpu user system\n0 0 0\n1 2000000000 1000000000\n"; got["cpuacct.usage_all"] != want {
		t.Errorf("usage_all = %q, want %q", got["cpuacct.usage_all"], want)
	}
	a := must(h.Root().Mkdir("a"))
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 0, 1, 0)
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	if err := a.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if err := h.Unmount(); err != nil {
		t.Fatal(err)
	}
	// The root state is back in the dummy hierarchy, with what it holds.
	task2 := must(sys.NewTask(2))
	charge(t, ss, task2, 0, 1, 0)
	h = must(sys.MountString("cpuacct"))
	if got := string(must(h.Root().ReadFile("cpuacct.usage"))); got != "3000000002\n" {
		t.Errorf("usage after remount = %q", got)
	}
}

func TestReset(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	b := must(a.Mkdir("b"))
	task := must(sys.NewTask(1))
	if err := b.Attach(task); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"0", "00", "0x0", "0\n", "+0", "0X0"} {
		charge(t, ss, task, 1, 3*time.Second, 50*time.Millisecond)
		before := readAll(t, a)
		rootBefore := readAll(t, h.Root())
		bBefore := readAll(t, b)
		if err := a.WriteFile("cpuacct.usage", []byte(in)); err != nil {
			t.Fatalf("write %q: %v", in, err)
		}
		want := maps.Clone(zeros)
		want["cpuacct.stat"] = before["cpuacct.stat"] // stat is never reset
		if diff := cmp.Diff(want, readAll(t, a)); diff != "" {
			t.Errorf("after writing %q (-want +got):\n%s", in, diff)
		}
		if diff := cmp.Diff(rootBefore, readAll(t, h.Root())); diff != "" {
			t.Errorf("reset changed the parent (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(bBefore, readAll(t, b)); diff != "" {
			t.Errorf("reset changed the child (-want +got):\n%s", diff)
		}
	}
	// stat kept counting through the resets: 6 charges of 3.05 s.
	if got := string(must(a.ReadFile("cpuacct.stat"))); got != "user 1800\nsystem 30\n" {
		t.Errorf("stat = %q", got)
	}
	// Usage restarts from zero after a reset.
	charge(t, ss, task, 0, 5, 6)
	if got := string(must(a.ReadFile("cpuacct.usage_all"))); got != "cpu user system\n0 5 6\n1 0 0\n" {
		t.Errorf("usage_all after reset and charge = %q", got)
	}
	// Writing nothing does nothing.
	if err := a.WriteFile("cpuacct.usage", nil); err != nil {
		t.Errorf("empty write: %v", err)
	}
	if got := string(must(a.ReadFile("cpuacct.usage"))); got != "11\n" {
		t.Errorf("usage after empty write = %q", got)
	}
}

func TestResetRefused(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	task := must(sys.NewTask(1))
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	charge(t, ss, task, 0, 42, 8)
	before := readAll(t, a)
	for _, in := range []string{"1", "abc", "-1", " 0", "0 ", "01", "0x", "0\n\n", "18446744073709551616"} {
		err := a.WriteFile("cpuacct.usage", []byte(in))
		want := unix.EINVAL
		if in == "18446744073709551616" {
			want = unix.ERANGE
		}
		var pe *fs.PathError
		if !errors.Is(err, want) || !errors.As(err, &pe) {
			t.Errorf("write %q: %v, want %v", in, err, want)
		}
	}
	for _, name := range fileNames {
		if name == "cpuacct.usage" {
			continue
		}
		if err := a.WriteFile(name, []byte("0")); !errors.Is(err, unix.EINVAL) {
			t.Errorf("write %s: %v, want EINVAL", name, err)
		}
	}
	if diff := cmp.Diff(before, readAll(t, a)); diff != "" {
		t.Errorf("refused writes changed a (-want +got):\n%s", diff)
	}
}

// TestResetRoot: as in today's kernel, the root's usage (system-wide)
// accepts the reset and keeps its values.
func TestResetRoot(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	task := must(sys.NewTask(1))
	charge(t, ss, task, 0, 42, 8)
	before := readAll(t, h.Root())
	if err := h.Root().WriteFile("cpuacct.usage", []byte("0")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, readAll(t, h.Root())); diff != "" {
		t.Errorf("root reset changed it (-want +got):\n%s", diff)
	}
	if err := h.Root().WriteFile("cpuacct.usage", []byte("5")); !errors.Is(err, unix.EINVAL) {
		t.Errorf("write 5 to the root: %v", err)
	}
}

func TestRemovedContainer(t *testing.T) {
	_, _, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	if err := a.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadFile("cpuacct.usage"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("read removed: %v", err)
	}
	if err := a.WriteFile("cpuacct.usage", []byte("0")); !errors.Is(err, unix.ENODEV) {
		t.Errorf("write removed: %v", err)
	}
}

// TestOptions: a topology without CPUs counts as one CPU, nil options are
// ignored, and the default is the host's topology.
func TestOptions(t *testing.T) {
	for _, n := range []int{0, -3} {
		if got := cpuacct.New(cpuacct.WithTopology(topology.Topology{PossibleCPUs: n})).PossibleCPUs(); got != 1 {
			t.Errorf("%d CPUs: PossibleCPUs = %d, want 1", n, got)
		}
	}
	if n, want := cpuacct.New(nil).PossibleCPUs(), topology.Host().PossibleCPUs; n != want {
		t.Errorf("default PossibleCPUs = %d, want the host's %d", n, want)
	}
	if cpuacct.New().Name() != cpuacct.Name || cpuacct.Name != "cpuacct" {
		t.Errorf("Name")
	}
}

// TestConcurrentCharges charges from two goroutines, each on its own CPU,
// while a third moves the tasks between two siblings and a fourth reads
// every file; afterwards every total is exact.
func TestConcurrentCharges(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	p := must(h.Root().Mkdir("p"))
	a := must(p.Mkdir("a"))
	b := must(p.Mkdir("b"))
	t0 := must(sys.NewTask(1))
	t1 := must(sys.NewTask(2))
	for _, task := range []*containers.Task{t0, t1} {
		if err := a.Attach(task); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20000
	userNs := []time.Duration{3, 5}
	sysNs := []time.Duration{7, 11}
	stop := make(chan struct{})
	var wg, movers sync.WaitGroup
	for cpu, task := range []*containers.Task{t0, t1} {
		wg.Go(func() {
			for range n {
				if err := ss.Charge(task, cpu, userNs[cpu], sysNs[cpu]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	movers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			dst := a
			if i%2 == 1 {
				dst = b
			}
			for _, task := range []*containers.Task{t0, t1} {
				if err := dst.Attach(task); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	movers.Go(func() {
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, name := range fileNames {
				if _, err := p.ReadFile(name); err != nil {
					t.Error(err)
					return
				}
			}
			v, err := strconv.ParseUint(strings.TrimSpace(string(must(p.ReadFile("cpuacct.usage")))), 10, 64)
			if err != nil || v < last {
				t.Errorf("p usage went from %d to %d (%v)", last, v, err)
				return
			}
			last = v
		}
	})
	wg.Wait()
	close(stop)
	movers.Wait()

	for _, c := range []*containers.Container{p, h.Root()} {
		want := "cpu user system\n0 60000 140000\n1 100000 220000\n"
		if got := string(must(c.ReadFile("cpuacct.usage_all"))); got != want {
			t.Errorf("%s usage_all = %q, want %q", c.Path(), got, want)
		}
		if got := string(must(c.ReadFile("cpuacct.stat"))); got != "user 0\nsystem 0\n" {
			t.Errorf("%s stat = %q", c.Path(), got)
		}
	}
	sa, sb := ss.State(a), ss.State(b)
	for cpu := range 2 {
		ua, ya := sa.CPU(cpu)
		ub, yb := sb.CPU(cpu)
		if ua+ub != n*userNs[cpu] || ya+yb != n*sysNs[cpu] {
			t.Errorf("cpu %d: a+b = %v user %v sys, want %v and %v", cpu, ua+ub, ya+yb, n*userNs[cpu], n*sysNs[cpu])
		}
		if ua%userNs[cpu] != 0 || ya%sysNs[cpu] != 0 || ua/userNs[cpu] != ya/sysNs[cpu] {
			t.Errorf("cpu %d: a got a part of a charge: %v user, %v sys", cpu, ua, ya)
		}
	}
}

// TestConcurrentReset: resets race with charges; none is lost from stat, and
// usage never exceeds what was charged.
func TestConcurrentReset(t *testing.T) {
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	task := must(sys.NewTask(1))
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			if err := ss.Charge(task, i%2, 10*time.Millisecond, 0); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 2000 {
			if err := a.WriteFile("cpuacct.usage", []byte("0")); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	if u, _ := ss.State(a).Stat(); u != n {
		t.Errorf("stat user = %d, want %d", u, n)
	}
	if u := ss.State(a).Usage(); u > n*10*time.Millisecond {
		t.Errorf("usage %v exceeds what was charged", u)
	}
	if u := ss.State(h.Root()).Usage(); u != n*10*time.Millisecond {
		t.Errorf("root usage %v", u)
	}
}
