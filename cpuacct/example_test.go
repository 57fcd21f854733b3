package cpuacct_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"github.com/taskcontainers/containers/topology"
)

// A host that measures CPU time itself charges it with Charge; the usage
// shows in the task's container and every ancestor, in the kernel's
// formats.
func Example() {
	acct := cpuacct.New(cpuacct.WithTopology(topology.Uniform(2, 1)))
	sys, err := containers.New([]containers.Subsystem{acct})
	if err != nil {
		panic(err)
	}
	defer sys.Close(context.Background())
	h, _ := sys.MountString("cpuacct")
	jobs, _ := h.Root().Mkdir("jobs")
	build, _ := jobs.Mkdir("build")
	t, _ := sys.NewTask(100)
	_ = build.Attach(t)

	_ = acct.Charge(t, 0, 1500*time.Millisecond, 250*time.Millisecond)
	_ = acct.Charge(t, 1, 30*time.Millisecond, 0)

	for _, name := range []string{"cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.stat"} {
		b, _ := jobs.ReadFile(name)
		fmt.Printf("%s: %q\n", name, b)
	}
	fmt.Println("root usage:", acct.State(h.Root()).Usage())

	// Writing 0 to usage resets the usage files, not stat.
	_ = jobs.WriteFile("cpuacct.usage", []byte("0"))
	fmt.Println("after reset:", acct.State(jobs).Usage())
	b, _ := jobs.ReadFile("cpuacct.stat")
	fmt.Printf("stat: %q\n", b)
	// Output:
	// cpuacct.usage: "1780000000\n"
	// cpuacct.usage_percpu: "1750000000 30000000 \n"
	// cpuacct.stat: "user 153\nsystem 25\n"
	// root usage: 1.78s
	// after reset: 0s
	// stat: "user 153\nsystem 25\n"
}

// Tasks that are real processes are sampled from procfs: Track them, then
// sample on demand with Sample or on an interval with Start and Stop.
func ExampleSubsystem_Track() {
	acct := cpuacct.New()
	sys, err := containers.New([]containers.Subsystem{acct})
	if err != nil {
		panic(err)
	}
	defer sys.Close(context.Background())
	h, _ := sys.MountString("cpuacct")
	workers, _ := h.Root().Mkdir("workers")

	// This process stands in for a worker the host started.
	self, _ := sys.NewTask(containers.TaskID(os.Getpid()))
	_ = workers.Attach(self)
	if err := acct.Track(self); err != nil {
		fmt.Println("track:", err)
		return
	}
	if err := acct.Start(context.Background(), 100*time.Millisecond); err != nil {
		fmt.Println("start:", err)
		return
	}
	defer acct.Stop()
	fmt.Println("tracked:", acct.Tracked())
	// Output: tracked: 1
}
