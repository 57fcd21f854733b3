package containers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// probeName is the name under which the test binary acts as a release
// agent: a symlink to it with this name, used as the agent, records how it
// was run (see runProbe).
const probeName = "release-agent-probe"

func init() {
	if filepath.Base(os.Args[0]) == probeName {
		// A raw exit: a race-enabled binary would otherwise sleep a second
		// at exit, and the probe has nothing to flush.
		unix.Exit(runProbe())
	}
}

// probeRecord is what the probe agent writes, one JSON line per phase, to
// probe.log in its own directory.
type probeRecord struct {
	Phase string // "start", then "end"
	Args  []string
	Env   []string
	Dir   string
	Fds   [3]string // where the standard streams point
	Pid   int
	Ppid  int
	Sid   int
	Pgid  int
}

// runProbe is the probe agent. Files in its directory steer it: while
// "hold" exists it waits (up to a minute) between its start and end
// records; "exit" holds the status it exits with.
func runProbe() int {
	dir := filepath.Dir(os.Args[0])
	rec := probeRecord{Phase: "start", Args: os.Args, Env: os.Environ(), Pid: os.Getpid(), Ppid: os.Getppid(), Pgid: unix.Getpgrp()}
	rec.Dir, _ = unix.Getwd()
	rec.Sid, _ = unix.Getsid(0)
	for i := range rec.Fds {
		rec.Fds[i], _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(i))
	}
	write := func() {
		b, _ := json.Marshal(rec)
		f, err := os.OpenFile(filepath.Join(dir, "probe.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return
		}
		f.Write(append(b, '\n')) // one small append: lines do not interleave
		f.Close()
	}
	write()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "hold")); err != nil {
			break
		}
	}
	rec.Phase = "end"
	write()
	if b, err := os.ReadFile(filepath.Join(dir, "exit")); err == nil {
		code, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return code
	}
	return 0
}

// agentProbe is a probe agent in a directory of its own.
type agentProbe struct {
	t    *testing.T
	dir  string
	path string // the agent path
}

func newAgentProbe(t *testing.T) *agentProbe {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("no executable: %v", err)
	}
	p := &agentProbe{t: t, dir: t.TempDir()}
	p.path = filepath.Join(p.dir, probeName)
	if err := os.Symlink(exe, p.path); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *agentProbe) hold(on bool) {
	p.t.Helper()
	var err error
	if on {
		err = os.WriteFile(filepath.Join(p.dir, "hold"), nil, 0o644)
	} else {
		err = os.Remove(filepath.Join(p.dir, "hold"))
	}
	if err != nil {
		p.t.Fatal(err)
	}
}

// records returns the records of the given phase so far.
func (p *agentProbe) records(phase string) []probeRecord {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "probe.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		p.t.Fatal(err)
	}
	var out []probeRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r probeRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			p.t.Fatalf("probe.log: %v", err)
		}
		if r.Phase == phase {
			out = append(out, r)
		}
	}
	return out
}

// waitRecords waits until n records of phase exist.
func (p *agentProbe) waitRecords(phase string, n int) []probeRecord {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs := p.records(phase)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d %s records after 20s, want %d", len(rs), phase, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relLogRecorder is a slog.Handler that keeps "LEVEL message key=value ..."
// lines.
type relLogRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *relLogRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *relLogRecorder) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	return nil
}

func (l *relLogRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *relLogRecorder) WithGroup(string) slog.Handler      { return l }

func (l *relLogRecorder) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// execEnv is a System whose hierarchy "x" runs agent, with a logger and a
// release function recording what it is told.
type execEnv struct {
	*relEnv
	logs *relLogRecorder
}

func newExecEnv(t *testing.T, agent string) *execEnv {
	t.Helper()
	logs := &relLogRecorder{}
	e := &execEnv{relEnv: newRelEnv(t, containers.WithLogger(slog.New(logs))), logs: logs}
	if err := e.h.Root().WriteFile("release_agent", []byte(agent)); err != nil {
		t.Fatal(err)
	}
	return e
}

// release makes a notifying container at path, puts a task in it and
// lets the task exit.
func (e *relEnv) release(path string, id containers.TaskID) {
	e.t.Helper()
	e.mkdir(path)
	e.notify(path, true)
	t := e.task(id)
	e.move(t, path)
	e.exit(t)
}

func (e *relEnv) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.must(e.sys.Flush(ctx))
}

// relReaped reports whether pid is not an unreaped child of this process.
func relReaped(t *testing.T, pid int) bool {
	t.Helper()
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	if errors.Is(err, unix.ECHILD) {
		return true
	}
	if err != nil {
		t.Fatalf("wait4(%d): %v", pid, err)
	}
	if got == pid {
		t.Errorf("agent %d had exited and was left unreaped", pid)
	}
	return false
}

