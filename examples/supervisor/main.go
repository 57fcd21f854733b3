// Command supervisor is the library at work on real processes: it starts a
// few worker processes, registers them and their threads as tasks (a
// process's threads move together, through cgroup.procs), places them in
// cpuset and
// cpuacct containers (with real CPU affinity where the host permits it),
// charges their real CPU time, moves one, lets one finish so that the
// release notification fires, and prints the hierarchy as a tree with the
// tasks and CPU usage of each container. It needs no root and cleans up
// every process it starts.
//
//	go run ./examples/supervisor [-short]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// workerEnv, when set, makes this program a worker: it burns CPU for the
// number of milliseconds it holds, then exits.
const workerEnv = "SUPERVISOR_WORKER_MS"

func main() {
	if ms := os.Getenv(workerEnv); ms != "" {
		work(ms)
		return
	}
	short := flag.Bool("short", false, "run the scenario in a fraction of a second")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *short); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		os.Exit(1)
	}
}

// work burns CPU for ms milliseconds.
func work(ms string) {
	n, _ := strconv.Atoi(ms)
	end := time.Now().Add(time.Duration(n) * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		for i := range 100000 {
			x += i
		}
	}
	if x == 42 {
		fmt.Println(x)
	}
}

// worker is a process the supervisor runs, and its tasks: the process's
// main thread, and its other threads.
type worker struct {
	name    string
	cmd     *exec.Cmd
	task    *containers.Task
	threads []*containers.Task
	done    chan struct{} // closed once the process is reaped and its tasks exited
}

// scenario timings, scaled down with -short.
type timings struct {
	long, short, settle time.Duration
}

func run(ctx context.Context, out io.Writer, short bool) error {
	tm := timings{long: 3 * time.Second, short: 400 * time.Millisecond, settle: 600 * time.Millisecond}
	if short {
		tm = timings{long: 2 * time.Second, short: 100 * time.Millisecond, settle: 150 * time.Millisecond}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	topo := topology.Host()
	firstCPU, lastCPU := topo.OnlineCPUs[0], topo.OnlineCPUs[len(topo.OnlineCPUs)-1]
	node := strconv.Itoa(topo.Nodes[0])
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	var mu sync.Mutex
	pids := map[containers.TaskID]bool{} // the tasks that are our worker processes
	isWorker := func(t *containers.Task) bool {
		mu.Lock()
		defer mu.Unlock()
		return pids[t.ID()]
	}
	cs := cpuset.New(cpuset.WithTopology(topo), cpuset.WithLogger(logger),
		cpuset.WithAffinity(cpuset.OSAffinity{Thread: isWorker}))
	ca := cpuacct.New(cpuacct.WithTopology(topo), cpuacct.WithLogger(logger))
	released := make(chan string, 4)
	sys, err := containers.New([]containers.Subsystem{cs, ca},
		containers.WithLogger(logger),
		containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) { released <- path }))
	if err != nil {
		return err
	}
	defer sys.Close(ctx)

	h, err := sys.MountString("cpuset,cpuacct,name=jobs")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "mounted hierarchy %d (%s) on a %d-CPU host\n", h.ID(), h.Options(), len(topo.OnlineCPUs))
	web, err := mkdir(h.Root(), "web", strconv.Itoa(firstCPU), node, false)
	if err != nil {
		return err
	}
	batch, err := mkdir(h.Root(), "batch", strconv.Itoa(lastCPU), node, true)
	if err != nil {
		return err
	}
	report, err := mkdir(batch, "report", strconv.Itoa(lastCPU), node, true)
	if err != nil {
		return err
	}

	// Start the workers and register them as tasks.
	var workers []*worker
	defer func() {
		for _, w := range workers {
			w.cmd.Process.Kill()
			<-w.done
		}
	}()
	// adopt registers the threads of w's process that the System does not
	// know yet, as a host would on clone(CLONE_THREAD): each starts in its
	// process's containers.
	adopt := func(w *worker) {
		for _, tid := range threadIDs(w.cmd.Process.Pid) {
			if _, err := sys.Task(tid); err == nil {
				continue // known
			}
			mu.Lock()
			pids[tid] = true
			mu.Unlock()
			if th, err := sys.ForkThread(w.task, tid); err == nil {
				mu.Lock()
				w.threads = append(w.threads, th)
				mu.Unlock()
			}
		}
	}
	start := func(name string, d time.Duration, c *containers.Container) error {
		cmd := exec.CommandContext(ctx, self)
		cmd.Env = append(os.Environ(), workerEnv+"="+strconv.Itoa(int(d.Milliseconds())))
		if err := cmd.Start(); err != nil {
			return err
		}
		id := containers.TaskID(cmd.Process.Pid)
		mu.Lock()
		pids[id] = true
		mu.Unlock()
		t, err := sys.NewTask(id)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
		w := &worker{name: name, cmd: cmd, task: t, done: make(chan struct{})}
		adopt(w)
		workers = append(workers, w)
		go func() {
			cmd.Wait()
			// The tasks leave their containers, which may be released.
			mu.Lock()
			threads := w.threads
			mu.Unlock()
			for _, th := range threads {
				sys.Exit(th)
			}
			sys.Exit(t)
			close(w.done)
		}()
		if err := ca.Track(t); err != nil {
			fmt.Fprintf(out, "cannot sample %s: %v\n", name, err)
		}
		if err := c.AttachProcess(t); err != nil { // every thread
			return err
		}
		fmt.Fprintf(out, "started %-8s in %-14s %s\n", name, c.Path(), affinity(t))
		return nil
	}
	if err := start("server", tm.long, web); err != nil {
		return err
	}
	if err := start("indexer", tm.long, batch); err != nil {
		return err
	}
	if err := start("reporter", tm.short, report); err != nil {
		return err
	}
	if err := ca.Start(ctx, 20*time.Millisecond); err != nil {
		return err
	}
	defer ca.Stop()

	// Move the indexer to the web container: its affinity follows.
	time.Sleep(tm.settle / 2)
	indexer := workers[1]
	adopt(indexer)
	if err := h.WriteFile("/web/cgroup.procs", []byte(strconv.Itoa(int(indexer.task.ID())))); err != nil {
		return err
	}
	fmt.Fprintf(out, "moved   %-8s to %-14s %s\n", indexer.name, indexer.task.Container(h).Path(), affinity(indexer.task))

	// The reporter finishes; its container is empty and released, and the
	// supervisor, acting as a release agent, removes it.
	<-workers[2].done
	select {
	case path := <-released:
		c, err := h.Lookup(path)
		if err == nil {
			err = c.Rmdir()
		}
		fmt.Fprintf(out, "released %s (removed: %v)\n", path, err == nil)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no release notification for %s", report.Path())
	}

	time.Sleep(tm.settle)
	if err := ca.Sample(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	printTree(out, h, cs, ca)
	return nil
}

