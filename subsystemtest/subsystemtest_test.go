package subsystemtest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

func TestGoodPasses(t *testing.T) {
	if err := opts.Check(func() containers.Subsystem { return good{newCore(bugNone)} }); err != nil {
		t.Errorf("Check of the correct fake:\n%v", err)
	}
	opts.Run(t, func(*testing.T) containers.Subsystem { return good{newCore(bugNone)} })
}

func TestMinimalPasses(t *testing.T) {
	Run(t, func(*testing.T) containers.Subsystem { return &minimal{} })
}

// Without Setup the fake refuses every attach to a child; that is
// legitimate, and the rules still hold.
func TestRefusingPasses(t *testing.T) {
	if err := Check(func() containers.Subsystem { return good{newCore(bugNone)} }); err != nil {
		t.Errorf("Check of the correct fake without Setup:\n%v", err)
	}
}

func TestBrokenFakesAreCaught(t *testing.T) {
	tests := []struct {
		name string
		new  func() containers.Subsystem
		rule Rule
		want []string // substrings of one violation's message
	}{
		{"create leaks a reference", fake(bugCreateLeaksRef), RuleCreateDestroy,
			[]string{"rmdir /a/c", "a reference to its state (CSS.Get) was not dropped"}},
		{"Destroy does not undo Create", fake(bugCountsCreates), RuleCreateDestroy,
			[]string{"changed file / fake.children"}},
		{"Create reuses a state", fake(bugReusesState), RuleCreateDestroy,
			[]string{"mkdir /a/b", "Create must return a new State"}},
		{"Create fails", fake(bugCreateFails), RuleCreateDestroy,
			[]string{"mkdir /a", "cannot allocate memory"}},
		{"CanAttach does the work", fake(bugCanAttachMoves), RuleAttach,
			[]string{"attach of task", "to /n", "refused", "changed file /n fake.ntasks"}},
		{"refusal without errno", fake(bugRefuseNonErrno), RuleAttach,
			[]string{"no limit set", "does not wrap a unix.Errno"}},
		{"no CancelAttach", func() containers.Subsystem { return noCancel{newCore(bugNone)} }, RuleCancelAttach,
			[]string{"refused", "changed file / fake.reserved"}},
		{"CancelAttach not expected", func() containers.Subsystem { return cancelOnly{newCore(bugNone)} }, RuleCancelAttach,
			[]string{"implements AttachCanceler but not CanAttacher"}},
		{"Exit panics", fake(bugExitPanics), RuleForkExit,
			[]string{"panic", "Exit(task", "exit of task"}},
		{"Fork keeps a reference", fake(bugForkRef), RuleForkExit,
			[]string{"rmdir /a after all its tasks exited", "was not dropped"}},
		{"Exit does not uncount", fake(bugExitNoCount), RuleForkExit,
			[]string{"made, forked and exited changed file /a fake.ntasks"}},
		{"file name with a slash", fake(bugBadFileName), RuleFiles,
			[]string{`"bad/name"`, `contains "/"`}},
		{"duplicate file", fake(bugDupFile), RuleFiles,
			[]string{`("limit")`, "used by another file"}},
		{"two readers", fake(bugTwoReaders), RuleFiles,
			[]string{`("two")`, "2 readers"}},
		{"unreadable file", fake(bugReadError), RuleRead,
			[]string{"read of fake.label in /", "input/output error"}},
		{"read panics", fake(bugReadPanics), RuleRead,
			[]string{"panic", "nil pointer dereference"}},
		{"garbage makes a write panic", fake(bugGarbagePanics), RuleWrite,
			[]string{"panic", "not a letter"}},
		{"failed write changes state", fake(bugWriteHalfway), RuleWrite,
			[]string{"fake.label", "which failed, changed file"}},
		{"write error without errno", fake(bugWriteNonErrno), RuleWrite,
			[]string{"letters only", "does not wrap a unix.Errno"}},
		{"PostClone panics", fake(bugPostClonePanics), RuleClone,
			[]string{"panic", "PostClone", "post_clone"}},
		{"invalid name", fake(bugBadName), RuleRegister,
			[]string{`"Bad-Name"`, "is not 1 to 32 bytes"}},
		{"not comparable", func() containers.Subsystem { return notComparable{} }, RuleRegister,
			[]string{"not comparable"}},
		{"nil subsystem", func() containers.Subsystem { return nil }, RuleRegister,
			[]string{"nil Subsystem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := opts.Check(tt.new)
			if err == nil {
				t.Fatalf("Check found nothing")
			}
			vs := Violations(err)
			if len(vs) == 0 {
				t.Fatalf("Check returned %v, with no *Violation in it", err)
			}
			for _, v := range vs {
				if v.Rule != tt.rule {
					continue
				}
				if !slices.ContainsFunc(tt.want, func(s string) bool { return !strings.Contains(v.Msg, s) }) {
					return
				}
			}
			t.Errorf("no %s violation mentions all of %q; got:\n%v", tt.rule, tt.want, err)
		})
	}
}