// TestExecAgentInvocation checks how the exec agent is run: argv exactly
// [agent, path], the environment exactly HOME and PATH, working directory
// "/", standard streams on /dev/null, a session of its own, and reaped by
// the time Flush returns. The release function is told as well.
func TestExecAgentInvocation(t *testing.T) {
	p := newAgentProbe(t)
	e := newExecEnv(t, p.path)
	e.release("/job", 10)
	e.mkdir("/a")
	e.notify("/a", true)
	e.release("/a/b c", 11)
	e.flush()
	e.must(e.h.Rename("/a", "/renamed"))
	e.rmdir("/renamed/b c")
	e.flush()
	if got := e.log.take(); !slices.Equal(got, []string{"/a/b c", "/job", "/renamed"}) {
		t.Errorf("release function told %q", got)
	}
	var paths []string
	for _, r := range p.records("start") {
		if len(r.Args) != 2 || r.Args[0] != p.path {
			t.Errorf("argv %q, want [%q, <path>]", r.Args, p.path)
			continue
		}
		paths = append(paths, r.Args[1])
		if want := []string{"HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"}; !slices.Equal(r.Env, want) {
			t.Errorf("environment %q, want exactly %q", r.Env, want)
		}
		if r.Dir != "/" {
			t.Errorf("working directory %q, want /", r.Dir)
		}
		if r.Fds != [3]string{os.DevNull, os.DevNull, os.DevNull} {
			t.Errorf("standard streams %q, want %s", r.Fds, os.DevNull)
		}
		if r.Ppid != os.Getpid() {
			t.Errorf("parent %d, want this process %d", r.Ppid, os.Getpid())
		}
		if r.Sid != r.Pid || r.Pgid != r.Pid {
			t.Errorf("session %d, group %d: want a session of its own (%d)", r.Sid, r.Pgid, r.Pid)
		}
		if !relReaped(t, r.Pid) {
			t.Errorf("agent %d not reaped after Flush", r.Pid)
		}
	}
	slices.Sort(paths)
	if diff := cmp.Diff([]string{"/a/b c", "/job", "/renamed"}, paths); diff != "" {
		t.Errorf("agent paths (-want +got):\n%s", diff)
	}
	if n := len(p.records("end")); n != 3 {
		t.Errorf("%d agents ran to the end before Flush returned, want 3", n)
	}
	if got := e.logs.take(); len(got) != 0 {
		t.Errorf("logged %q", got)
	}
}

// TestExecAgentShellScript runs a /bin/sh script as the agent, as an
// administrator would. Besides the HOME and PATH it is given, the
// environment the script sees holds what the shell adds itself: dash (the
// /bin/sh here) exports PWD; bash would add SHLVL and _ too. Those are
// allowed only with the values the shell gives them.
func TestExecAgentShellScript(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "agent.sh")
	relWriteScript(t, script, `echo "$#|$0|$1|$(pwd)|$(env | sort | tr '\n' ' ')" >> `+relShellQuote(out))
	e := newExecEnv(t, script)
	e.release("/job", 10)
	e.flush()
	e.release("/job/sub", 11)
	e.flush()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var got []string
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 5 {
			t.Fatalf("bad line %q", l)
		}
		got = append(got, strings.Join(f[:4], "|"))
		env := strings.Fields(f[4])
		var own []string
		for _, kv := range env {
			switch {
			case kv == "PWD=/", kv == "SHLVL=1", strings.HasPrefix(kv, "_="):
				// added by the shell
			default:
				own = append(own, kv)
			}
		}
		if want := []string{"HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"}; !slices.Equal(own, want) {
			t.Errorf("environment %q: beyond what the shell adds, want exactly %q", env, want)
		}
	}
	want := []string{"1|" + script + "|/job|/", "1|" + script + "|/job/sub|/"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("argc|argv0|argv1|cwd (-want +got):\n%s", diff)
	}
}

func relWriteScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func relShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestExecAgentNotRun checks that an empty agent runs nothing and says
// nothing, and that a relative one runs nothing and is only logged; the
// release function is told either way.
func TestExecAgentNotRun(t *testing.T) {
	p := newAgentProbe(t)
	e := newExecEnv(t, "")
	e.release("/empty", 10)
	e.flush()
	if got := e.logs.take(); len(got) != 0 {
		t.Errorf("empty agent logged %q", got)
	}
	// The kernel accepts the path and its exec fails unseen.
	e.must(e.h.Root().WriteFile("release_agent", []byte(probeName)))
	e.release("/relative", 11)
	e.flush()
	if got := e.log.take(); !slices.Equal(got, []string{"/empty", "/relative"}) {
		t.Errorf("release function told %q", got)
	}
	if rs := p.records("start"); len(rs) != 0 {
		t.Errorf("agent ran: %v", rs)
	}
	want := []string{"WARN release agent is not an absolute path hierarchy=1 agent=" + probeName + " path=/relative"}
	if diff := cmp.Diff(want, e.logs.take()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestExecAgentFailures checks that an agent that cannot start, or exits
// with an error, is reported to the logger and to nobody else.
func TestExecAgentFailures(t *testing.T) {
	p := newAgentProbe(t)
	missing := filepath.Join(p.dir, "missing")
	e := newExecEnv(t, missing)
	e.mkdir("/job")
	e.notify("/job", true)
	tk := e.task(10)
	e.move(tk, "/job")
	if err := e.sys.Exit(tk); err != nil {
		t.Fatalf("Exit = %v: an agent failure reached the task", err)
	}
	e.flush()
	logs := e.logs.take()
	if len(logs) != 1 || !strings.HasPrefix(logs[0], "WARN release agent did not start hierarchy=1 agent="+missing+" path=/job err=") {
		t.Errorf("log %q", logs)
	}

	if err := os.WriteFile(filepath.Join(p.dir, "exit"), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(e.h.Root().WriteFile("release_agent", []byte(p.path)))
	e.release("/three", 11)
	e.flush()
	rs := p.records("end")
	if len(rs) != 1 {
		t.Fatalf("%d agents ran", len(rs))
	}
	want := fmt.Sprintf("WARN release agent failed hierarchy=1 agent=%s path=/three pid=%d err=exit status 3", p.path, rs[0].Pid)
	if diff := cmp.Diff([]string{want}, e.logs.take()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if got := e.log.take(); !slices.Equal(got, []string{"/job", "/three"}) {
		t.Errorf("release function told %q", got)
	}
}

// TestExecAgentsConcurrent checks that the agents of two containers
// emptied at once run at the same time, and that Flush waits for running
// agents (and gives up when its context is done).
func TestExecAgentsConcurrent(t *testing.T) {
	p := newAgentProbe(t)
	e := newExecEnv(t, p.path)
	p.hold(true)
	e.release("/j1", 10)
	e.release("/j2", 11)
	rs := p.waitRecords("start", 2) // both started while held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.sys.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with agents held = %v, want DeadlineExceeded", err)
	}
	p.hold(false)
	e.flush()
	if n := len(p.records("end")); n != 2 {
		t.Errorf("Flush returned with %d of 2 agents done", n)
	}
	var paths []string
	for _, r := range rs {
		paths = append(paths, r.Args[1])
		if !relReaped(t, r.Pid) {
			t.Errorf("agent %d not reaped", r.Pid)
		}
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/j1", "/j2"}) {
		t.Errorf("agents for %q", paths)
	}
}

// TestCloseWaitsForAgent checks that Close with time to spare waits for a
// running agent to exit.
func TestCloseWaitsForAgent(t *testing.T) {
	p := newAgentProbe(t)
	e := newExecEnv(t, p.path)
	p.hold(true)
	e.release("/job", 10)
	p.waitRecords("start", 1)
	done := make(chan error, 1)
	go func() { done <- e.sys.Close(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Close returned %v while the agent ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.hold(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(p.records("end")); n != 1 {
		t.Errorf("Close returned before the agent was done (%d end records)", n)
	}
}

// TestCloseKillsAgent closes while a slow agent runs, with a short context:
// Close kills the agent and what it started, reaps it, and leaves no
// goroutine; a notification after Close runs nothing.
func TestCloseKillsAgent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	script := filepath.Join(dir, "agent.sh")
	// The agent starts a grandchild, records both IDs, and waits.
	relWriteScript(t, script, `sleep 60 & echo $$ $! > `+relShellQuote(pids)+`.tmp; mv `+relShellQuote(pids)+`.tmp `+relShellQuote(pids)+`; wait`)
	e := newExecEnv(t, script)
	e.release("/job", 10)
	var agent, grandchild int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(pids)
		if err == nil {
			if _, err := fmt.Sscan(string(b), &agent, &grandchild); err != nil {
				t.Fatalf("pids %q: %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not start")
		}
	}
	// The task that will leave after Close.
	e.mkdir("/after")
	e.notify("/after", true)
	late := e.task(11)
	e.move(late, "/after")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.sys.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if !relReaped(t, agent) {
		t.Errorf("agent %d not reaped after Close", agent)
	}
	if err := relWaitGone(grandchild, 10*time.Second); err != nil {
		t.Errorf("the agent's child: %v", err)
	}
	logs := e.logs.take()
	if len(logs) != 1 || !strings.HasPrefix(logs[0], "WARN release agent failed hierarchy=1 agent="+script+" path=/job pid=") ||
		!strings.HasSuffix(logs[0], "err=signal: killed") {
		t.Errorf("log %q", logs)
	}

	if err := e.h.Root().WriteFile("release_agent", []byte("/x")); !errors.Is(err, containers.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if err := os.Remove(pids); err != nil {
		t.Fatal(err)
	}
	e.exit(late)
	e.flush()
	if _, err := os.Stat(pids); err == nil {
		t.Error("an agent ran after Close")
	}
	if got := e.log.take(); !slices.Equal(got, []string{"/job"}) {
		t.Errorf("release function told %q", got)
	}
}

// relWaitGone waits until process pid no longer runs (it is gone, or a zombie
// left for its new parent to reap).
func relWaitGone(pid int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil
		}
		// The state follows the command, which is in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still runs: %s", pid, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