// mkdir makes a container with its cpus and mems.
func mkdir(parent *containers.Container, name, cpus, mems string, notify bool) (*containers.Container, error) {
	c, err := parent.Mkdir(name)
	if err != nil {
		return nil, err
	}
	if err := c.WriteFile("cpuset.cpus", []byte(cpus)); err != nil {
		return nil, err
	}
	if err := c.WriteFile("cpuset.mems", []byte(mems)); err != nil {
		return nil, err
	}
	if notify {
		if err := c.WriteFile("notify_on_release", []byte("1")); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// threadIDs returns the IDs of the threads of process pid.
func threadIDs(pid int) []containers.TaskID {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return []containers.TaskID{containers.TaskID(pid)}
	}
	var ids []containers.TaskID
	for _, e := range es {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, containers.TaskID(id))
		}
	}
	return ids
}

// affinity describes the CPUs that the threads of t's process may run on,
// as the kernel reports them.
func affinity(t *containers.Task) string {
	var sets []string
	for _, tid := range threadIDs(int(t.ID())) {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(int(tid), &set); err != nil {
			continue // the thread is gone
		}
		if s := cpuset.FromCPUSet(&set).String(); !slices.Contains(sets, s) {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		return "(affinity unknown)"
	}
	return "(runs on CPUs " + strings.Join(sets, " and ") + ")"
}

// printTree prints the hierarchy with each container's cpus, tasks and CPU
// usage.
func printTree(out io.Writer, h *containers.Hierarchy, cs *cpuset.Subsystem, ca *cpuacct.Subsystem) {
	fmt.Fprintf(out, "%-16s %-6s %-6s %-8s %s\n", "CONTAINER", "CPUS", "PROCS", "THREADS", "CPU USAGE")
	var walk func(c *containers.Container, depth int)
	walk = func(c *containers.Container, depth int) {
		name := strings.Repeat("  ", depth) + c.Path()
		procs := len(slices.Compact(slices.Sorted(c.Procs())))
		threads := c.TaskCount()
		usage := ca.State(c).Usage().Round(time.Millisecond)
		fmt.Fprintf(out, "%-16s %-6s %-6d %-8d %v\n", name, cs.CPUs(c), procs, threads, usage)
		for _, k := range c.Children() {
			walk(k, depth+1)
		}
	}
	walk(h.Root(), 0)
}
