package debugsub_test

import (
	"context"
	"fmt"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/debugsub"
)

// Two tasks with the same membership share one css_group: the debug files
// show its ID and reference count, and the container's busy count.
func Example() {
	sys, err := containers.New([]containers.Subsystem{debugsub.New()})
	if err != nil {
		panic(err)
	}
	defer sys.Close(context.Background())
	h, _ := sys.MountString("debug")
	a, _ := h.Root().Mkdir("a")
	t, _ := sys.NewTask(1)
	a.Attach(t)
	child, _ := sys.Fork(t, 2)

	show := func(c *containers.Container, caller *containers.Task, file string) {
		data, err := c.ReadFileAs(caller, "debug."+file)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s:\n%s", file, data)
	}
	show(a, nil, "taskcount")
	show(a, nil, "cgroup_refcount")
	show(a, nil, "cgroup_css_links")
	show(h.Root(), child, "current_css_set")
	show(h.Root(), child, "current_css_set_cg_links")
	sys.Exit(child)
	sys.Exit(t)
	show(a, nil, "releasable")
	// Output:
	// taskcount:
	// 2
	// cgroup_refcount:
	// 1
	// cgroup_css_links:
	// css_set 1 2
	//   task 1
	//   task 2
	// current_css_set:
	// css_set 1 2
	//  0: debug	- 1:/a
	// current_css_set_cg_links:
	// Root 1 group a
	// releasable:
	// 1
}
