package cpuacct_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
)

// chain makes a task in a container depth levels below the root.
func chain(tb testing.TB, depth int) (*cpuacct.Subsystem, *containers.Task, *containers.Hierarchy) {
	tb.Helper()
	sys, ss, h := mounted(tb, 2)
	c := h.Root()
	for i := range depth {
		c = must(c.Mkdir(fmt.Sprint("d", i)))
	}
	task := must(sys.NewTask(1))
	if err := c.Attach(task); err != nil {
		tb.Fatal(err)
	}
	return ss, task, h
}

func TestChargeDoesNotAllocate(t *testing.T) {
	ss, task, h := chain(t, 5)
	allocs := testing.AllocsPerRun(100, func() {
		if err := ss.Charge(task, 1, time.Microsecond, time.Microsecond); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Charge allocates %v times", allocs)
	}
	st := ss.State(h.Root())
	if allocs := testing.AllocsPerRun(100, func() { _ = st.Usage() }); allocs != 0 {
		t.Errorf("State.Usage allocates %v times", allocs)
	}
}

// BenchmarkCharge charges a task at depths 1, 5 and 20 below the root: the
// cost grows with the depth, not with the number of tasks or containers.
func BenchmarkCharge(b *testing.B) {
	for _, depth := range []int{1, 5, 20} {
		b.Run(fmt.Sprint("depth=", depth), func(b *testing.B) {
			ss, task, _ := chain(b, depth)
			b.ReportAllocs()
			for b.Loop() {
				if err := ss.Charge(task, 1, time.Microsecond, time.Microsecond); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChargeParallel charges from every P at once, at depth 5, each
// goroutine on its own CPU slot where the machine has enough.
func BenchmarkChargeParallel(b *testing.B) {
	ss, task, _ := chain(b, 5)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cpu := int(next.Add(1)-1) % ss.PossibleCPUs()
		for pb.Next() {
			if err := ss.Charge(task, cpu, time.Microsecond, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadRootUsage reads cpuacct.usage at the root of 10 100
// containers (100 children of 100 children each) while another goroutine
// moves 100 charged tasks between them; attaches/op shows that the moves
// keep going.
func BenchmarkReadRootUsage(b *testing.B) {
	sys, ss, h := mounted(b, 2)
	var leaves []*containers.Container
	for i := range 100 {
		c := must(h.Root().Mkdir(fmt.Sprint("c", i)))
		for j := range 100 {
			leaves = append(leaves, must(c.Mkdir(fmt.Sprint("l", j))))
		}
	}
	tasks := make([]*containers.Task, 100)
	for i := range tasks {
		tasks[i] = must(sys.NewTask(containers.TaskID(i + 1)))
		if err := ss.Charge(tasks[i], i%2, time.Millisecond, time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var attaches atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t := tasks[i%len(tasks)]
			if err := leaves[(i*7919)%len(leaves)].Attach(t); err != nil {
				b.Error(err)
				return
			}
			if err := ss.Charge(t, i%2, time.Microsecond, 0); err != nil {
				b.Error(err)
				return
			}
			attaches.Add(1)
		}
	})
	root := h.Root()
	b.ReportAllocs()
	start := attaches.Load()
	for b.Loop() {
		if _, err := root.ReadFile("cpuacct.usage"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(attaches.Load()-start)/float64(b.N), "attaches/op")
	close(stop)
	wg.Wait()
}

// BenchmarkStateUsage reads the root's usage through its State, without
// the file layer.
func BenchmarkStateUsage(b *testing.B) {
	ss, _, h := chain(b, 1)
	st := ss.State(h.Root())
	b.ReportAllocs()
	for b.Loop() {
		_ = st.Usage()
	}
}
