package containers_test

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// releaseLog records the notifications of a release function.
type releaseLog struct {
	mu      sync.Mutex
	got     []string
	running map[string]int // path -> calls under way
	active  int            // calls under way
	maxAll  int            // most calls ever under way at once
	maxSame int            // most calls ever under way at once for one path
	hook    func(h *containers.Hierarchy, path string)
}

func (l *releaseLog) fn(h *containers.Hierarchy, path string) {
	l.mu.Lock()
	if l.running == nil {
		l.running = map[string]int{}
	}
	l.got = append(l.got, path)
	l.active++
	l.running[path]++
	l.maxAll = max(l.maxAll, l.active)
	l.maxSame = max(l.maxSame, l.running[path])
	hook := l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(h, path)
	}
	l.mu.Lock()
	l.active--
	l.running[path]--
	l.mu.Unlock()
}

// take returns the paths told since the last take, sorted (deliveries of
// one step may run concurrently, in any order).
func (l *releaseLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	slices.Sort(out)
	return out
}

// relEnv is a System with a release function, a hierarchy "jobs" with a
// recorder subsystem "r" (whose states can be referenced), and helpers that
// fail the test on error.
type relEnv struct {
	t     *testing.T
	sys   *containers.System
	h     *containers.Hierarchy
	rec   *recorder
	log   *releaseLog
	steps [][]string
}

