package containers_test

// Benchmarks for the performance budget of the design (§5). Each benchmark
// builds what it needs inside its own function, so that `go test` without
// -bench pays nothing for them. BENCHMARKS.md keeps the figures and the
// command that reproduces them.

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
)

// benchSubsys is a trivial subsystem: Create and Destroy only, so that the
// figures are the framework's own cost and no callback runs on attach, fork
// or exit.
type benchSubsys struct{ name string }

// benchState is benchSubsys's state.
type benchState struct{ containers.CSS }

func (s *benchSubsys) Name() string { return s.name }

func (s *benchSubsys) Create(*containers.Container) (containers.State, error) {
	return &benchState{}, nil
}

func (s *benchSubsys) Destroy(*containers.Container, containers.State) {}

// benchSystem returns a System with n trivial subsystems, each mounted in a
// hierarchy of its own, and those hierarchies. The System is closed when the
// benchmark ends.
func benchSystem(tb testing.TB, n int) (*containers.System, []*containers.Hierarchy, []*benchSubsys) {
	tb.Helper()
	sys, hs, bs := benchNewSystem(n)
	tb.Cleanup(func() { sys.Close(context.Background()) })
	return sys, hs, bs
}

// benchNewSystem is benchSystem for a System that the caller closes.
func benchNewSystem(n int) (*containers.System, []*containers.Hierarchy, []*benchSubsys) {
	var ss []containers.Subsystem
	var bs []*benchSubsys
	for i := range n {
		s := &benchSubsys{name: fmt.Sprintf("bench%d", i)}
		ss = append(ss, s)
		bs = append(bs, s)
	}
	sys := must(containers.New(ss))
	var hs []*containers.Hierarchy
	for _, s := range bs {
		hs = append(hs, must(sys.Mount(containers.Options{Subsystems: []string{s.name}})))
	}
	return sys, hs, bs
}

// benchMkdirs makes a child named name under the root of every hierarchy.
func benchMkdirs(hs []*containers.Hierarchy, name string) []*containers.Container {
	var cs []*containers.Container
	for _, h := range hs {
		cs = append(cs, must(h.Root().Mkdir(name)))
	}
	return cs
}

// benchAttachAll moves t into every container of cs.
func benchAttachAll(tb testing.TB, t *containers.Task, cs ...*containers.Container) {
	tb.Helper()
	for _, c := range cs {
		if err := c.Attach(t); err != nil {
			tb.Fatal(err)
		}
	}
}

// benchTree makes n leaf containers under root in a two-level tree (about
// sqrt(n) parents of about sqrt(n) leaves each, so that no directory grows
// large) and returns the leaves.
func benchTree(tb testing.TB, root *containers.Container, n int) []*containers.Container {
	tb.Helper()
	fan := int(math.Ceil(math.Sqrt(float64(n))))
	leaves := make([]*containers.Container, 0, n)
	var parent *containers.Container
	for i := range n {
		if i%fan == 0 {
			parent = must(root.Mkdir(fmt.Sprintf("p%d", i/fan)))
		}
		leaves = append(leaves, must(parent.Mkdir(fmt.Sprintf("c%d", i))))
	}
	return leaves
}

// benchForkSetup returns a System with three hierarchies and a task that is
// in /a of each, so that its children are forked into an existing
// (non-default) group.
func benchForkSetup(b *testing.B) (*containers.System, *containers.Task) {
	sys, hs, _ := benchSystem(b, 3)
	parent := must(sys.NewTask(1))
	benchAttachAll(b, parent, benchMkdirs(hs, "a")...)
	return sys, parent
}

// benchLive are the numbers of live tasks the Fork and Exit benchmarks run
// with: they fork (or exit) that many tasks in the timed loop and undo it
// with the timer stopped, so the live count cycles between 0 and the number.
// The task table's share of the cache grows with it.
var benchLive = []int{1000, 1 << 16}

