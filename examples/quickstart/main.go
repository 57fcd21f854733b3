// Command quickstart shows the core of the library on made-up tasks: a
// subsystem that counts the tasks of each container, a hierarchy with two
// jobs, forks, a move, an exit that fires the release callback, and the
// control files as the kernel would show them.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"

	"github.com/taskcontainers/containers"
)

// counter is a minimal subsystem: it counts the tasks attached to each
// container and refuses more than its limit.
type counter struct{}

type counterState struct {
	containers.CSS
	moves atomic.Int64
}

func (counter) Name() string { return "counter" }

func (counter) Create(*containers.Container) (containers.State, error) {
	return &counterState{}, nil
}

func (counter) Destroy(*containers.Container, containers.State) {}

func (counter) Attach(ac *containers.AttachContext) {
	st := ac.Container().State(counter{}).(*counterState)
	st.moves.Add(int64(ac.Len()))
}

func (counter) Files() []containers.File {
	return []containers.File{{
		Name:     "moves",
		ReadUint: func(fc *containers.FileContext) uint64 { return uint64(fc.State.(*counterState).moves.Load()) },
	}}
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer) error {
	released := make(chan string, 4)
	sys, err := containers.New([]containers.Subsystem{counter{}},
		containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) { released <- path }))
	if err != nil {
		return err
	}
	defer sys.Close(context.Background())

	h, err := sys.MountString("counter,name=jobs")
	if err != nil {
		return err
	}
	if _, err := h.Root().Mkdir("web"); err != nil {
		return err
	}
	batch, err := h.Root().Mkdir("batch")
	if err != nil {
		return err
	}
	if err := batch.WriteFile("notify_on_release", []byte("1\n")); err != nil {
		return err
	}

	init, err := sys.NewTask(1)
	if err != nil {
		return err
	}
	server, err := sys.Fork(init, 100)
	if err != nil {
		return err
	}
	if err := h.WriteFile("/web/tasks", []byte("100\n")); err != nil {
		return err
	}
	worker, err := sys.Fork(server, 101) // starts in /web, as its parent
	if err != nil {
		return err
	}
	if err := batch.Attach(worker); err != nil {
		return err
	}
	show(out, h)

	if err := sys.Exit(worker); err != nil { // /batch is empty: released
		return err
	}
	fmt.Fprintln(out, "released:", <-released)

	err = h.Root().Rmdir()
	fmt.Fprintln(out, "rmdir /:", err)
	show(out, h)
	return nil
}

// show prints the hierarchy as a tree with each container's tasks.
func show(out io.Writer, h *containers.Hierarchy) {
	var walk func(c *containers.Container, depth int)
	walk = func(c *containers.Container, depth int) {
		tasks, _ := c.ReadFile("tasks")
		moves, _ := c.ReadFile("counter.moves")
		fmt.Fprintf(out, "%*s%-8s moves=%s tasks=%q\n", depth*2, "", c.Path(), trim(moves), tasks)
		for _, k := range c.Children() {
			walk(k, depth+1)
		}
	}
	walk(h.Root(), 0)
}

func trim(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return string(b[:n-1])
	}
	return string(b)
}
