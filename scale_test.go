package containers_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
)

// Sizes of the scale run.
const (
	benchScaleTasks      = 1_000_000
	benchScaleContainers = 10_000 // leaf containers per hierarchy
	benchScaleHiers      = 3
	benchScaleMoves      = 1_000_000
)

// BenchmarkScale builds a System with 1 000 000 tasks in 3 hierarchies of
// 10 000 leaf containers each (two-level trees of 100 parents of 100
// leaves), then runs an attach storm (1 000 000 moves of a random task to a
// random leaf of one hierarchy, in turn), then exits every task. It checks
// that no group is left and the invariants hold, and reports each phase's
// time and the heap it leaves:
//
//   - build-s: the trees, 10 000 seed tasks placed in all three
//     hierarchies (10 000 distinct memberships), and 990 000 tasks forked
//     from the seeds; fork-ns is the fork phase per task
//   - storm-s and attach-ns: the storm, in all and per move
//   - exit-s and exit-ns: exiting every task
//   - build-MiB, storm-MiB, exit-MiB: the live heap after each phase (after a
//     full collection), beyond what it was before the build
//   - groups: the css_groups alive after the storm
//
// It runs only with -bench and is skipped with -short.
func BenchmarkScale(b *testing.B) {
	if testing.Short() {
		b.Skip("the scale run is skipped with -short")
	}
	var m benchScaleMetrics
	for b.Loop() {
		m.add(benchScaleRun(b))
	}
	m.report(b, b.N)
}

type benchScaleMetrics struct {
	buildS, forkNs, stormS, attachNs, exitS, exitNs float64
	buildMB, stormMB, exitMB, groups                float64
}

func (m *benchScaleMetrics) add(o benchScaleMetrics) {
	m.buildS += o.buildS
	m.forkNs += o.forkNs
	m.stormS += o.stormS
	m.attachNs += o.attachNs
	m.exitS += o.exitS
	m.exitNs += o.exitNs
	m.buildMB += o.buildMB
	m.stormMB += o.stormMB
	m.exitMB += o.exitMB
	m.groups += o.groups
}

func (m *benchScaleMetrics) report(b *testing.B, n int) {
	f := 1 / float64(n)
	b.ReportMetric(m.buildS*f, "build-s")
	b.ReportMetric(m.forkNs*f, "fork-ns")
	b.ReportMetric(m.stormS*f, "storm-s")
	b.ReportMetric(m.attachNs*f, "attach-ns")
	b.ReportMetric(m.exitS*f, "exit-s")
	b.ReportMetric(m.exitNs*f, "exit-ns")
	b.ReportMetric(m.buildMB*f, "build-MiB")
	b.ReportMetric(m.stormMB*f, "storm-MiB")
	b.ReportMetric(m.exitMB*f, "exit-MiB")
	b.ReportMetric(m.groups*f, "groups")
}

// benchScaleRun is one scale run on a System of its own.
func benchScaleRun(b *testing.B) benchScaleMetrics {
	var m benchScaleMetrics
	mb := func(after, before uint64) float64 { return float64(int64(after)-int64(before)) / (1 << 20) }
	base := benchHeap()

	start := time.Now()
	sys, hs, _ := benchNewSystem(benchScaleHiers)
	defer sys.Close(context.Background())
	var leaves [benchScaleHiers][]*containers.Container
	for k, h := range hs {
		leaves[k] = benchTree(b, h.Root(), benchScaleContainers)
	}
	tasks := make([]*containers.Task, 0, benchScaleTasks)
	for g := range benchScaleContainers {
		t := must(sys.NewTask(containers.TaskID(1 + g)))
		benchAttachAll(b, t,
			leaves[0][g],
			leaves[1][(g*7+1)%benchScaleContainers],
			leaves[2][(g*13+2)%benchScaleContainers])
		tasks = append(tasks, t)
	}
	forkStart := time.Now()
	for i := benchScaleContainers; i < benchScaleTasks; i++ {
		t, err := sys.Fork(tasks[i%benchScaleContainers], containers.TaskID(1+i))
		if err != nil {
			b.Fatal(err)
		}
		tasks = append(tasks, t)
	}
	m.forkNs = float64(time.Since(forkStart).Nanoseconds()) / (benchScaleTasks - benchScaleContainers)
	m.buildS = time.Since(start).Seconds()
	m.buildMB = mb(benchHeap(), base)

	rng := rand.New(rand.NewPCG(1, 2))
	start = time.Now()
	for j := range benchScaleMoves {
		t := tasks[rng.IntN(len(tasks))]
		c := leaves[j%benchScaleHiers][rng.IntN(benchScaleContainers)]
		if err := c.Attach(t); err != nil {
			b.Fatal(err)
		}
	}
	d := time.Since(start)
	m.stormS = d.Seconds()
	m.attachNs = float64(d.Nanoseconds()) / benchScaleMoves
	m.groups = float64(sys.GroupCount())
	m.stormMB = mb(benchHeap(), base)

	start = time.Now()
	for _, t := range tasks {
		if err := sys.Exit(t); err != nil {
			b.Fatal(err)
		}
	}
	d = time.Since(start)
	m.exitS = d.Seconds()
	m.exitNs = float64(d.Nanoseconds()) / benchScaleTasks
	tasks = nil
	m.exitMB = mb(benchHeap(), base)

	if n := sys.GroupCount(); n != 1 {
		b.Fatalf("%d groups after every task exited, want the default only", n)
	}
	if n := sys.LiveTasks(); n != 0 {
		b.Fatalf("%d live tasks after every task exited", n)
	}
	if err := sys.CheckInvariants(); err != nil {
		b.Fatal(err)
	}
	return m
}
