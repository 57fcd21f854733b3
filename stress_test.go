package containers_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// stressPaths are the containers the mkdir/rmdir worker plays with.
var stressPaths = []string{"/x", "/y", "/x/p", "/x/q", "/y/p", "/x/p/z"}

// expectErr fails t unless err is nil or wraps one of the errnos.
func expectErr(t *testing.T, what string, err error, ok ...unix.Errno) {
	if err == nil {
		return
	}
	for _, e := range ok {
		if errors.Is(err, e) {
			return
		}
	}
	t.Errorf("%s: unexpected error %v", what, err)
}

// TestStress runs forks, thread forks, exits, attaches (single and whole
// process), task-file writes, clones, mkdirs, rmdirs, mounts and readers
// concurrently for a bounded time, then checks that every count is exact:
// the invariants hold, the container task counts add up, and once every
// task has exited and every container is gone only the default group is
// left and every Create had its Destroy. Run it with -race.
func TestStress(t *testing.T) {
	dur := time.Second
	if testing.Short() {
		dur = 200 * time.Millisecond
	}
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c", "d")
	h1 := must(sys.MountString("a,b"))
	h2 := must(sys.MountString("c"))
	h3 := must(sys.MountString("none,name=n"))
	hs := []*containers.Hierarchy{h1, h2, h3}

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var wg sync.WaitGroup
	const forkers = 4
	const idSpan = 1 << 20
	var maxID [forkers]atomic.Int32 // the highest ID each forker used
	live := make([][]*containers.Task, forkers)

	// The callback log would grow without bound: drain it.
	wg.Go(func() {
		for ctx.Err() == nil {
			log.take()
			time.Sleep(5 * time.Millisecond)
		}
	})

	for w := range forkers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			base := containers.TaskID(w*idSpan + 1)
			next := base
			var mine []*containers.Task
			for ctx.Err() == nil {
				switch n := r.IntN(10); {
				case len(mine) == 0 || n == 0 && len(mine) < 64:
					mine = append(mine, must(sys.NewTask(next)))
				case n < 4 && len(mine) < 64:
					p := mine[r.IntN(len(mine))]
					c, err := sys.Fork(p, next)
					if err != nil {
						t.Errorf("fork %d of %v: %v", next, p, err)
						return
					}
					mine = append(mine, c)
				case n < 7 && len(mine) < 64:
					p := mine[r.IntN(len(mine))]
					c, err := sys.ForkThread(p, next)
					if err != nil {
						t.Errorf("fork thread %d of %v: %v", next, p, err)
						return
					}
					mine = append(mine, c)
				default:
					i := r.IntN(len(mine))
					if err := sys.Exit(mine[i]); err != nil {
						t.Errorf("exit %v: %v", mine[i], err)
						return
					}
					mine = slices.Delete(mine, i, i+1)
					continue
				}
				maxID[w].Store(int32(next))
				next++
			}
			live[w] = mine
		})
	}

	// randomTask returns a task that a forker made, live or not, or nil.
	randomTask := func(r *rand.Rand) *containers.Task {
		w := r.IntN(forkers)
		hi := containers.TaskID(maxID[w].Load())
		lo := max(containers.TaskID(w*idSpan+1), hi-80)
		if hi < lo {
			return nil
		}
		task, err := sys.Task(lo + containers.TaskID(r.IntN(int(hi-lo+1))))
		if err != nil {
			return nil
		}
		return task
	}
	randomContainer := func(r *rand.Rand) *containers.Container {
		h := hs[r.IntN(len(hs))]
		p := "/"
		if r.IntN(4) > 0 {
			p = stressPaths[r.IntN(len(stressPaths))]
		}
		c, err := h.Lookup(p)
		if err != nil {
			return nil
		}
		return c
	}

	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for ctx.Err() == nil {
				task, c := randomTask(r), randomContainer(r)
				if task == nil || c == nil {
					continue
				}
				switch r.IntN(4) {
				case 0:
					expectErr(t, "attach", c.Attach(task), unix.ESRCH, unix.ENODEV)
				case 1:
					expectErr(t, "attach process", c.AttachProcess(task), unix.ESRCH, unix.ENODEV)
				case 2:
					err := c.WriteFile("tasks", []byte(strconv.Itoa(int(task.ID()))))
					expectErr(t, "write tasks", err, unix.ESRCH, unix.ENODEV)
				default:
					err := c.WriteFile("cgroup.procs", []byte(strconv.Itoa(int(task.ID()))))
					expectErr(t, "write cgroup.procs", err, unix.ESRCH, unix.ENODEV)
				}
			}
		})
	}

	wg.Go(func() { // clones
		r := rand.New(rand.NewPCG(0, 3))
		for ctx.Err() == nil {
			task := randomTask(r)
			if task == nil {
				continue
			}
			_, err := sys.Clone(task, []string{"a", "b", "c"}[r.IntN(3)], "")
			expectErr(t, "clone", err, unix.ESRCH, unix.EEXIST)
		}
	})

	for w := range 2 {
		wg.Go(func() { // mkdir and rmdir
			r := rand.New(rand.NewPCG(uint64(w), 4))
			for ctx.Err() == nil {
				h := hs[r.IntN(len(hs))]
				p := stressPaths[r.IntN(len(stressPaths))]
				if r.IntN(2) == 0 {
					dir, name := p[:max(1, len(p)-2)], p[len(p)-1:]
					parent, err := h.Lookup(dir)
					if err != nil {
						continue
					}
					_, err = parent.Mkdir(name)
					expectErr(t, "mkdir", err, unix.EEXIST, unix.ENOENT)
					if err == nil && r.IntN(3) == 0 {
						_ = parent.WriteFile("notify_on_release", []byte("1"))
					}
					continue
				}
				// Remove a leaf, clones' node_N containers included.
				c, err := h.Lookup(p)
				if err != nil {
					continue
				}
				for kids := c.Children(); len(kids) > 0; kids = c.Children() {
					c = kids[r.IntN(len(kids))]
				}
				expectErr(t, "rmdir", c.Rmdir(), unix.EBUSY, unix.ENOENT)
			}
		})
	}

	wg.Go(func() { // readers
		r := rand.New(rand.NewPCG(0, 5))
		for ctx.Err() == nil {
			c := randomContainer(r)
			if c == nil {
				continue
			}
			if _, err := c.ReadFile("tasks"); err != nil {
				expectErr(t, "read tasks", err, unix.ENODEV)
			}
			if _, err := c.ReadFile("cgroup.procs"); err != nil {
				expectErr(t, "read cgroup.procs", err, unix.ENODEV)
			}
			n := 0
			for range c.Tasks() {
				n++
				if n > 10 {
					break // leave the iteration early too
				}
			}
			_ = c.TaskCount()
			_ = c.GroupCount()
			if task := randomTask(r); task != nil {
				// Every task is in a container of each hierarchy, also
				// of one being mounted or unmounted meanwhile.
				for _, h := range sys.Hierarchies() {
					if c := task.Container(h); c.Hierarchy() != h {
						t.Errorf("task %v: container %v of %v is in %v", task, c, h, c.Hierarchy())
						return
					}
				}
				_ = task.Group()
			}
		}
	})

	wg.Go(func() { // move subsystem d in and out of a named hierarchy
		for ctx.Err() == nil {
			h, err := sys.MountString("none,name=r")
			if err != nil {
				t.Errorf("mount r: %v", err)
				return
			}
			for _, o := range []string{"d,name=r", "none,name=r", "d,name=r"} {
				if err := h.Remount(must(containers.ParseOptions(o))); err != nil {
					t.Errorf("remount %s: %v", o, err)
				}
			}
			if err := h.Unmount(); err != nil {
				t.Errorf("unmount r: %v", err)
				return
			}
		}
	})

	wg.Go(func() { // mount and unmount a named hierarchy
		r := rand.New(rand.NewPCG(0, 6))
		for ctx.Err() == nil {
			h, err := sys.MountString("none,name=m")
			if err != nil {
				t.Errorf("mount: %v", err)
				return
			}
			if r.IntN(2) == 0 {
				if c, err := h.Root().Mkdir("k"); err == nil {
					if task := randomTask(r); task != nil {
						expectErr(t, "attach in m", c.Attach(task), unix.ESRCH)
					}
				}
			}
			if c, err := h.Lookup("/k"); err == nil && r.IntN(2) == 0 {
				expectErr(t, "rmdir in m", c.Rmdir(), unix.EBUSY)
			}
			if err := h.Unmount(); err != nil {
				t.Errorf("unmount: %v", err)
				return
			}
		}
	})

	wg.Wait()
	if t.Failed() {
		return
	}

	// Every count is exact.
	if err := sys.CheckInvariants(); err != nil {
		t.Fatalf("invariants after the run: %v", err)
	}
	nlive := 0
	for _, mine := range live {
		nlive += len(mine)
	}
	if n := sys.LiveTasks(); n != nlive {
		t.Errorf("%d live tasks, the forkers hold %d", n, nlive)
	}
	for _, h := range sys.Hierarchies() {
		sum := 0
		var walk func(c *containers.Container)
		walk = func(c *containers.Container) {
			sum += c.TaskCount()
			for _, k := range c.Children() {
				walk(k)
			}
		}
		walk(h.Root())
		if sum != nlive {
			t.Errorf("%v: containers hold %d tasks, want %d", h, sum, nlive)
		}
	}

	// Everything exits; no group but the default one is left.
	for _, mine := range live {
		for _, task := range mine {
			if err := sys.Exit(task); err != nil {
				t.Errorf("exit %v: %v", task, err)
			}
		}
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Fatalf("invariants after the exits: %v", err)
	}
	if n := sys.GroupCount(); n != 1 {
		t.Errorf("%d groups left, want the default one", n)
	}
	// Every container can go, and every state is destroyed once.
	for _, h := range sys.Hierarchies() {
		var rm func(c *containers.Container)
		rm = func(c *containers.Container) {
			for _, k := range c.Children() {
				rm(k)
			}
			if c.Parent() != nil {
				if err := c.Rmdir(); err != nil {
					t.Errorf("rmdir %v after the run: %v", c, err)
				}
			}
		}
		rm(h.Root())
	}
	if err := sys.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkClean(t, sys, recs, 0)
}