func fake(b bug) func() containers.Subsystem {
	return func() containers.Subsystem { return good{newCore(b)} }
}

func TestInterfaces(t *testing.T) {
	tests := []struct {
		ss   containers.Subsystem
		want []string
	}{
		{&minimal{}, nil},
		{good{newCore(bugNone)}, []string{"CanAttacher", "AttachCanceler", "Attacher", "Forker", "Exiter", "PostCloner", "Binder", "FileProvider"}},
		{noCancel{newCore(bugNone)}, []string{"CanAttacher", "Attacher", "Forker", "Exiter", "PostCloner", "Binder", "FileProvider"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Interfaces(tt.ss)); diff != "" {
			t.Errorf("Interfaces(%T) (-want +got):\n%s", tt.ss, diff)
		}
	}
}

func TestViolationsOfNil(t *testing.T) {
	if vs := Violations(nil); vs != nil {
		t.Errorf("Violations(nil) = %v", vs)
	}
	v := &Violation{Rule: RuleWrite, Msg: "x"}
	if got := Violations(errors.Join(errors.New("other"), v)); len(got) != 1 || got[0] != v {
		t.Errorf("Violations = %v, want [%v]", got, v)
	}
	if v.Error() != "write: x" {
		t.Errorf("Error() = %q", v.Error())
	}
}

// A System with the wrapper of a minimal subsystem and the refuser, and
// containers /a and /b, for feeding the sequence checks made-up event logs:
// the framework keeps these rules, so a broken framework is the only way
// to break them, and these logs are that broken framework.
type fixture struct {
	e    *env
	a, b *containers.Container
	t1   *containers.Task
	t2   *containers.Task
}

func newFixture(t *testing.T) *fixture {
	e := newEnv(RuleAttach, Options{}, &minimal{})
	e.name = "minimal"
	e.w = newWrapper(e.inner, e.name, e.rec)
	e.ref = &refuser{name: "sstest_refuser", rec: e.rec}
	sys, err := containers.New([]containers.Subsystem{e.w, e.ref})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(context.Background()) })
	e.sys = sys
	h, err := sys.MountString("minimal,sstest_refuser")
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	a, _ := h.Root().Mkdir("a")
	b, _ := h.Root().Mkdir("b")
	t1, _ := sys.NewTask(1)
	t2, _ := sys.NewTask(2)
	// Forget what really happened: the tests supply the log.
	e.rec = &recorder{}
	return &fixture{e: e, a: a, b: b, t1: t1, t2: t2}
}

func (f *fixture) log(evs ...event) {
	for _, ev := range evs {
		if ev.ss == "" {
			ev.ss = f.e.name
		}
		f.e.rec.events = append(f.e.rec.events, ev)
	}
}

func (f *fixture) attachOp(n int, dst *containers.Container, err error, tasks ...*containers.Task) {
	f.e.ops = append(f.e.ops, &opInfo{n: n, attach: true, dst: dst, moving: tasks, err: err, what: "attach"})
}

func (f *fixture) want(t *testing.T, rule Rule, substr string) {
	t.Helper()
	for _, v := range f.e.vs {
		if v.Rule == rule && strings.Contains(v.Msg, substr) {
			return
		}
	}
	t.Errorf("no %s violation mentions %q; got %v", rule, substr, f.e.vs)
}

