package containers_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/internal/kerneltest"
	"golang.org/x/sys/unix"
)

// relWorld is a place to run a release scenario: a live kernel's named
// cgroup v1 hierarchy, or the library. Every method fails the test on an
// unexpected error.
type relWorld interface {
	mkdir(p string)
	rmdir(p string)
	rename(from, to string)
	notify(p string, on bool)
	spawn() int // a new task in the root; returns its index
	move(i int, p string)
	kill(i int) // the task exits
	writeAgent(data string)
	agentFile() string              // the root's release_agent, as read
	remount(opts string) unix.Errno // 0 on success
	options() string                // the hierarchy's mount options, without "rw,"
	// settle ends a step: it waits for the agents the step caused (at
	// least want of them, where the world cannot tell) and returns their
	// records, sorted.
	settle(want int) []string
}

// agentScript is the recording release agent, appending one line per call
// to log.
func agentScript(t *testing.T, path, log string) {
	t.Helper()
	relWriteScript(t, path, `echo "$#|$0|$1|$(pwd)|$(env | sort | tr '\n' ' ')" >> `+relShellQuote(log))
}

// relScenario is the sequence run in both worlds. It returns what each step
// observed: options, file contents and errnos, and the agents' records.
func relScenario(w relWorld, agent string) [][]string {
	var steps [][]string
	obs := func(lines ...string) { steps = append(steps, lines) }
	settle := func() { steps = append(steps, w.settle(0)) }

	obs("options " + w.options())
	obs("remount " + relErrno(w.remount("none,name=NAME,release_agent=/nonexistent/agent")))
	obs("options "+w.options(), "file "+w.agentFile())
	w.writeAgent("  " + agent + "\n")
	obs("options "+w.options(), "file "+w.agentFile())

	// The rows of spec §8.1.
	w.mkdir("/job")
	w.notify("/job", true)
	a := w.spawn()
	w.move(a, "/job")
	settle() // nothing
	w.kill(a)
	settle() // /job: its only task exits
	b := w.spawn()
	w.move(b, "/job")
	w.move(b, "/")
	settle() // /job: moved back to the root
	w.mkdir("/job/sub")
	w.move(b, "/job/sub")
	settle() // nothing
	w.move(b, "/")
	settle() // /job/sub only
	w.rmdir("/job/sub")
	settle() // /job: its last child removed
	w.mkdir("/fresh")
	w.notify("/fresh", true)
	w.mkdir("/fresh/kid")
	settle() // nothing: mkdir of a child
	w.rmdir("/fresh/kid")
	settle() // /fresh: never had tasks
	w.mkdir("/late")
	w.move(b, "/late")
	w.move(b, "/")
	w.notify("/late", true)
	settle() // nothing: the flag came after
	w.mkdir("/j1")
	w.mkdir("/j2")
	w.notify("/j1", true)
	w.notify("/j2", true)
	c, d := w.spawn(), w.spawn()
	w.move(c, "/j1")
	w.move(d, "/j2")
	settle() // nothing
	w.kill(c)
	w.kill(d)
	settle() // /j1 and /j2
	w.mkdir("/job/c2")
	settle() // nothing
	w.rmdir("/job/c2")
	settle() // /job
	w.notify("/", true)
	w.move(b, "/job")
	w.move(b, "/")
	settle() // /job, never the root
	w.mkdir("/old")
	w.notify("/old", true)
	w.move(b, "/old")
	w.rename("/old", "/new")
	settle() // nothing
	w.move(b, "/")
	settle() // /new
	obs("remount with children " + relErrno(w.remount("none,name=NAME")))
	w.writeAgent("agent.sh")
	obs("file " + w.agentFile())
	w.mkdir("/rel")
	w.notify("/rel", true)
	w.move(b, "/rel")
	w.move(b, "/")
	settle() // nothing: a relative agent
	w.writeAgent("\n")
	obs("options "+w.options(), "file "+w.agentFile())
	w.move(b, "/rel")
	w.move(b, "/")
	settle() // nothing: no agent
	w.writeAgent(agent)
	w.move(b, "/rel")
	w.kill(b)
	settle() // /rel
	return steps
}

func relErrno(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	return unix.ErrnoName(e)
}

// agentLog reads the lines a recording agent appended since the last call,
// with the agent's own path shown as <agent>.
type agentLog struct {
	t     *testing.T
	path  string
	agent string
	seen  int
}

func (l *agentLog) lines() []string {
	l.t.Helper()
	b, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		out = append(out, strings.ReplaceAll(sc.Text(), "|"+l.agent+"|", "|<agent>|"))
	}
	return out
}

func (l *agentLog) take() []string {
	all := l.lines()
	out := slices.Clone(all[l.seen:])
	l.seen = len(all)
	slices.Sort(out)
	return out
}