func newRelEnv(t *testing.T, opts ...containers.Option) *relEnv {
	t.Helper()
	e := &relEnv{t: t, log: &releaseLog{}, rec: newRecorder("r", &callLog{})}
	opts = append([]containers.Option{containers.WithReleaseFunc(e.log.fn)}, opts...)
	sys, err := containers.New([]containers.Subsystem{e.rec}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.sys = sys
	t.Cleanup(func() {
		if err := sys.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.h = e.must1(sys.MountString("r,name=jobs"))
	return e
}

func (e *relEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *relEnv) must1(h *containers.Hierarchy, err error) *containers.Hierarchy {
	e.t.Helper()
	e.must(err)
	return h
}

func (e *relEnv) c(path string) *containers.Container {
	e.t.Helper()
	c, err := e.h.Lookup(path)
	e.must(err)
	return c
}

func (e *relEnv) mkdir(p string) *containers.Container {
	e.t.Helper()
	c, err := e.c(path.Dir(p)).Mkdir(path.Base(p))
	e.must(err)
	return c
}

func (e *relEnv) notify(path string, on bool) {
	e.t.Helper()
	v := "0\n"
	if on {
		v = "1\n"
	}
	e.must(e.c(path).WriteFile("notify_on_release", []byte(v)))
}

func (e *relEnv) task(id containers.TaskID) *containers.Task {
	e.t.Helper()
	t, err := e.sys.NewTask(id)
	e.must(err)
	return t
}

func (e *relEnv) move(t *containers.Task, path string) {
	e.t.Helper()
	e.must(e.c(path).Attach(t))
}

func (e *relEnv) exit(t *containers.Task) {
	e.t.Helper()
	e.must(e.sys.Exit(t))
}

func (e *relEnv) rmdir(path string) {
	e.t.Helper()
	e.must(e.c(path).Rmdir())
}

// css returns the header of the recorder's state of the container at path.
func (e *relEnv) css(path string) *containers.CSS {
	e.t.Helper()
	return &e.c(path).State(e.rec).(*recState).CSS
}

// step ends a step: it waits for the notifications the step caused and
// records them.
func (e *relEnv) step() {
	e.t.Helper()
	e.must(e.sys.Flush(context.Background()))
	e.steps = append(e.steps, e.log.take())
}

// TestReleaseTriggers checks the trigger rules of spec §8.1 (every row of
// its table, and the css reference rule of the 2.6.24 model) through the
// release function. Each step's notifications are compared; nil means none.
func TestReleaseTriggers(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *relEnv)
		want [][]string
	}{{
		name: "only task exits",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			t := e.task(10)
			e.move(t, "/job")
			e.step()
			e.exit(t)
			e.step()
		},
		want: [][]string{nil, {"/job"}},
	}, {
		name: "only task moved back to the root",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			t := e.task(10)
			e.move(t, "/job")
			e.move(t, "/")
			e.step()
		},
		want: [][]string{{"/job"}},
	}, {
		name: "nested sub inherits the flag; then the last child is removed",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			sub := e.mkdir("/job/sub")
			if !sub.NotifyOnRelease() {
				e.t.Error("notify_on_release not inherited")
			}
			t := e.task(10)
			e.move(t, "/job/sub")
			e.move(t, "/")
			e.step()
			e.rmdir("/job/sub")
			e.step()
		},
		want: [][]string{{"/job/sub"}, {"/job"}},
	}, {
		name: "never had tasks, only child removed",
		run: func(e *relEnv) {
			e.mkdir("/fresh")
			e.notify("/fresh", true)
			e.mkdir("/fresh/kid")
			e.step()
			e.rmdir("/fresh/kid")
			e.step()
		},
		want: [][]string{nil, {"/fresh"}},
	}, {
		name: "emptied while the flag was off, set afterwards",
		run: func(e *relEnv) {
			e.mkdir("/late")
			t := e.task(10)
			e.move(t, "/late")
			e.move(t, "/")
			e.notify("/late", true)
			e.step()
		},
		want: [][]string{nil},
	}, {
		name: "mkdir of a child only",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			e.mkdir("/job/kid")
			e.step()
		},
		want: [][]string{nil},
	}, {
		name: "root with the flag set",
		run: func(e *relEnv) {
			e.notify("/", true)
			e.mkdir("/x")
			e.notify("/x", false)
			t := e.task(10)
			e.move(t, "/x")
			e.move(t, "/")
			e.move(t, "/x")
			e.exit(t)
			e.step()
		},
		want: [][]string{nil},
	}, {
		name: "two containers emptied at once",
		run: func(e *relEnv) {
			e.notify("/", true)
			e.mkdir("/j1")
			e.mkdir("/j2")
			t1, t2 := e.task(10), e.task(11)
			e.move(t1, "/j1")
			e.move(t2, "/j2")
			e.exit(t1)
			e.exit(t2)
			e.step()
		},
		want: [][]string{{"/j1", "/j2"}},
	}, {
		name: "one of two tasks leaves",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			t1, t2 := e.task(10), e.task(11)
			e.move(t1, "/job")
			e.move(t2, "/job")
			e.exit(t1)
			e.step()
			e.move(t2, "/")
			e.step()
		},
		want: [][]string{nil, {"/job"}},
	}, {
		name: "threads: the last thread of the process exits",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			p := e.task(10)
			th, err := e.sys.ForkThread(p, 11)
			e.must(err)
			e.must(e.c("/job").AttachProcess(p))
			e.exit(th)
			e.step()
			e.exit(p)
			e.step()
		},
		want: [][]string{nil, {"/job"}},
	}, {
		name: "a whole process moves away",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			p := e.task(10)
			_, err := e.sys.ForkThread(p, 11)
			e.must(err)
			e.must(e.c("/job").AttachProcess(p))
			e.must(e.c("/").AttachProcess(p))
			e.step()
		},
		want: [][]string{{"/job"}},
	}, {
		name: "a task moves into a child: the parent is not empty",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			e.mkdir("/job/sub")
			t := e.task(10)
			e.move(t, "/job")
			e.move(t, "/job/sub")
			e.step()
		},
		want: [][]string{nil},
	}, {
		name: "fork into the container, then both exit",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			p := e.task(10)
			e.move(p, "/job")
			c, err := e.sys.Fork(p, 11)
			e.must(err)
			e.exit(p)
			e.step()
			e.exit(c)
			e.step()
		},
		want: [][]string{nil, {"/job"}},
	}, {
		name: "a css reference keeps it; the last Put releases it",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			s := e.css("/job")
			s.Get()
			t := e.task(10)
			e.move(t, "/job")
			e.exit(t)
			e.step()
			s.Get()
			s.Put()
			e.step()
			s.Put()
			e.step()
		},
		want: [][]string{nil, nil, {"/job"}},
	}, {
		name: "css Put on a container that never had tasks",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			s := e.css("/job")
			s.Get()
			s.Put()
			e.step()
		},
		want: [][]string{{"/job"}},
	}, {
		name: "css Put while tasks remain, or with the flag off",
		run: func(e *relEnv) {
			e.mkdir("/busy")
			e.notify("/busy", true)
			t := e.task(10)
			e.move(t, "/busy")
			s := e.css("/busy")
			s.Get()
			s.Put()
			e.mkdir("/off")
			s = e.css("/off")
			s.Get()
			s.Put()
			e.step()
		},
		want: [][]string{nil},
	}, {
		name: "a css reference keeps a child's removal from releasing",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			e.mkdir("/job/kid")
			s := e.css("/job")
			s.Get()
			e.rmdir("/job/kid")
			e.step()
			s.Put()
			e.step()
		},
		want: [][]string{nil, {"/job"}},
	}, {
		name: "the path is the one at delivery: rename before emptying",
		run: func(e *relEnv) {
			e.mkdir("/old")
			e.notify("/old", true)
			t := e.task(10)
			e.move(t, "/old")
			e.must(e.h.Rename("/old", "/new"))
			e.exit(t)
			e.step()
		},
		want: [][]string{{"/new"}},
	}, {
		name: "emptied again after delivery: told again",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			t := e.task(10)
			e.move(t, "/job")
			e.move(t, "/")
			e.step()
			e.move(t, "/job")
			e.move(t, "/")
			e.step()
		},
		want: [][]string{{"/job"}, {"/job"}},
	}, {
		name: "Clone of a task, then it exits",
		run: func(e *relEnv) {
			e.notify("/", true)
			t := e.task(10)
			c, err := e.sys.Clone(t, "r", "")
			e.must(err)
			if c.Path() != "/node_10" || !c.NotifyOnRelease() {
				e.t.Errorf("clone made %s, notify %v", c.Path(), c.NotifyOnRelease())
			}
			e.step()
			e.exit(t)
			e.step()
		},
		want: [][]string{nil, {"/node_10"}},
	}, {
		name: "a removed container is not told",
		run: func(e *relEnv) {
			e.mkdir("/job")
			e.notify("/job", true)
			t := e.task(10)
			e.move(t, "/job")
			e.exit(t)
			e.step()
			e.rmdir("/job")
			e.step()
		},
		want: [][]string{{"/job"}, nil},
	}, {
		name: "emptied, then removed before the delivery: still told (as today's kernel)",
		run: func(e *relEnv) {
			e.mkdir("/p")
			e.notify("/p", true)
			e.mkdir("/p/job")
			t := e.task(10)
			e.move(t, "/p/job")
			e.exit(t)
			e.rmdir("/p/job") // the parent is empty too now
			e.rmdir("/p")
			e.step()
		},
		want: [][]string{{"/p", "/p/job"}},
	}, {
		name: "a task in two notifying containers of two hierarchies exits",
		run: func(e *relEnv) {
			h2, err := e.sys.MountString("none,name=other")
			e.must(err)
			k, err := h2.Root().Mkdir("k")
			e.must(err)
			e.must(k.WriteFile("notify_on_release", []byte("1")))
			e.mkdir("/job")
			e.notify("/job", true)
			t := e.task(10)
			e.move(t, "/job")
			e.must(k.Attach(t))
			e.exit(t)
			e.step()
		},
		want: [][]string{{"/job", "/k"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newRelEnv(t)
				tt.run(e)
				if diff := cmp.Diff(tt.want, e.steps); diff != "" {
					t.Errorf("notifications per step (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestReleaseFuncHierarchy checks that the release function is told the
// hierarchy of the container.
func TestReleaseFuncHierarchy(t *testing.T) {
	var mu sync.Mutex
	var got []string
	sys, err := containers.New(nil, containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) {
		mu.Lock()
		got = append(got, h.Name()+":"+path)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	h := must(sys.MountString("none,name=hh"))
	c := must(h.Root().Mkdir("c"))
	if err := c.WriteFile("notify_on_release", []byte("1")); err != nil {
		t.Fatal(err)
	}
	task := must(sys.NewTask(1))
	if err := c.Attach(task); err != nil {
		t.Fatal(err)
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	if err := sys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"hh:/c"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// emptyOut makes n containers /<prefix>0.. with notify_on_release, each
// with a task, and then empties them all at once (the tasks exit).
func (e *relEnv) emptyOut(prefix string, n int) {
	e.t.Helper()
	var ts []*containers.Task
	for i := range n {
		p := "/" + prefix + strconv.Itoa(i)
		e.mkdir(p)
		e.notify(p, true)
		t := e.task(containers.TaskID(1000 + i))
		e.move(t, p)
		ts = append(ts, t)
	}
	for _, t := range ts {
		e.exit(t)
	}
}

// TestReleaseConcurrent checks that a slow release function delays only its
// own container, that two containers are told concurrently, that one
// container is never told twice at once, and that deliveries at once are
// bounded.
func TestReleaseConcurrent(t *testing.T) {
	t.Run("slow does not delay others", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			start := time.Now()
			var mu sync.Mutex
			at := map[string]time.Duration{}
			e.log.hook = func(_ *containers.Hierarchy, path string) {
				mu.Lock()
				at[path] = time.Since(start)
				mu.Unlock()
				if path == "/slow" {
					time.Sleep(time.Hour)
				}
			}
			e.mkdir("/slow")
			e.notify("/slow", true)
			e.mkdir("/fast")
			e.notify("/fast", true)
			ts, tf := e.task(1), e.task(2)
			e.move(ts, "/slow")
			e.move(tf, "/fast")
			e.exit(ts)
			synctest.Wait() // /slow's function is sleeping
			e.exit(tf)
			synctest.Wait()
			mu.Lock()
			if at["/fast"] != 0 {
				t.Errorf("/fast told after %v, behind /slow", at["/fast"])
			}
			mu.Unlock()
			e.step()
			if d := time.Since(start); d != time.Hour {
				t.Errorf("Flush returned after %v, want 1h", d)
			}
		})
	})
	t.Run("two at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			e.log.hook = func(*containers.Hierarchy, string) { time.Sleep(time.Second) }
			start := time.Now()
			e.emptyOut("j", 2)
			e.step()
			if d := time.Since(start); d != time.Second {
				t.Errorf("two 1s deliveries took %v, want 1s", d)
			}
			if e.log.maxAll != 2 {
				t.Errorf("at most %d at once, want 2", e.log.maxAll)
			}
		})
	})
	t.Run("bounded", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			e.log.hook = func(*containers.Hierarchy, string) { time.Sleep(time.Second) }
			start := time.Now()
			e.emptyOut("j", 20)
			e.step()
			if d := time.Since(start); d != 2*time.Second {
				t.Errorf("twenty 1s deliveries took %v, want 2s", d)
			}
			if e.log.maxAll != 16 {
				t.Errorf("at most %d at once, want 16", e.log.maxAll)
			}
			if n := len(e.steps[0]); n != 20 {
				t.Errorf("%d told, want 20", n)
			}
		})
	})
	t.Run("one container never twice at once, deduplicated while pending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			release := make(chan struct{})
			calls := 0
			e.log.hook = func(*containers.Hierarchy, string) {
				calls++ // serial for one container: no lock needed, -race checks it
				if calls == 1 {
					<-release
				}
			}
			e.mkdir("/job")
			e.notify("/job", true)
			tk := e.task(1)
			e.move(tk, "/job")
			e.move(tk, "/")
			synctest.Wait() // the first call is blocked
			for range 3 {   // emptied three more times while pending
				e.move(tk, "/job")
				e.move(tk, "/")
			}
			synctest.Wait()
			close(release)
			e.step()
			if diff := cmp.Diff([][]string{{"/job", "/job"}}, e.steps); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if e.log.maxSame != 1 {
				t.Errorf("one container told %d times at once", e.log.maxSame)
			}
		})
	})
}

