package cpuset_test

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// affinityOf reads the CPU affinity of a thread.
func affinityOf(t *testing.T, tid int) string {
	t.Helper()
	var cs unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &cs); err != nil {
		t.Fatal(err)
	}
	return cpuset.FromCPUSet(&cs).String()
}

// TestOSAffinity follows a real process's affinity as its cpuset changes.
func TestOSAffinity(t *testing.T) {
	host := topology.Host()
	if len(host.OnlineCPUs) < 2 {
		t.Skip("needs two CPUs")
	}
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	var cs unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &cs); err != nil {
		t.Skip(err)
	}
	if err := unix.SchedSetaffinity(pid, &cs); err != nil {
		t.Skipf("sched_setaffinity is not permitted: %v", err)
	}
	online := cpuset.Of(host.OnlineCPUs...)
	first, second := host.OnlineCPUs[0], host.OnlineCPUs[1]

	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	const notAThread = 1 << 30 // above any pid_max
	const filtered = 1<<30 + 1
	aff := cpuset.OSAffinity{Thread: func(t *containers.Task) bool { return t.ID() != filtered }}
	ss := cpuset.New(cpuset.WithAffinity(aff), cpuset.WithLogger(logger))
	sys, err := containers.New([]containers.Subsystem{ss})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	h := mount(t, sys, "cpuset")
	a := mkdir(t, h, "/a")
	write(t, h, "/a/cpuset.mems", ss.Mems(h.Root()).String())
	write(t, h, "/a/cpuset.cpus", cpuset.Of(second).String())
	task, err := sys.NewTask(containers.TaskID(pid))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	if got, want := affinityOf(t, pid), cpuset.Of(second).String(); got != want {
		t.Errorf("after attach: affinity %s, want %s", got, want)
	}
	write(t, h, "/a/cpuset.cpus", cpuset.Of(first).String())
	if got, want := affinityOf(t, pid), cpuset.Of(first).String(); got != want {
		t.Errorf("after the cpus changed: affinity %s, want %s", got, want)
	}
	write(t, h, "/a/cpuset.cpus", cpuset.Of(first, second).String())
	if got, want := affinityOf(t, pid), cpuset.Of(first, second).String(); got != want {
		t.Errorf("after the cpus grew: affinity %s, want %s", got, want)
	}
	write(t, h, "/a/cpuset.cpus", cpuset.Of(second).String())
	if err := h.Root().Attach(task); err != nil {
		t.Fatal(err)
	}
	if got := affinityOf(t, pid); got != online.String() {
		t.Errorf("back in the root: affinity %s, want %s", got, online)
	}

	// A task that is no thread: the error goes to the log, the attach
	// succeeds. A filtered task is left alone.
	ghost, err := sys.NewTask(notAThread)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Attach(ghost); err != nil {
		t.Fatalf("attach of a task that is no thread: %v", err)
	}
	other, err := sys.NewTask(filtered)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Attach(other); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "no such process") != 1 || !strings.Contains(out, "task=1073741824") {
		t.Errorf("log:\n%s", out)
	}
	if err := aff.SetAffinity(task, cpuset.Of(2000)); err == nil {
		t.Error("SetAffinity to CPU 2000 succeeded")
	}
}