func TestCheckLifecycleCatches(t *testing.T) {
	t.Run("callback after Destroy", func(t *testing.T) {
		f := newFixture(t)
		s := &fakeState{}
		f.log(event{kind: evCreate, c: f.a, state: s}, event{kind: evDestroy, c: f.a, state: s},
			event{kind: evRead, c: f.a, state: s, file: "x"})
		f.e.checkLifecycle()
		f.want(t, RuleAfterDestroy, "read handler of file x /a after the Destroy of /a")
	})
	t.Run("state used after Destroy", func(t *testing.T) {
		f := newFixture(t)
		s := &fakeState{}
		f.log(event{kind: evCreate, c: f.a, state: s}, event{kind: evDestroy, c: f.a, state: s},
			event{kind: evWrite, c: f.b, state: s, file: "x"})
		f.e.checkLifecycle()
		f.want(t, RuleAfterDestroy, "with the state of /a after its Destroy")
	})
	t.Run("Destroy without Create", func(t *testing.T) {
		f := newFixture(t)
		f.log(event{kind: evDestroy, c: f.a, state: &fakeState{}})
		f.e.checkLifecycle()
		f.want(t, RuleCreateDestroy, "Destroy(/a) with a state that Create did not return")
	})
	t.Run("Destroy twice", func(t *testing.T) {
		f := newFixture(t)
		s := &fakeState{}
		f.log(event{kind: evCreate, c: f.a, state: s}, event{kind: evDestroy, c: f.a, state: s},
			event{kind: evDestroy, c: f.a, state: s})
		f.e.checkLifecycle()
		f.want(t, RuleAfterDestroy, "second Destroy(/a)")
	})
	t.Run("Destroy of the root state", func(t *testing.T) {
		f := newFixture(t)
		s := &fakeState{}
		f.log(event{kind: evCreate, c: f.e.h.Root(), state: s}, event{kind: evDestroy, c: f.a, state: s})
		f.e.checkLifecycle()
		f.want(t, RuleCreateDestroy, "with the root state")
	})
	t.Run("removed without Destroy", func(t *testing.T) {
		f := newFixture(t)
		f.log(event{kind: evCreate, c: f.a, state: &fakeState{}})
		if err := f.a.Rmdir(); err != nil {
			t.Fatal(err)
		}
		f.e.checkLifecycle()
		f.want(t, RuleCreateDestroy, "/a was removed but Destroy was not called")
	})
	t.Run("a state returned twice", func(t *testing.T) {
		f := newFixture(t)
		s := &fakeState{}
		f.log(event{kind: evCreate, c: f.a, state: s}, event{kind: evCreate, c: f.b, state: s})
		f.e.checkLifecycle()
		f.want(t, RuleCreateDestroy, "Create(/b) returned the state it had returned for /a")
	})
}

func TestCheckAttachOpsCatches(t *testing.T) {
	refused := error(unix.ENOSPC)
	t.Run("Attach after a refused CanAttach", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, refused, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1), err: refused},
			event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)})
		f.e.checkAttachOps()
		f.want(t, RuleAttach, "Attach was called although the subsystem's CanAttach refused")
	})
	t.Run("Attach without CanAttach", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, nil, f.t1)
		f.log(event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)})
		f.e.checkAttachOps()
		f.want(t, RuleAttach, "CanAttach was called 0 times, want once")
	})
	t.Run("Attach twice", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, nil, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)})
		f.e.checkAttachOps()
		f.want(t, RuleAttach, "it was called 2 times")
	})
	t.Run("wrong tasks", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, nil, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, kind: evAttach, c: f.b, tasks: tasks(f.t1, f.t2)})
		f.e.checkAttachOps()
		f.want(t, RuleAttach, "Attach was given destination /b")
		f.want(t, RuleAttach, "Attach was given tasks [1 2], want [1]")
	})
	t.Run("CancelAttach after its own refusal", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, refused, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1), err: refused},
			event{op: 1, kind: evCancelAttach, c: f.a, tasks: tasks(f.t1)})
		f.e.checkAttachOps()
		f.want(t, RuleCancelAttach, "CancelAttach was called although the subsystem's own CanAttach refused")
	})
	t.Run("no CancelAttach after a later refusal", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, refused, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, ss: "sstest_refuser", kind: evCanAttach, c: f.a, tasks: tasks(f.t1), err: errRefused})
		f.e.checkAttachOps()
		f.want(t, RuleCancelAttach, "CancelAttach is due once; it was called 0 times")
	})
	t.Run("CancelAttach after a success", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, nil, f.t1)
		f.log(event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, kind: evCancelAttach, c: f.a, tasks: tasks(f.t1)},
			event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)})
		f.e.checkAttachOps()
		f.want(t, RuleCancelAttach, "succeeded, yet CancelAttach was called")
	})
	t.Run("callbacks when nothing moves", func(t *testing.T) {
		f := newFixture(t)
		f.attachOp(1, f.a, nil)
		f.log(event{op: 1, kind: evCanAttach, c: f.a})
		f.e.checkAttachOps()
		f.want(t, RuleAttach, "no task had to move")
	})
}