// BenchmarkFork forks a task into an existing group. Budget: ≤ 100 ns/op, ≤ 1
// alloc (the Task).
func BenchmarkFork(b *testing.B) {
	for _, batch := range benchLive {
		b.Run(fmt.Sprintf("live=%d", batch), func(b *testing.B) {
			sys, parent := benchForkSetup(b)
			live := make([]*containers.Task, 0, batch)
			b.ReportAllocs()
			for b.Loop() {
				if len(live) == batch {
					b.StopTimer()
					for _, t := range live {
						if err := sys.Exit(t); err != nil {
							b.Fatal(err)
						}
					}
					live = live[:0]
					b.StartTimer()
				}
				t, err := sys.Fork(parent, containers.TaskID(2+len(live)))
				if err != nil {
					b.Fatal(err)
				}
				live = append(live, t)
			}
		})
	}
}

// BenchmarkExit exits a task of a group that stays alive. Budget: ≤ 100
// ns/op, 0 allocs.
func BenchmarkExit(b *testing.B) {
	for _, batch := range benchLive {
		b.Run(fmt.Sprintf("live=%d", batch), func(b *testing.B) {
			sys, parent := benchForkSetup(b)
			live := make([]*containers.Task, 0, batch)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				if next == len(live) {
					b.StopTimer()
					live, next = live[:0], 0
					for i := range batch {
						live = append(live, must(sys.Fork(parent, containers.TaskID(2+i))))
					}
					b.StartTimer()
				}
				if err := sys.Exit(live[next]); err != nil {
					b.Fatal(err)
				}
				next++
			}
		})
	}
}