// libWorld runs the scenario on the library, with the script as its exec
// agent.
type libWorld struct {
	t     *testing.T
	name  string
	agent string
	sys   *containers.System
	h     *containers.Hierarchy
	tasks []*containers.Task
	log   *agentLog
	count []int // agent records per settle
}

func newLibWorld(t *testing.T, name, agent, log string) *libWorld {
	sys, err := containers.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(context.Background()) })
	h, err := sys.MountString("none,name=" + name + ",release_agent=" + agent)
	if err != nil {
		t.Fatal(err)
	}
	return &libWorld{t: t, name: name, agent: agent, sys: sys, h: h, log: &agentLog{t: t, path: log, agent: agent}}
}

func (w *libWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *libWorld) c(p string) *containers.Container {
	w.t.Helper()
	c, err := w.h.Lookup(p)
	w.must(err)
	return c
}

func (w *libWorld) mkdir(p string) {
	w.t.Helper()
	_, err := w.c(filepath.Dir(p)).Mkdir(filepath.Base(p))
	w.must(err)
}

func (w *libWorld) rmdir(p string)         { w.t.Helper(); w.must(w.c(p).Rmdir()) }
func (w *libWorld) rename(from, to string) { w.t.Helper(); w.must(w.h.Rename(from, to)) }

func (w *libWorld) notify(p string, on bool) {
	w.t.Helper()
	w.must(w.c(p).WriteFile("notify_on_release", []byte(strconv.Itoa(relB2I(on)))))
}

func relB2I(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *libWorld) spawn() int {
	w.t.Helper()
	t, err := w.sys.NewTask(containers.TaskID(100 + len(w.tasks)))
	w.must(err)
	w.tasks = append(w.tasks, t)
	return len(w.tasks) - 1
}

func (w *libWorld) move(i int, p string) { w.t.Helper(); w.must(w.c(p).Attach(w.tasks[i])) }
func (w *libWorld) kill(i int)           { w.t.Helper(); w.must(w.sys.Exit(w.tasks[i])) }

func (w *libWorld) writeAgent(data string) {
	w.t.Helper()
	w.must(w.h.Root().WriteFile("release_agent", []byte(data)))
}

func (w *libWorld) agentFile() string {
	w.t.Helper()
	b, err := w.h.Root().ReadFile("release_agent")
	w.must(err)
	return strings.ReplaceAll(string(b), w.agent, "<agent>")
}

func (w *libWorld) remount(opts string) unix.Errno {
	w.t.Helper()
	o, err := containers.ParseOptions(strings.ReplaceAll(opts, "NAME", w.name))
	w.must(err)
	err = w.h.Remount(o)
	var e unix.Errno
	if err != nil && !errors.As(err, &e) {
		w.t.Fatalf("remount: %v", err)
	}
	return e
}

func (w *libWorld) options() string {
	return strings.ReplaceAll(w.h.Options().String(), w.agent, "<agent>")
}

func (w *libWorld) settle(int) []string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.must(w.sys.Flush(ctx))
	recs := w.log.take()
	w.count = append(w.count, len(recs))
	return recs
}

// kernelWorld runs the scenario on a named cgroup v1 hierarchy of the
// kernel, mounted on a temporary directory, with real sleep processes as
// tasks.
type kernelWorld struct {
	t      *testing.T
	name   string
	agent  string
	mnt    string
	procs  []*exec.Cmd
	log    *agentLog
	expect []int // agent records the library saw per settle: how long to wait
	step   int
}

// newKernelWorld mounts the hierarchy, or skips the test. Everything is
// undone at cleanup, even when the test fails.
func newKernelWorld(t *testing.T, name, agent, log, mnt string) *kernelWorld {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if b, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(b), "\tcgroup\n") {
		t.Skip("no cgroup v1 filesystem")
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("cgroup", mnt, "cgroup", 0, "none,name="+name+",release_agent="+agent); err != nil {
		t.Skipf("cannot mount a named cgroup v1 hierarchy: %v", err)
	}
	w := &kernelWorld{t: t, name: name, agent: agent, mnt: mnt, log: &agentLog{t: t, path: log, agent: agent}}
	t.Cleanup(w.cleanup)
	return w
}

