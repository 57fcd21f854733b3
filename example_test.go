package containers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// limiter is a subsystem that caps the number of tasks in each container:
// its control file "max" sets the cap (0: none), and CanAttach refuses a
// move that would exceed it with ENOSPC.
type limiter struct{}

type limiterState struct {
	containers.CSS
	max atomic.Uint64
}

func (limiter) Name() string { return "limit" }

func (limiter) Create(*containers.Container) (containers.State, error) {
	return &limiterState{}, nil
}

func (limiter) Destroy(*containers.Container, containers.State) {}

func (limiter) CanAttach(ac *containers.AttachContext) error {
	st := ac.Container().State(limiter{}).(*limiterState)
	if m := st.max.Load(); m > 0 && uint64(ac.Container().TaskCount()+ac.Len()) > m {
		return unix.ENOSPC
	}
	return nil
}

func (limiter) Files() []containers.File {
	return []containers.File{{
		Name:      "max",
		ReadUint:  func(fc *containers.FileContext) uint64 { return fc.State.(*limiterState).max.Load() },
		WriteUint: func(fc *containers.FileContext, v uint64) error { fc.State.(*limiterState).max.Store(v); return nil },
	}}
}

// Implementing a Subsystem: a limiter refuses to let a third task in.
func Example_subsystem() {
	sys, _ := containers.New([]containers.Subsystem{limiter{}})
	defer sys.Close(context.Background())
	h, _ := sys.MountString("limit")
	jobs, _ := h.Root().Mkdir("jobs")
	jobs.WriteFile("limit.max", []byte("2\n"))
	for id := containers.TaskID(1); id <= 3; id++ {
		t, _ := sys.NewTask(id)
		if err := jobs.Attach(t); err != nil {
			fmt.Println(err, errors.Is(err, unix.ENOSPC))
		}
	}
	tasks, _ := jobs.ReadFile("tasks")
	fmt.Printf("%q\n", tasks)
	// Output:
	// attach /jobs: limit can_attach: no space left on device true
	// "1\n2\n"
}

func ExampleNew() {
	sys, err := containers.New([]containers.Subsystem{limiter{}},
		containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) {}))
	if err != nil {
		panic(err)
	}
	defer sys.Close(context.Background())
	fmt.Println(sys.Subsystems())
	// Output: [limit]
}

func ExampleSystem_Mount() {
	sys, _ := containers.New([]containers.Subsystem{limiter{}})
	defer sys.Close(context.Background())
	h, _ := sys.Mount(containers.Options{Subsystems: []string{"limit"}, Name: "jobs"})
	again, _ := sys.MountString("limit") // the same subsystems: the same hierarchy
	_, err := sys.MountString("none,name=jobs")
	fmt.Println(h.ID(), h == again, h.Options())
	fmt.Println(err)
	// Output:
	// 1 true limit,name=jobs
	// mount none,name=jobs: device or resource busy
}

func ExampleContainer_Mkdir() {
	sys, _ := containers.New(nil)
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	web, _ := h.Root().Mkdir("web")
	web.Mkdir("frontend")
	_, err := web.Mkdir("tasks")
	fmt.Println(err)
	for _, c := range web.Children() {
		fmt.Println(c.Path())
	}
	// Output:
	// mkdir /web/tasks: file exists
	// /web/frontend
}

func ExampleContainer_Attach() {
	sys, _ := containers.New(nil)
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	batch, _ := h.Root().Mkdir("batch")
	t, _ := sys.NewTask(42)
	batch.Attach(t)
	fmt.Println(t.Container(h).Path())
	// Output: /batch
}

func ExampleSystem_Fork() {
	sys, _ := containers.New(nil)
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	batch, _ := h.Root().Mkdir("batch")
	parent, _ := sys.NewTask(1)
	batch.Attach(parent)
	child, _ := sys.Fork(parent, 2) // born in its parent's containers
	fmt.Println(child.Container(h).Path())
	sys.Exit(child) // leaves at once
	fmt.Println(child.Container(h).Path(), slices.Collect(batch.Tasks()))
	// Output:
	// /batch
	// / [1]
}

func ExampleSystem_Clone() {
	sys, _ := containers.New([]containers.Subsystem{limiter{}})
	defer sys.Close(context.Background())
	h, _ := sys.MountString("limit")
	t, _ := sys.NewTask(7)
	c, _ := sys.Clone(t, "limit", "") // a new child named after the task, t inside
	fmt.Println(c.Path(), t.Container(h) == c)
	// Output: /node_7 true
}

func ExampleContainer_WriteFile() {
	sys, _ := containers.New(nil)
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	job, _ := h.Root().Mkdir("job")
	fmt.Println(job.WriteFile("notify_on_release", []byte("1\n")))
	fmt.Println(job.WriteFile("notify_on_release", []byte("yes")))
	b, _ := job.ReadFile("notify_on_release")
	fmt.Printf("%q\n", b)
	// Output:
	// <nil>
	// write /job/notify_on_release: invalid argument
	// "1\n"
}

func ExampleContainer_Tasks() {
	sys, _ := containers.New(nil)
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	job, _ := h.Root().Mkdir("job")
	for _, id := range []containers.TaskID{30, 10, 20} {
		t, _ := sys.NewTask(id)
		job.Attach(t)
	}
	fmt.Println(slices.Sorted(job.Tasks()))
	// Output: [10 20 30]
}

func ExampleWithReleaseFunc() {
	released := make(chan string, 1)
	sys, _ := containers.New(nil, containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) {
		released <- path
	}))
	defer sys.Close(context.Background())
	h, _ := sys.MountString("none,name=jobs")
	job, _ := h.Root().Mkdir("job")
	job.WriteFile("notify_on_release", []byte("1"))
	t, _ := sys.NewTask(5)
	job.Attach(t)
	sys.Exit(t) // the job is empty now
	fmt.Println(<-released)
	// Output: /job
}