// BenchmarkForkExit forks a task into an existing group and exits it: the
// single-goroutine reference for BenchmarkForkExitParallel.
func BenchmarkForkExit(b *testing.B) {
	sys, parent := benchForkSetup(b)
	b.ReportAllocs()
	for b.Loop() {
		t, err := sys.Fork(parent, 2)
		if err != nil {
			b.Fatal(err)
		}
		if err := sys.Exit(t); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForkExitParallel forks and exits tasks on GOMAXPROCS goroutines
// (2 on the reference machine). With no global lock, ns/op (wall time per
// fork+exit pair) falls as goroutines are added. In "samegroup" every
// goroutine's parent is in the same group, so they share the group's task
// list and reference count; in "owngroup" each goroutine forks into a group
// of its own.
func BenchmarkForkExitParallel(b *testing.B) {
	for _, mode := range []string{"samegroup", "owngroup"} {
		b.Run(mode, func(b *testing.B) {
			sys, hs, _ := benchSystem(b, 3)
			procs := runtime.GOMAXPROCS(0)
			parents := make([]*containers.Task, procs)
			shared := benchMkdirs(hs, "a")
			for i := range parents {
				parents[i] = must(sys.NewTask(containers.TaskID(1 + i)))
				dst := shared
				if mode == "owngroup" {
					dst = benchMkdirs(hs, fmt.Sprintf("g%d", i))
				}
				benchAttachAll(b, parents[i], dst...)
			}
			var next atomic.Int32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1)) - 1
				parent := parents[i%procs]
				// Distinct IDs, in distinct shards of the task table.
				id := containers.TaskID(1<<20 + i)
				for pb.Next() {
					t, err := sys.Fork(parent, id)
					if err != nil {
						b.Error(err)
						return
					}
					if err := sys.Exit(t); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchAttachSetup returns a task in /a of each of n hierarchies, and the
// two containers of the first hierarchy it moves between. With pin, two more
// tasks hold the groups of both places, so that every move finds an
// existing group; without, each move creates a group and frees the old one.
func benchAttachSetup(b *testing.B, n int, pin bool) (*containers.System, *containers.Task, [2]*containers.Container) {
	sys, hs, _ := benchSystem(b, n)
	as := benchMkdirs(hs, "a")
	bs := benchMkdirs(hs, "b")
	t := must(sys.NewTask(1))
	benchAttachAll(b, t, as...)
	if pin {
		p1 := must(sys.NewTask(2))
		benchAttachAll(b, p1, as...)
		p2 := must(sys.NewTask(3))
		benchAttachAll(b, p2, append([]*containers.Container{bs[0]}, as[1:]...)...)
	}
	return sys, t, [2]*containers.Container{bs[0], as[0]}
}

// BenchmarkAttach moves a task back and forth between two containers of one
// hierarchy, while it is also in a child of each of the other hierarchies,
// between groups that exist (other tasks hold them). Budget, 3 hierarchies:
// ≤ 400 ns/op, 0 allocs.
func BenchmarkAttach(b *testing.B) {
	for _, n := range []int{1, 3, 6} {
		b.Run(fmt.Sprintf("hierarchies=%d", n), func(b *testing.B) {
			sys, t, dst := benchAttachSetup(b, n, true)
			groups := sys.GroupCount()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := dst[i&1].Attach(t); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if g := sys.GroupCount(); g != groups {
				b.Fatalf("%d groups after the moves, %d before: a move made a group", g, groups)
			}
		})
	}
}

// BenchmarkAttachNewGroup is BenchmarkAttach with no other task in either
// place: every move creates the destination's group and frees the one left.
// No budget; it shows the cost of a group's life.
func BenchmarkAttachNewGroup(b *testing.B) {
	for _, n := range []int{1, 3, 6} {
		b.Run(fmt.Sprintf("hierarchies=%d", n), func(b *testing.B) {
			_, t, dst := benchAttachSetup(b, n, false)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := dst[i&1].Attach(t); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkGroupLookup is BenchmarkAttach (3 hierarchies, existing groups)
// while the group table holds N groups: N leaf containers of the first
// hierarchy, each with a task of its own, make N distinct memberships.
// Budget: flat from 10 to 100 000 groups.
func BenchmarkGroupLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100_000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			sys, hs, _ := benchSystem(b, 3)
			leaves := benchTree(b, hs[0].Root(), n)
			others := benchMkdirs(hs[1:], "a")
			for i, c := range leaves {
				pin := must(sys.NewTask(containers.TaskID(10 + i)))
				benchAttachAll(b, pin, append([]*containers.Container{c}, others...)...)
			}
			t := must(sys.NewTask(1))
			benchAttachAll(b, t, append([]*containers.Container{leaves[0]}, others...)...)
			dst := [2]*containers.Container{leaves[1], leaves[0]}
			groups := sys.GroupCount()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := dst[i&1].Attach(t); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if g := sys.GroupCount(); g != groups {
				b.Fatalf("%d groups after the moves, %d before", g, groups)
			}
			b.ReportMetric(float64(groups), "groups")
		})
	}
}

// BenchmarkCSSGetPut takes and drops a reference on a state. Budget: ≤ 10 ns,
// and the root state free. "nonroot" starts from no reference, so each Put
// drops the last one and looks whether the container is releasable;
// "nonroot-held" runs while another reference is held.
func BenchmarkCSSGetPut(b *testing.B) {
	for _, mode := range []string{"nonroot", "nonroot-held", "root"} {
		b.Run(mode, func(b *testing.B) {
			_, hs, ss := benchSystem(b, 1)
			c := hs[0].Root()
			if mode != "root" {
				c = must(c.Mkdir("a"))
			}
			s := c.State(ss[0]).(*benchState)
			if mode == "nonroot-held" {
				s.Get()
				defer s.Put()
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Get()
				s.Put()
			}
		})
	}
}

// BenchmarkStreamTasks streams the IDs of a container's tasks with
// Container.Tasks. Budget at 1 000 000 tasks: ≥ 20 M tasks/s, O(1) extra
// memory (B/op and allocs/op do not grow with the number of tasks).
func BenchmarkStreamTasks(b *testing.B) {
	for _, n := range []int{1000, 1_000_000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			sys, parent := benchForkSetup(b)
			c := parent.Container(sys.Hierarchies()[0])
			for i := 1; i < n; i++ {
				must(sys.Fork(parent, containers.TaskID(1+i)))
			}
			b.ReportAllocs()
			for b.Loop() {
				seen := 0
				for id := range c.Tasks() {
					if id > 0 {
						seen++
					}
				}
				if seen != n {
					b.Fatalf("streamed %d tasks, want %d", seen, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// benchHeap returns the bytes of live heap objects after a full collection.
func benchHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchTaskAlloc returns the bytes the allocator gives one Task: its size
// rounded up to the allocator's size class.
func benchTaskAlloc() float64 {
	const n = 1000
	var keep [n]*containers.Task
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = new(containers.Task)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(&keep)
	return float64(after.TotalAlloc-before.TotalAlloc) / n
}

// BenchmarkTaskMemory measures the heap that 1 000 000 tasks forked into one
// existing group of three hierarchies take, on a fresh System each time.
// Budget: ≤ 100 B per task beyond the Task itself. It reports B/task (all
// heap growth per task), Task-B (the Task struct as allocated, its size
// class), Task-sizeof (unsafe.Sizeof) and beyond-Task-B/task (the
// difference: the task table's share and anything else a task costs). Its
// ns/op and allocs/op are those of forking the 1 000 000 tasks.
func BenchmarkTaskMemory(b *testing.B) {
	const n = 1_000_000
	var perTask float64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		sys, hs, _ := benchNewSystem(3)
		parent := must(sys.NewTask(1))
		benchAttachAll(b, parent, benchMkdirs(hs, "a")...)
		before := benchHeap()
		b.StartTimer()
		for i := 1; i < n; i++ {
			if _, err := sys.Fork(parent, containers.TaskID(1+i)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		after := benchHeap()
		if live := sys.LiveTasks(); live != n {
			b.Fatalf("%d live tasks, want %d", live, n)
		}
		runtime.KeepAlive(sys)
		perTask += float64(int64(after)-int64(before)) / (n - 1)
		sys.Close(context.Background())
		b.StartTimer()
	}
	perTask /= float64(b.N)
	taskB := benchTaskAlloc()
	var t containers.Task
	b.ReportMetric(perTask, "B/task")
	b.ReportMetric(taskB, "Task-B")
	b.ReportMetric(float64(unsafe.Sizeof(t)), "Task-sizeof")
	b.ReportMetric(perTask-taskB, "beyond-Task-B/task")
}

// BenchmarkCPUAcctRootUsage reads cpuacct.usage at the root of a hierarchy
// of N leaf containers, each with a charged task. With mover=true another
// goroutine moves a task back and forth between two leaves (existing
// groups) without pause while the reads run. Budget: O(1) (the same ns/op at
// 10 and 10 000 containers), and reads never stall Attach: attach-ns, the
// mover's mean time per move during the reads, stays near
// BenchmarkAttach/hierarchies=1.
func BenchmarkCPUAcctRootUsage(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		for _, mover := range []bool{false, true} {
			b.Run(fmt.Sprintf("containers=%d/mover=%v", n, mover), func(b *testing.B) {
				benchCPUAcctRootUsage(b, n, mover)
			})
		}
	}
}

func benchCPUAcctRootUsage(b *testing.B, n int, mover bool) {
	acct := cpuacct.New()
	sys := must(containers.New([]containers.Subsystem{acct}))
	b.Cleanup(func() { sys.Close(context.Background()) })
	h := must(sys.MountString(cpuacct.Name))
	leaves := benchTree(b, h.Root(), n)
	for i, c := range leaves {
		t := must(sys.NewTask(containers.TaskID(10 + i)))
		benchAttachAll(b, t, c)
		if err := acct.Charge(t, 0, time.Microsecond, time.Microsecond); err != nil {
			b.Fatal(err)
		}
	}
	task := must(sys.NewTask(1))
	benchAttachAll(b, task, leaves[0])
	dst := [2]*containers.Container{leaves[1], leaves[0]}
	stop := make(chan struct{})
	done := make(chan struct{})
	var moves int64
	var moving time.Duration
	if mover {
		go func() {
			defer close(done)
			start := time.Now()
			for i := 0; ; i++ {
				select {
				case <-stop:
					moving, moves = time.Since(start), int64(i)
					return
				default:
				}
				if err := dst[i&1].Attach(task); err != nil {
					b.Error(err)
					moving, moves = time.Since(start), int64(i)
					return
				}
			}
		}()
	} else {
		close(done)
	}
	root := h.Root()
	want := fmt.Append(nil, 2*n*int(time.Microsecond), "\n")
	b.ReportAllocs()
	for b.Loop() {
		data, err := root.ReadFile("cpuacct.usage")
		if err != nil {
			b.Fatal(err)
		}
		if string(data) != string(want) {
			b.Fatalf("root usage %q, want %q", data, want)
		}
	}
	close(stop)
	<-done
	if moves > 0 {
		b.ReportMetric(float64(moving.Nanoseconds())/float64(moves), "attach-ns")
	}
}