// TestReleaseFuncCallsBack checks that the release function runs with no
// lock held: like a typical agent, it removes the container.
func TestReleaseFuncCallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRelEnv(t)
		errs := make(chan error, 1)
		e.log.hook = func(h *containers.Hierarchy, path string) {
			c, err := h.Lookup(path)
			if err == nil {
				err = c.Rmdir()
			}
			errs <- err
		}
		e.mkdir("/job")
		e.notify("/job", true)
		tk := e.task(1)
		e.move(tk, "/job")
		e.exit(tk)
		e.step()
		if err := <-errs; err != nil {
			t.Fatalf("rmdir from the release function: %v", err)
		}
		if _, err := e.h.Lookup("/job"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after the agent's rmdir: %v", err)
		}
	})
}

// TestFlushContext checks that Flush gives up when its context is done.
func TestFlushContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRelEnv(t)
		e.log.hook = func(*containers.Hierarchy, string) { time.Sleep(time.Hour) }
		e.emptyOut("j", 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := e.sys.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Flush gave up after %v, want 1s", d)
		}
		ctx, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if err := e.sys.Flush(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Flush(canceled) = %v", err)
		}
		e.step() // waits the hour
		if diff := cmp.Diff([][]string{{"/j0"}}, e.steps); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestCloseRelease checks Close: it waits for deliveries under way, gives
