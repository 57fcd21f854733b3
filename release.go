package containers

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// releaser delivers release notifications (the kernel's release_list and
// its worker): containers are queued once while pending, and one worker
// goroutine owned by the System tells the Go callback and starts the exec
// agents, with no lock of the System held.
type releaser struct {
	sys *System
	fn  func(h *Hierarchy, path string)

	mu      sync.Mutex // guards the fields below; a leaf lock
	cond    sync.Cond  // broadcast when work finishes
	list    []*Container
	pending map[*Container]struct{}
	busy    int // notifications being delivered, agents running
	stopped bool

	wake    chan struct{}      // wakes the worker; buffered
	quit    chan struct{}      // closed by stop
	killCtx context.Context    // agents run under it
	kill    context.CancelFunc // kills agents that outlive Close's context
	wg      sync.WaitGroup     // the worker and agent waiters
}

// agentWaitDelay bounds how long Close waits for a killed agent's pipes.
const agentWaitDelay = 2 * time.Second

func (r *releaser) start(sys *System) {
	r.sys = sys
	r.cond.L = &r.mu
	r.pending = make(map[*Container]struct{})
	r.wake = make(chan struct{}, 1)
	r.quit = make(chan struct{})
	r.killCtx, r.kill = context.WithCancel(context.Background())
	r.wg.Go(r.work)
}

// queue adds c unless it is already pending. It never blocks for long.
func (r *releaser) queue(c *Container) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	if _, dup := r.pending[c]; dup {
		r.mu.Unlock()
		return
	}
	r.pending[c] = struct{}{}
	r.list = append(r.list, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// forget drops c from the queue: it was removed.
func (r *releaser) forget(c *Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[c]; !ok {
		return
	}
	delete(r.pending, c)
	for i, q := range r.list {
		if q == c {
			r.list = append(r.list[:i], r.list[i+1:]...)
			break
		}
	}
	if len(r.list) == 0 && r.busy == 0 {
		r.cond.Broadcast()
	}
}

func (r *releaser) work() {
	for {
		select {
		case <-r.quit:
			return
		case <-r.wake:
		}
		for {
			r.mu.Lock()
			if r.stopped || len(r.list) == 0 {
				r.mu.Unlock()
				break
			}
			c := r.list[0]
			r.list[0] = nil
			r.list = r.list[1:]
			delete(r.pending, c)
			r.busy++
			r.mu.Unlock()
			r.deliver(c)
			r.done()
		}
	}
}

func (r *releaser) done() {
	r.mu.Lock()
	r.busy--
	if len(r.list) == 0 && r.busy == 0 {
		r.cond.Broadcast()
	}
	r.mu.Unlock()
}

// deliver tells the callback and starts the exec agent for c, unless c was
// removed meanwhile. The path is taken under the structure lock, so a
// rename cannot tear it.
func (r *releaser) deliver(c *Container) {
	sys := r.sys
	sys.mu.Lock()
	if c.removed.Load() {
		sys.mu.Unlock()
		return
	}
	h, path, agent := c.h, c.Path(), c.h.ReleaseAgent()
	sys.mu.Unlock()
	if r.fn != nil {
		r.fn(h, path)
	}
	if agent == "" || !filepath.IsAbs(agent) {
		return
	}
	cmd := exec.CommandContext(r.killCtx, agent, path)
	cmd.Env = []string{"HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"}
	cmd.Dir = "/"
	cmd.WaitDelay = agentWaitDelay
	if err := cmd.Start(); err != nil {
		sys.logger.Warn("release agent did not start", "agent", agent, "path", path, "err", err)
		return
	}
	r.mu.Lock()
	r.busy++
	r.mu.Unlock()
	r.wg.Go(func() {
		if err := cmd.Wait(); err != nil {
			sys.logger.Warn("release agent failed", "agent", agent, "path", path, "err", err)
		}
		r.done()
	})
}

// flush waits until no notification is pending or being delivered and no
// agent is running, or ctx is done.
func (r *releaser) flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for (len(r.list) > 0 && !r.stopped) || r.busy > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.cond.Wait()
	}
	return nil
}

// stop drops what is pending, stops the worker and waits for it and for
// running agents; when ctx is done first, the agents are killed.
func (r *releaser) stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.list = nil
	clear(r.pending)
	r.mu.Unlock()
	close(r.quit)
	finished := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
		r.kill()
		<-finished
	}
	r.kill()
	return err
}

// Flush waits until every pending release notification has been delivered
// and every release agent started for one has exited, or ctx is done. Tests
// use it to see the notifications that earlier operations caused.
func (sys *System) Flush(ctx context.Context) error {
	return sys.rel.flush(ctx)
}
