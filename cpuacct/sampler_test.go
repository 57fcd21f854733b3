package cpuacct_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"golang.org/x/sys/unix"
)

// fakeProc is a directory laid out as procfs, with stat files the test
// writes.
type fakeProc struct {
	tb  testing.TB
	dir string
}

func newFakeProc(tb testing.TB) *fakeProc { return &fakeProc{tb, tb.TempDir()} }

// set writes the stat file rel ("42/stat", "42/task/43/stat") with the given
// times in ticks, start time and CPU.
func (p *fakeProc) set(rel string, utime, stime, start uint64, cpu int) {
	p.tb.Helper()
	path := filepath.Join(p.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.tb.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (fake proc) R 1 1 1 0 -1 4194304 0 0 0 0 %d %d 0 0 20 0 1 0 %d 0 0 18446744073709551615", filepath.Base(filepath.Dir(path)), utime, stime, start)
	for n := 26; n <= 52; n++ {
		if n == 39 {
			fmt.Fprintf(&b, " %d", cpu)
		} else {
			b.WriteString(" 0")
		}
	}
	b.WriteString("\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		p.tb.Fatal(err)
	}
}

func (p *fakeProc) remove(rel string) {
	if err := os.Remove(filepath.Join(p.dir, rel)); err != nil {
		p.tb.Fatal(err)
	}
}

func usageAll(tb testing.TB, c *containers.Container) string {
	tb.Helper()
	return string(must(c.ReadFile("cpuacct.usage_all")))
}

func TestSample(t *testing.T) {
	proc := newFakeProc(t)
	sys, ss, h := mounted(t, 2, cpuacct.WithProcRoot(proc.dir))
	a := must(h.Root().Mkdir("a"))
	b := must(h.Root().Mkdir("b"))
	task := must(sys.NewTask(42))
	if err := a.Attach(task); err != nil {
		t.Fatal(err)
	}
	proc.set("42/stat", 100, 50, 7, 1)
	if err := ss.Track(task); err != nil {
		t.Fatal(err)
	}
	if ss.Tracked() != 1 {
		t.Errorf("Tracked = %d", ss.Tracked())
	}
	// Time before Track is not charged.
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	if got := usageAll(t, a); got != "cpu user system\n0 0 0\n1 0 0\n" {
		t.Errorf("before any increase: %q", got)
	}
	proc.set("42/stat", 103, 51, 7, 1)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	if got := usageAll(t, a); got != "cpu user system\n0 0 0\n1 30000000 10000000\n" {
		t.Errorf("after +3/+1 ticks on CPU 1: %q", got)
	}
	// Charged where the task is now, on the CPU it last ran on, modulo
	// the possible CPUs.
	if err := b.Attach(task); err != nil {
		t.Fatal(err)
	}
	proc.set("42/stat", 104, 51, 7, 4)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	if got := usageAll(t, b); got != "cpu user system\n0 10000000 0\n1 0 0\n" {
		t.Errorf("b after move: %q", got)
	}
	if got := usageAll(t, a); got != "cpu user system\n0 0 0\n1 30000000 10000000\n" {
		t.Errorf("a after move: %q", got)
	}
	// A reused process ID (another start time) or times going back start
	// afresh, charging nothing.
	proc.set("42/stat", 5, 5, 8, 0)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	proc.set("42/stat", 6, 4, 8, 0)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	if got := usageAll(t, b); got != "cpu user system\n0 10000000 0\n1 0 0\n" {
		t.Errorf("b after reuse: %q", got)
	}
	proc.set("42/stat", 6, 6, 8, 0)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	// An increase of more than a century is not believed.
	proc.set("42/stat", 6, 1<<62, 8, 0)
	if err := ss.Sample(); err != nil {
		t.Fatal(err)
	}
	if got := usageAll(t, b); got != "cpu user system\n0 10000000 20000000\n1 0 0\n" {
		t.Errorf("b after reuse and +2 system ticks: %q", got)
	}
	// A file that does not parse is reported; the task stays tracked.
	if err := os.WriteFile(filepath.Join(proc.dir, "42/stat"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ss.Sample()
	var pe *fs.PathError
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &pe) || ss.Tracked() != 1 {
		t.Errorf("junk: %v, tracked %d", err, ss.Tracked())
	}
	// A process that is gone is dropped silently.
	proc.remove("42/stat")
	if err := ss.Sample(); err != nil || ss.Tracked() != 0 {
		t.Errorf("gone: %v, tracked %d", err, ss.Tracked())
	}
}

func TestTrackErrors(t *testing.T) {
	proc := newFakeProc(t)
	sys, ss, _ := mounted(t, 2, cpuacct.WithProcRoot(proc.dir))
	other := cpuacct.New()
	task := must(sys.NewTask(42))
	proc.set("42/stat", 1, 1, 1, 0)
	check := func(what string, err, want error) {
		t.Helper()
		var pe *fs.PathError
		if !errors.Is(err, want) || !errors.As(err, &pe) {
			t.Errorf("%s: %v, want an *fs.PathError wrapping %v", what, err, want)
		}
	}
	check("nil", ss.Track(nil), unix.EINVAL)
	check("nil thread", ss.TrackThread(nil), unix.EINVAL)
	check("other subsystem", other.Track(task), unix.EINVAL)
	check("missing process", ss.Track(must(sys.NewTask(43))), unix.ESRCH)
	if err := ss.Track(task); err != nil {
		t.Fatal(err)
	}
	check("twice", ss.Track(task), unix.EEXIST)
	if !ss.Untrack(task) || ss.Untrack(task) || ss.Tracked() != 0 {
		t.Errorf("Untrack")
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	check("exited", ss.Track(task), unix.ESRCH)
}

// TestExitTakesLastSample: Exit charges what the task used since the last
// sample, to the container it was in, and stops tracking it.
func TestExitTakesLastSample(t *testing.T) {
	proc := newFakeProc(t)
	sys, ss, h := mounted(t, 2, cpuacct.WithProcRoot(proc.dir))
	a := must(h.Root().Mkdir("a"))
	leader := must(sys.NewTask(42))
	thread := must(sys.ForkThread(leader, 43))
	for _, task := range []*containers.Task{leader, thread} {
		if err := a.Attach(task); err != nil {
			t.Fatal(err)
		}
	}
	proc.set("42/task/43/stat", 10, 0, 1, 0)
	if err := ss.TrackThread(thread); err != nil {
		t.Fatal(err)
	}
	proc.set("42/task/43/stat", 12, 1, 1, 1)
	if err := sys.Exit(thread); err != nil {
		t.Fatal(err)
	}
	if ss.Tracked() != 0 {
		t.Errorf("Tracked = %d after Exit", ss.Tracked())
	}
	if got := usageAll(t, a); got != "cpu user system\n0 0 0\n1 20000000 10000000\n" {
		t.Errorf("after Exit: %q", got)
	}
	// Exit of an untracked task, and of a task whose file is gone.
	proc.set("42/stat", 1, 1, 1, 0)
	if err := ss.Track(leader); err != nil {
		t.Fatal(err)
	}
	proc.remove("42/stat")
	if err := sys.Exit(leader); err != nil {
		t.Fatal(err)
	}
	if ss.Tracked() != 0 {
		t.Errorf("Tracked = %d", ss.Tracked())
	}
	if got := usageAll(t, a); got != "cpu user system\n0 0 0\n1 20000000 10000000\n" {
		t.Errorf("after the second Exit: %q", got)
	}
}

func TestStartStop(t *testing.T) {
	proc := newFakeProc(t)
	logged := &lockedBuffer{}
	sys, ss, h := mounted(t, 2, cpuacct.WithProcRoot(proc.dir),
		cpuacct.WithLogger(slog.New(slog.NewTextHandler(logged, nil))))
	task := must(sys.NewTask(42))
	proc.set("42/stat", 0, 0, 1, 0)
	if err := ss.Track(task); err != nil {
		t.Fatal(err)
	}
	for _, iv := range []time.Duration{0, -1} {
		if err := ss.Start(t.Context(), iv); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Start(%v): %v", iv, err)
		}
		if err := ss.Run(t.Context(), iv); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Run(%v): %v", iv, err)
		}
	}
	ss.Stop() // nothing started
	if err := ss.Start(t.Context(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := ss.Start(t.Context(), time.Millisecond); !errors.Is(err, unix.EBUSY) {
		t.Errorf("second Start: %v", err)
	}
	proc.set("42/stat", 3, 0, 1, 0)
	waitFor(t, func() bool { return ss.State(h.Root()).User() == 30*time.Millisecond })
	ss.Stop()
	ss.Stop()
	// Stopped: nothing more is charged.
	proc.set("42/stat", 4, 0, 1, 0)
	time.Sleep(10 * time.Millisecond)
	if u := ss.State(h.Root()).User(); u != 30*time.Millisecond {
		t.Errorf("charged %v after Stop", u)
	}
	// A sampler whose context ended may be started again.
	ctx, cancel := context.WithCancel(t.Context())
	if err := ss.Start(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, func() bool { return ss.Start(t.Context(), time.Millisecond) == nil })
	waitFor(t, func() bool { return ss.State(h.Root()).User() == 40*time.Millisecond })
	// Errors of background samples go to the logger.
	if err := os.WriteFile(filepath.Join(proc.dir, "42/stat"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logged.String(), "cpuacct: sample") })
	ss.Stop()

	// Run returns when its context is done.
	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- ss.Run(ctx, time.Millisecond) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer for one writer and one reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond for up to 10 seconds.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSampleRealProcess runs a process that burns CPU and watches its usage
// grow through the sampler, in its container and the ancestors.
func TestSampleRealProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no procfs")
	}
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start /bin/sh:", err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sys, ss, h := mounted(t, 2)
	a := must(h.Root().Mkdir("a"))
	burn := must(a.Mkdir("burn"))
	task := must(sys.NewTask(containers.TaskID(cmd.Process.Pid)))
	if err := burn.Attach(task); err != nil {
		t.Fatal(err)
	}
	if err := ss.Track(task); err != nil {
		t.Fatal(err)
	}
	if err := ss.Start(t.Context(), 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	defer ss.Stop()
	st := ss.State(burn)
	waitFor(t, func() bool { return st.Usage() >= 50*time.Millisecond })
	first := st.Usage()
	waitFor(t, func() bool { return st.Usage() >= first+50*time.Millisecond })
	for _, c := range []*containers.Container{a, h.Root()} {
		if u := ss.State(c).Usage(); u < first+50*time.Millisecond {
			t.Errorf("%s usage %v, below its child's", c.Path(), u)
		}
	}
	// Kill it, and exit the task before reaping: Exit takes the last sample.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	reaped = true
	if ss.Tracked() != 0 {
		t.Errorf("Tracked = %d after Exit", ss.Tracked())
	}
	u := st.Usage()
	time.Sleep(20 * time.Millisecond)
	if st.Usage() != u {
		t.Errorf("usage grew after Exit")
	}
	t.Logf("burner used %v", u)
}