// up when its context is done (leaving release functions to finish, which
// Flush then waits for), drops what is pending and what is queued
// afterwards, and leaves no goroutine behind (the bubble would not end).
func TestCloseRelease(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			e.log.hook = func(*containers.Hierarchy, string) { time.Sleep(time.Minute) }
			e.emptyOut("j", 3)
			synctest.Wait()
			start := time.Now()
			if err := e.sys.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != time.Minute {
				t.Errorf("Close returned after %v, want 1m", d)
			}
			if got := e.log.take(); len(got) != 3 {
				t.Errorf("told %v", got)
			}
		})
	})
	t.Run("context done, pending dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			release := make(chan struct{})
			e.log.hook = func(*containers.Hierarchy, string) { <-release }
			e.emptyOut("j", 20) // 16 run and block, 4 pending
			synctest.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := e.sys.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Close = %v, want DeadlineExceeded", err)
			}
			if err := e.sys.Close(ctx); err != nil {
				t.Errorf("second Close = %v", err)
			}
			close(release)
			if err := e.sys.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := e.log.take(); len(got) != 16 {
				t.Errorf("told %d, want the 16 under way", len(got))
			}
		})
	})
	t.Run("nothing after Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newRelEnv(t)
			e.mkdir("/job")
			e.notify("/job", true)
			tk := e.task(1)
			e.move(tk, "/job")
			s := e.css("/job")
			s.Get()
			if err := e.sys.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Exit still keeps the books after Close.
			e.exit(tk)
			if n := e.c("/job").TaskCount(); n != 0 {
				t.Errorf("%d tasks left after Exit", n)
			}
			s.Put()
			e.step()
			if diff := cmp.Diff([][]string{nil}, e.steps); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	})
}

