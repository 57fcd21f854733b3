package containers_test

import (
	"testing"

	"github.com/taskcontainers/containers"
)

// quiet is a subsystem with every task callback, none of which allocates,
// so that allocation counts are the framework's own.
type quiet struct {
	name                          string
	forks, exits, checks, attachs int
}

func (q *quiet) Name() string { return q.name }
func (q *quiet) Create(*containers.Container) (containers.State, error) {
	return &probeState{}, nil
}
func (q *quiet) Destroy(*containers.Container, containers.State) {}
func (q *quiet) Fork(*containers.Task)                           { q.forks++ }
func (q *quiet) Exit(*containers.Task)                           { q.exits++ }
func (q *quiet) CanAttach(*containers.AttachContext) error {
	q.checks++
	return nil
}
func (q *quiet) Attach(*containers.AttachContext) { q.attachs++ }

const allocRuns = 200

// allocSystem returns a System with two quiet subsystems, each mounted in
// its own hierarchy, and a named hierarchy: three hierarchies, each with
// containers x and y.
func allocSystem(t *testing.T) (*containers.System, []*quiet, [3][2]*containers.Container) {
	qs := []*quiet{{name: "q0"}, {name: "q1"}}
	sys := must(containers.New([]containers.Subsystem{qs[0], qs[1]}))
	t.Cleanup(func() { sys.Close(t.Context()) })
	var cs [3][2]*containers.Container
	for i, opts := range []string{"q0", "q1", "none,name=n"} {
		h := must(sys.MountString(opts))
		cs[i] = [2]*containers.Container{must(h.Root().Mkdir("x")), must(h.Root().Mkdir("y"))}
	}
	return sys, qs, cs
}

// warmTaskTable forks and exits tasks first..first+n-1 so that the task
// table's maps have grown to hold them; forking those IDs again later
// measures Fork, not map growth.
func warmTaskTable(t *testing.T, sys *containers.System, parent *containers.Task, first containers.TaskID, n int) {
	var tasks []*containers.Task
	for i := range n {
		tasks = append(tasks, must(sys.Fork(parent, first+containers.TaskID(i))))
	}
	for _, task := range tasks {
		if err := sys.Exit(task); err != nil {
			t.Fatal(err)
		}
	}
}

func TestForkAllocs(t *testing.T) {
	sys, qs, cs := allocSystem(t)
	parent := must(sys.NewTask(1))
	for i := range cs {
		if err := cs[i][0].Attach(parent); err != nil {
			t.Fatal(err)
		}
	}
	const first = 1000
	warmTaskTable(t, sys, parent, first, allocRuns+1)
	groups := sys.GroupCount()
	next := containers.TaskID(first)
	allocs := testing.AllocsPerRun(allocRuns, func() {
		if _, err := sys.Fork(parent, next); err != nil {
			panic(err)
		}
		next++
	})
	// The Task itself is the only allocation.
	t.Logf("Fork: %v allocations", allocs)
	if allocs > 1 {
		t.Errorf("Fork into an existing group: %v allocations, want at most 1", allocs)
	}
	if n := sys.GroupCount(); n != groups {
		t.Errorf("Fork made groups: %d, was %d", n, groups)
	}
	if qs[0].forks != 2*(allocRuns+1)+1 {
		t.Errorf("%d Fork callbacks", qs[0].forks)
	}
	if got := cs[2][0].TaskCount(); got != allocRuns+2 {
		t.Errorf("%d tasks in /x, want %d", got, allocRuns+2)
	}
}

func TestExitAllocs(t *testing.T) {
	sys, qs, cs := allocSystem(t)
	parent := must(sys.NewTask(1))
	for i := range cs {
		if err := cs[i][1].Attach(parent); err != nil {
			t.Fatal(err)
		}
	}
	var tasks []*containers.Task
	for i := range allocRuns + 1 {
		tasks = append(tasks, must(sys.Fork(parent, containers.TaskID(100+i))))
	}
	i := 0
	allocs := testing.AllocsPerRun(allocRuns, func() {
		if err := sys.Exit(tasks[i]); err != nil {
			panic(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Exit: %v allocations, want 0", allocs)
	}
	if qs[1].exits != allocRuns+1 || cs[0][1].TaskCount() != 1 {
		t.Errorf("%d Exit callbacks, %d tasks left", qs[1].exits, cs[0][1].TaskCount())
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

// TestAttachAllocs moves a task back and forth between x and y of three
// hierarchies, one hierarchy at a time, through groups that other tasks
// keep alive: no attach allocates.
func TestAttachAllocs(t *testing.T) {
	sys, qs, cs := allocSystem(t)
	task := must(sys.NewTask(1))
	// The task's route visits these memberships (0 for x, 1 for y in each
	// hierarchy); an anchor task holds each one's group.
	route := [][3]int{{1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {0, 1, 1}, {0, 0, 1}, {0, 0, 0}}
	for i, at := range route {
		anchor := must(sys.NewTask(containers.TaskID(100 + i)))
		for h, which := range at {
			if err := cs[h][which].Attach(anchor); err != nil {
				t.Fatal(err)
			}
		}
	}
	for h := range cs {
		if err := cs[h][0].Attach(task); err != nil {
			t.Fatal(err)
		}
	}
	groups := sys.GroupCount()
	step := func() {
		for _, at := range [][2]int{{0, 1}, {1, 1}, {2, 1}, {0, 0}, {1, 0}, {2, 0}} {
			if err := cs[at[0]][at[1]].Attach(task); err != nil {
				panic(err)
			}
		}
	}
	step() // every AttachContext buffer has its size
	checks, attachs := qs[0].checks, qs[1].attachs
	allocs := testing.AllocsPerRun(allocRuns, step)
	if allocs != 0 {
		t.Errorf("6 attaches between existing groups: %v allocations, want 0", allocs)
	}
	if n := sys.GroupCount(); n != groups {
		t.Errorf("attaches made groups: %d, was %d", n, groups)
	}
	if got := qs[0].checks - checks; got != 2*(allocRuns+1) {
		t.Errorf("%d CanAttach calls, want %d", got, 2*(allocRuns+1))
	}
	for h := range cs {
		if task.Container(cs[h][0].Hierarchy()) != cs[h][0] {
			t.Errorf("task not back in %v", cs[h][0])
		}
	}
	if got := qs[1].attachs - attachs; got != 2*(allocRuns+1) {
		t.Errorf("%d Attach calls of q1, want %d", got, 2*(allocRuns+1))
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}
