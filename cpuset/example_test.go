package cpuset_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// Example confines a task to four CPUs of a made-up 64-CPU, 4-node
// machine. A task cannot enter a cpuset until it has CPUs and memory
// nodes.
func Example() {
	ss := cpuset.New(cpuset.WithTopology(topology.Uniform(64, 4)))
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		panic(err)
	}
	defer sys.Close(context.Background())

	h, _ := sys.MountString("cpuset")
	web, _ := h.Root().Mkdir("web")
	task, _ := sys.NewTask(4242)

	err = web.Attach(task)
	fmt.Println("attach to an empty cpuset:", errors.Is(err, unix.ENOSPC))

	web.WriteFile("cpuset.cpus", []byte("0-3\n"))
	web.WriteFile("cpuset.mems", []byte("0"))
	err = web.Attach(task)
	fmt.Println("attach:", err)

	cpus, _ := web.ReadFile("cpuset.cpus")
	fmt.Printf("cpuset.cpus: %s", cpus)
	fmt.Print("/proc/4242/cpuset: ", ss.ProcCPUSet(task))
	got, _ := ss.Affinity().(*cpuset.Recorder).CPUs(4242)
	fmt.Println("affinity:", got)

	err = web.WriteFile("cpuset.cpus", []byte("64"))
	fmt.Println("CPU 64:", errors.Is(err, unix.ERANGE))
	// Output:
	// attach to an empty cpuset: true
	// attach: <nil>
	// cpuset.cpus: 0-3
	// /proc/4242/cpuset: /web
	// affinity: 0-3
	// CPU 64: true
}

func ExampleParseList() {
	s, err := cpuset.ParseList("0-7:2/4,10 12-13")
	fmt.Println(s, s.Count(), err)
	_, err = cpuset.ParseList("3-1")
	fmt.Println(err)
	// Output:
	// 0-1,4-5,10,12-13 7 <nil>
	// invalid argument
}