// TestClosedSystem checks that every mutating method returns an
// *fs.PathError wrapping ErrClosed after Close, changing nothing, while
// reads still work and Exit still keeps the books.
func TestClosedSystem(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	h := must(sys.MountString("a,name=x"))
	c := must(h.Root().Mkdir("c"))
	must(h.Root().Mkdir("d"))
	p := must(sys.NewTask(1))
	th := must(sys.ForkThread(p, 2))
	if err := c.Attach(p); err != nil {
		t.Fatal(err)
	}
	if err := sys.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.take()
	ops := map[string]func() error{
		"Mount":       func() error { _, err := sys.Mount(containers.Options{None: true, Name: "y"}); return err },
		"MountString": func() error { _, err := sys.MountString("none,name=y"); return err },
		"Unmount":     h.Unmount,
		"Remount":     func() error { return h.Remount(containers.Options{Subsystems: []string{"a"}, Name: "x"}) },
		"Mkdir":       func() error { _, err := c.Mkdir("e"); return err },
		"Rmdir":       func() error { return must(h.Lookup("/d")).Rmdir() },
		"Rename":      func() error { return h.Rename("/d", "/e") },
		"Attach":      func() error { return h.Root().Attach(p) },
		"AttachProcess": func() error {
			return h.Root().AttachProcess(p)
		},
		"Clone":     func() error { _, err := sys.Clone(p, "a", "n"); return err },
		"WriteFile": func() error { return c.WriteFile("notify_on_release", []byte("1")) },
		"WriteFileAs": func() error {
			return c.WriteFileAs(p, "tasks", []byte("0"))
		},
		"Hierarchy.WriteFile": func() error { return h.WriteFile("/release_agent", []byte("/x")) },
		"NewTask":             func() error { _, err := sys.NewTask(5); return err },
		"Fork":                func() error { _, err := sys.Fork(p, 6); return err },
		"ForkThread":          func() error { _, err := sys.ForkThread(p, 7); return err },
	}
	for name, op := range ops {
		err := op()
		var pe *fs.PathError
		if !errors.Is(err, containers.ErrClosed) || !errors.As(err, &pe) {
			t.Errorf("%s after Close: %v, want an *fs.PathError wrapping ErrClosed", name, err)
		}
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("callbacks after Close: %q", got)
	}
	if got := must(c.ReadFile("tasks")); string(got) != "1\n" {
		t.Errorf("tasks read after Close: %q", got)
	}
	if _, err := h.Lookup("/d"); err != nil {
		t.Errorf("Lookup after Close: %v", err)
	}
	if got := c.NotifyOnRelease(); got {
		t.Error("notify_on_release changed by a refused write")
	}
	if _, err := sys.Task(5); !errors.Is(err, unix.ESRCH) {
		t.Errorf("a refused NewTask left task 5: %v", err)
	}
	for _, tk := range []*containers.Task{th, p} {
		if err := sys.Exit(tk); err != nil {
			t.Errorf("Exit after Close: %v", err)
		}
	}
	if n := c.TaskCount(); n != 0 {
		t.Errorf("%d tasks left in /c after Exit", n)
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

// TestReleaseAgentConfig checks the release_agent settings: the mount
// option, the root's file, remount, and the hierarchy's options.
func TestReleaseAgentConfig(t *testing.T) {
	sys := must(containers.New(nil))
	defer sys.Close(context.Background())
	h := must(sys.MountString("none,name=cfg,release_agent=/sbin/agent"))
	check := func(step, want string) {
		t.Helper()
		if got := h.ReleaseAgent(); got != want {
			t.Errorf("%s: ReleaseAgent = %q, want %q", step, got, want)
		}
		if got := string(must(h.Root().ReadFile("release_agent"))); got != want+"\n" {
			t.Errorf("%s: release_agent file = %q, want %q", step, got, want+"\n")
		}
		opts := "name=cfg"
		if want != "" {
			opts = "release_agent=" + want + ",name=cfg"
		}
		if got := h.Options().String(); got != opts {
			t.Errorf("%s: options %q, want %q", step, got, opts)
		}
	}
	check("mount", "/sbin/agent")

	// A second mount of the same hierarchy ignores its release_agent.
	if h2 := must(sys.MountString("none,name=cfg,release_agent=/other")); h2 != h {
		t.Fatal("the second mount made a new hierarchy")
	}
	check("second mount", "/sbin/agent")
	if err := h.Unmount(); err != nil {
		t.Fatal(err)
	}

	if err := h.Root().WriteFile("release_agent", []byte("  /usr/bin/agent two\n")); err != nil {
		t.Fatal(err)
	}
	check("file write", "/usr/bin/agent two")
	if err := h.Root().WriteFile("release_agent", nil); err != nil {
		t.Fatal(err)
	}
	check("empty write", "/usr/bin/agent two")

	if err := h.Remount(must(containers.ParseOptions("none,name=cfg,release_agent=/r"))); err != nil {
		t.Fatal(err)
	}
	check("remount", "/r")
	if err := h.Remount(must(containers.ParseOptions("name=cfg"))); err != nil {
		t.Fatal(err)
	}
	check("remount without release_agent", "/r")

	if err := h.WriteFile("/release_agent", []byte("relative\n")); err != nil {
		t.Fatal(err)
	}
	check("relative", "relative")
	if err := h.Root().WriteFile("release_agent", []byte("\n")); err != nil {
		t.Fatal(err)
	}
	check("cleared", "")

	big := []byte("/" + strings.Repeat("a", 4095))
	if err := h.Root().WriteFile("release_agent", big); !errors.Is(err, unix.E2BIG) {
		t.Errorf("4096-byte write: %v, want E2BIG", err)
	}
	if err := h.Root().WriteFile("release_agent", big[:4095]); err != nil {
		t.Errorf("4095-byte write: %v", err)
	}
	check("4095 bytes", string(big[:4095]))

	k := must(h.Root().Mkdir("k"))
	if err := k.WriteFile("release_agent", []byte("/x")); !errors.Is(err, unix.ENOENT) {
		t.Errorf("release_agent in a child: %v, want ENOENT", err)
	}
	if err := h.Remount(must(containers.ParseOptions("none,name=cfg,release_agent=/busy"))); !errors.Is(err, unix.EBUSY) {
		t.Errorf("remount with a child: %v, want EBUSY", err)
	}
	check("refused remount", string(big[:4095]))

	if _, err := containers.ParseOptions("none,name=z,release_agent=/a,release_agent=/b"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("release_agent twice: %v, want EINVAL", err)
	}
	if _, err := sys.Mount(containers.Options{None: true, Name: "z", ReleaseAgent: "/" + string(big)}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("mount with a 4097-byte agent: %v, want EINVAL", err)
	}
}

// TestReleaseStress empties containers from many goroutines at once, with
// css references and readers holding groups, and checks that no
// notification is lost (the last one of each container came after its
// last emptying), none is invented (at most one per emptying), none names
// a wrong path, and one container is never told twice at once.
func TestReleaseStress(t *testing.T) {
	const workers, rounds = 8, 300
	var gens [workers]atomic.Int64 // emptyings so far, per container
	var seen [workers]atomic.Int64 // the largest emptying count a delivery saw
	var told [workers]atomic.Int64
	var bad atomic.Value
	e := newRelEnv(t)
	e.log.hook = func(_ *containers.Hierarchy, p string) {
		i, err := strconv.Atoi(strings.TrimPrefix(p, "/w"))
		if err != nil || i < 0 || i >= workers {
			bad.Store(p)
			return
		}
		told[i].Add(1)
		g := gens[i].Load()
		for {
			s := seen[i].Load()
			if g <= s || seen[i].CompareAndSwap(s, g) {
				break
			}
		}
		// Widen the window in which the container is emptied again while
		// this delivery, which has read its count, is still under way.
		time.Sleep(50 * time.Microsecond)
	}
	for i := range workers {
		e.mkdir("/w" + strconv.Itoa(i))
		e.notify("/w"+strconv.Itoa(i), true)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() { // holds groups for a moment, and flushes
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range workers {
				e.c("/w" + strconv.Itoa(i)).ReadFile("tasks")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			e.sys.Flush(ctx)
			cancel()
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			c := e.c("/w" + strconv.Itoa(i))
			s := &c.State(e.rec).(*recState).CSS
			id := containers.TaskID(1 + i*1000)
			for r := range rounds {
				tk, err := e.sys.NewTask(id + containers.TaskID(r))
				if err == nil {
					err = c.Attach(tk)
				}
				if err != nil {
					errs <- err
					return
				}
				hold := r%3 == 2
				if hold {
					s.Get()
				}
				if !hold {
					gens[i].Add(1) // before the event that empties it
				}
				if r%2 == 0 {
					err = e.sys.Exit(tk)
				} else {
					err = e.h.Root().Attach(tk)
					if err == nil {
						err = e.sys.Exit(tk)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if hold {
					gens[i].Add(1)
					s.Put()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.flush()
	if p := bad.Load(); p != nil {
		t.Errorf("told of %v", p)
	}
	for i := range workers {
		if g, s := gens[i].Load(), seen[i].Load(); s != g {
			t.Errorf("/w%d: last delivery saw emptying %d of %d: a notification was lost", i, s, g)
		}
		if n := told[i].Load(); n < 1 || n > gens[i].Load() {
			t.Errorf("/w%d: told %d times for %d emptyings", i, n, gens[i].Load())
		}
	}
	if e.log.maxSame != 1 {
		t.Errorf("one container told %d times at once", e.log.maxSame)
	}
	if err := e.sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}