func (w *kernelWorld) cleanup() {
	for _, p := range w.procs {
		if p.ProcessState == nil {
			p.Process.Kill()
			p.Wait()
		}
	}
	var dirs []string
	filepath.WalkDir(w.mnt, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != w.mnt {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		relRetry(func() error { return unix.Rmdir(d) })
	}
	if err := relRetry(func() error { return unix.Unmount(w.mnt, 0) }); err != nil {
		w.t.Errorf("unmount %s: %v; detaching", w.mnt, err)
		unix.Unmount(w.mnt, unix.MNT_DETACH)
	} else if err := kerneltest.Destroy(w.name); err != nil {
		w.t.Errorf("cleanup: %v", err)
	}
	// Let agents started by the cleanup finish writing before the
	// temporary directory goes.
	last := -1
	for range 20 {
		n := len(w.log.lines())
		if n == last {
			break
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
}

// relRetry runs f until it succeeds or a second has passed: removal of a
// kernel cgroup can lag behind the exit of its last task.
func relRetry(f func() error) error {
	var err error
	for range 50 {
		if err = f(); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func (w *kernelWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *kernelWorld) path(p string) string { return filepath.Join(w.mnt, p) }

func (w *kernelWorld) mkdir(p string) { w.t.Helper(); w.must(os.Mkdir(w.path(p), 0o755)) }
func (w *kernelWorld) rmdir(p string) {
	w.t.Helper()
	w.must(relRetry(func() error { return unix.Rmdir(w.path(p)) }))
}
func (w *kernelWorld) rename(from, to string) {
	w.t.Helper()
	w.must(os.Rename(w.path(from), w.path(to)))
}

func (w *kernelWorld) write(p, data string) {
	w.t.Helper()
	f, err := os.OpenFile(w.path(p), os.O_WRONLY, 0)
	w.must(err)
	_, err = f.Write([]byte(data))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	w.must(err)
}

func (w *kernelWorld) notify(p string, on bool) {
	w.t.Helper()
	w.write(filepath.Join(p, "notify_on_release"), strconv.Itoa(relB2I(on)))
}

func (w *kernelWorld) spawn() int {
	w.t.Helper()
	cmd := exec.Command("sleep", "300")
	w.must(cmd.Start())
	w.procs = append(w.procs, cmd)
	return len(w.procs) - 1
}

func (w *kernelWorld) move(i int, p string) {
	w.t.Helper()
	w.write(filepath.Join(p, "tasks"), strconv.Itoa(w.procs[i].Process.Pid))
}

func (w *kernelWorld) kill(i int) {
	w.t.Helper()
	w.must(w.procs[i].Process.Kill())
	w.procs[i].Wait()
}

func (w *kernelWorld) writeAgent(data string) {
	w.t.Helper()
	w.write("release_agent", data)
}

func (w *kernelWorld) agentFile() string {
	w.t.Helper()
	b, err := os.ReadFile(w.path("release_agent"))
	w.must(err)
	return strings.ReplaceAll(string(b), w.agent, "<agent>")
}

func (w *kernelWorld) remount(opts string) unix.Errno {
	w.t.Helper()
	err := unix.Mount("cgroup", w.mnt, "cgroup", unix.MS_REMOUNT, strings.ReplaceAll(opts, "NAME", w.name))
	var e unix.Errno
	if err != nil && !errors.As(err, &e) {
		w.t.Fatalf("remount: %v", err)
	}
	return e
}

// options returns the super-block options of the mount from mountinfo.
func (w *kernelWorld) options() string {
	w.t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	w.must(err)
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == w.mnt {
			opts := strings.TrimPrefix(f[len(f)-1], "rw,")
			return strings.ReplaceAll(opts, w.agent, "<agent>")
		}
	}
	w.t.Fatalf("%s not in mountinfo", w.mnt)
	return ""
}

// settle waits for as many agent records as the library produced at this
// step, and a little longer for any more.
func (w *kernelWorld) settle(int) []string {
	w.t.Helper()
	want := 0
	if w.step < len(w.expect) {
		want = w.expect[w.step]
	}
	w.step++
	deadline := time.Now().Add(10 * time.Second)
	for len(w.log.lines())-w.log.seen < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	return w.log.take()
}

// TestReleaseKernelDifferential runs the same scenario, with the same
// recording agent script, on a live kernel's named hierarchy and on the
// library, and compares what each step showed: the agents' argc, argv,
// working directory and environment, the hierarchy's options, the
// release_agent file and remount errnos.
func TestReleaseKernelDifferential(t *testing.T) {
	dir := t.TempDir()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "reltest_" + strconv.Itoa(os.Getpid()) + "_" + hex.EncodeToString(rnd[:])
	kagent, klog := filepath.Join(dir, "kernel-agent.sh"), filepath.Join(dir, "kernel.log")
	lagent, llog := filepath.Join(dir, "lib-agent.sh"), filepath.Join(dir, "lib.log")
	agentScript(t, kagent, klog)
	agentScript(t, lagent, llog)

	kw := newKernelWorld(t, name, kagent, klog, filepath.Join(dir, "mnt"))
	lw := newLibWorld(t, name, lagent, llog)
	lib := relScenario(lw, lagent)
	kw.expect = lw.count
	kern := relScenario(kw, kagent)
	if diff := cmp.Diff(kern, lib); diff != "" {
		t.Errorf("kernel vs library, step by step (-kernel +library):\n%s", diff)
	}
	if t.Failed() || testing.Verbose() {
		for i, s := range kern {
			t.Logf("kernel step %d: %q", i, s)
		}
	}
}