func tasks(ts ...*containers.Task) []*containers.Task { return ts }

func TestCheckForkExitCatches(t *testing.T) {
	t.Run("Fork twice, Exit missing", func(t *testing.T) {
		f := newFixture(t)
		f.e.tasks = tasks(f.t1)
		f.e.exited[f.t1] = true
		f.log(event{kind: evFork, tasks: tasks(f.t1)}, event{kind: evFork, tasks: tasks(f.t1)})
		f.e.checkForkExit()
		f.want(t, RuleForkExit, "task 1: Fork was called 2 times, want once")
		f.want(t, RuleForkExit, "task 1: Exit was called 0 times, want 1")
	})
	t.Run("Exit before Fork", func(t *testing.T) {
		f := newFixture(t)
		f.e.tasks = tasks(f.t1)
		f.e.exited[f.t1] = true
		f.log(event{kind: evExit, tasks: tasks(f.t1)}, event{kind: evFork, tasks: tasks(f.t1)})
		f.e.checkForkExit()
		f.want(t, RuleForkExit, "Exit(task 1) before any Fork")
		f.want(t, RuleForkExit, "Fork(task 1) after its Exit")
	})
	t.Run("a task the host never made", func(t *testing.T) {
		f := newFixture(t)
		f.log(event{kind: evFork, tasks: tasks(f.t2)})
		f.e.checkForkExit()
		f.want(t, RuleForkExit, "task 2, which the host never made")
	})
}

func TestCheckCloneOpsCatches(t *testing.T) {
	f := newFixture(t)
	f.e.ops = append(f.e.ops, &opInfo{n: 1, clone: true, what: "clone", task: f.t1, moving: tasks(f.t1)})
	s := &fakeState{}
	f.log(event{op: 1, kind: evCreate, c: f.a, state: s},
		event{op: 1, kind: evCanAttach, c: f.a, tasks: tasks(f.t1)},
		event{op: 1, kind: evPostClone, c: f.a},
		event{op: 1, kind: evAttach, c: f.a, tasks: tasks(f.t1)})
	f.e.checkCloneOps()
	f.want(t, RuleClone, "want Create, PostClone, CanAttach")
}

// The kit's wrapper keeps the wrapped subsystem's name and file handlers,
// and recovers a panicking callback.
func TestWrapperRecoversPanics(t *testing.T) {
	rec := &recorder{}
	w := newWrapper(good{newCore(bugExitPanics)}, "fake", rec)
	sys, err := containers.New([]containers.Subsystem{w})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	task, err := sys.NewTask(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	ps := rec.takePanics()
	if len(ps) != 1 || !strings.Contains(ps[0], "panic in Exit(task 1): exit of task 1") || !strings.Contains(ps[0], "(*core).Exit") {
		t.Errorf("panics = %q", ps)
	}
	if _, err := sys.Task(1); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the task is still known after its Exit: %v", err)
	}
}

// The scenarios exercise every callback and handler of the correct fake
// (seen through the wrapper), so the sequence checks are not vacuous.
func TestScenariosExerciseEveryCallback(t *testing.T) {
	seen := map[string]int{}
	for _, rule := range Rules() {
		e := newEnv(rule, opts, good{newCore(bugNone)})
		if !e.start() {
			t.Fatalf("%s: start failed: %v", rule, e.vs)
		}
		res := runScenario(e)
		e.close()
		if len(res) > 0 {
			t.Errorf("%s: %v", rule, res)
		}
		for _, ev := range e.rec.snapshot() {
			if ev.ss == e.name {
				seen[ev.kind]++
			}
		}
	}
	for _, k := range []string{evCreate, evDestroy, evCanAttach, evCancelAttach, evAttach, evFork, evExit, evPostClone, evBind, evRead, evWrite} {
		if seen[k] == 0 {
			t.Errorf("no scenario called %s", k)
		}
	}
}
