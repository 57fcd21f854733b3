package containers

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxReleaseWorkers bounds the notifications delivered at once. Each is
// delivered by its own goroutine, so a slow release function delays only
// its own container; the kernel likewise runs agents concurrently.
const maxReleaseWorkers = 16

// agentWaitDelay bounds how long the reaping of an agent may wait for I/O
// after the agent exited or was killed (os/exec's WaitDelay). The agent's
// standard streams are /dev/null, so there are no pipes to drain; the bound
// is a guard.
const agentWaitDelay = 2 * time.Second

// agentEnv is the whole environment of an exec release agent, as the kernel
// gives it (cgroup1_release_agent).
var agentEnv = []string{"HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin"}

// releaser delivers release notifications (the kernel's release_list, or
// today's per-cgroup release_agent_work). A container is queued at most once
// while pending; a notification for it that is being delivered does not
// count as pending, so a container emptied again meanwhile is told again,
// after the first delivery. Deliveries run on goroutines owned by the
// System, at most maxReleaseWorkers at a time and never two for the same
// container at once, with no lock of the System held.
//
// mu is a leaf lock: queue takes it under any lock of the System.
type releaser struct {
	// Fixed at New.
	sys     *System
	fn      func(h *Hierarchy, path string)
	killCtx context.Context    // agents run under it
	kill    context.CancelFunc // kills the running agents

	mu      sync.Mutex          // guards the fields below
	cond    sync.Cond           // broadcast when a count below drops, or stopped is set
	list    []*Container        // FIFO; an entry not in pending is stale and skipped
	pending map[*Container]bool // queued and not yet taken by a worker
	running map[*Container]bool // being delivered
	workers int                 // worker goroutines alive
	agents  int                 // exec agents started (or starting) and not yet reaped
	stopped bool                // set by stop: nothing is queued any more
	killed  bool                // set when stop gave up waiting: nothing more is started or called

	wg      sync.WaitGroup // the workers; Add only under mu while !stopped
	agentWG sync.WaitGroup // the reapers of agents; Add only by a worker counted in agents
}

func (r *releaser) start(sys *System) {
	r.sys = sys
	r.cond.L = &r.mu
	r.pending = make(map[*Container]bool)
	r.running = make(map[*Container]bool)
	r.killCtx, r.kill = context.WithCancel(context.Background())
}

// queue adds c unless it is already pending or the System is closed, and
// makes sure a worker will deliver it. It never blocks for long: it may be
// called under any lock of the System.
func (r *releaser) queue(c *Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.pending[c] {
		return
	}
	r.pending[c] = true
	r.list = append(r.list, c)
	// Spawning under mu, with stopped false, orders every Add before the
	// Wait of stop.
	if r.workers < maxReleaseWorkers {
		r.workers++
		r.wg.Go(r.work)
	}
}

// nextLocked takes the oldest pending container that is not being
// delivered, or returns nil. It drops stale entries as it goes.
func (r *releaser) nextLocked() *Container {
	kept := 0
	var next *Container
	i := 0
	for ; i < len(r.list); i++ {
		c := r.list[i]
		if !r.pending[c] {
			continue
		}
		if r.running[c] {
			r.list[kept] = c
			kept++
			continue
		}
		next = c
		i++
		break
	}
	// Keep what was skipped for running, drop the stale and the taken.
	n := kept + copy(r.list[kept:], r.list[i:])
	clear(r.list[n:])
	r.list = r.list[:n]
	if next != nil {
		delete(r.pending, next)
		r.running[next] = true
	}
	return next
}

// work delivers notifications until none is deliverable. A container that
// is pending but being delivered by another worker is left to that worker,
// which looks again when it is done.
func (r *releaser) work() {
	r.mu.Lock()
	for !r.stopped {
		c := r.nextLocked()
		if c == nil {
			break
		}
		r.mu.Unlock()
		r.deliver(c)
		r.mu.Lock()
		delete(r.running, c)
		r.cond.Broadcast()
	}
	r.workers--
	r.cond.Broadcast()
	r.mu.Unlock()
}

// deliver starts the exec agent for c and tells the release function,
// unless Close has given up waiting. A container removed after it was
// queued is still told, with the path it had, as today's kernel still runs
// the agent for a container removed right after it emptied. The path and
// agent are read under the structure lock, so that a rename cannot tear the
// path and the notification names the container as it is now.
func (r *releaser) deliver(c *Container) {
	sys := r.sys
	sys.mu.Lock()
	h, path, agent := c.h, c.Path(), c.h.ReleaseAgent()
	sys.mu.Unlock()
	r.exec(h, agent, path)
	if r.fn == nil {
		return
	}
	r.mu.Lock()
	killed := r.killed
	r.mu.Unlock()
	if killed { // Close gave up waiting and returned: start no more calls
		return
	}
	r.fn(h, path)
}

// exec starts agent with argument path as the kernel does: argv is exactly
// [agent, path], the environment exactly agentEnv, the working directory
// "/", the standard streams /dev/null, and the agent leads a session of its
// own, as a process started by the kernel is in none of ours. It does not
// wait for the agent: a goroutine reaps it and logs a failure. An empty
// agent does nothing; one that is not an absolute path is only logged, as
// the kernel's exec of it fails unseen.
func (r *releaser) exec(h *Hierarchy, agent, path string) {
	if agent == "" {
		return
	}
	log := r.sys.logger
	if !filepath.IsAbs(agent) {
		log.Warn("release agent is not an absolute path", "hierarchy", h.id, "agent", agent, "path", path)
		return
	}
	r.mu.Lock()
	if r.killed {
		r.mu.Unlock()
		return
	}
	r.agents++ // before stop can see killed, so it waits for this agent
	r.mu.Unlock()
	cmd := exec.CommandContext(r.killCtx, agent, path)
	cmd.Env = agentEnv
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error {
		// The agent leads its process group: kill what it started too.
		// The agent is not reaped yet, so its ID cannot have been reused.
		if err := unix.Kill(-cmd.Process.Pid, unix.SIGKILL); err != unix.ESRCH {
			return err
		}
		return nil
	}
	cmd.WaitDelay = agentWaitDelay
	if err := cmd.Start(); err != nil {
		log.Warn("release agent did not start", "hierarchy", h.id, "agent", agent, "path", path, "err", err)
		r.agentDone()
		return
	}
	r.agentWG.Go(func() {
		if err := cmd.Wait(); err != nil {
			log.Warn("release agent failed", "hierarchy", h.id, "agent", agent, "path", path,
				"pid", cmd.Process.Pid, "err", err)
		}
		r.agentDone()
	})
}

func (r *releaser) agentDone() {
	r.mu.Lock()
	r.agents--
	r.cond.Broadcast()
	r.mu.Unlock()
}

// waitLocked waits, with mu held, until idle reports true or ctx is done.
func (r *releaser) waitLocked(ctx context.Context, idle func() bool) error {
	if idle() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	for !idle() {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.cond.Wait()
	}
	return nil
}

// flush waits until no notification is pending or being delivered and no
// agent is running, or ctx is done.
func (r *releaser) flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitLocked(ctx, func() bool {
		return len(r.pending) == 0 && len(r.running) == 0 && r.agents == 0
	})
}

// stop drops what is pending and makes queue a no-op, then waits until the
// deliveries under way are over and their agents have exited. If ctx is done
// first, it kills the agents (and their process groups), waits until they
// are reaped, and returns ctx's error; release functions still running are
// left to finish on their own, starting no agent.
func (r *releaser) stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.list = nil
	clear(r.pending)
	r.cond.Broadcast()
	err := r.waitLocked(ctx, func() bool { return r.workers == 0 && r.agents == 0 })
	if err != nil {
		r.killed = true
	}
	r.mu.Unlock()
	if err != nil {
		r.kill()
		r.mu.Lock()
		// Killed agents exit at once; no new one can start.
		_ = r.waitLocked(context.Background(), func() bool { return r.agents == 0 })
		r.mu.Unlock()
		r.agentWG.Wait()
		return err
	}
	r.kill() // releases the context
	r.wg.Wait()
	r.agentWG.Wait()
	return nil
}

// Flush waits until every release notification queued so far has been
// delivered (the release function has returned) and every exec release agent
// started for one has exited and been reaped, or until ctx is done, and then
// returns ctx's error. After Close it waits for the release functions that
// Close left running. Tests use it to see the notifications that earlier
// operations caused. The release function must not call Flush: it would wait
// for itself.
func (sys *System) Flush(ctx context.Context) error {
	return sys.rel.flush(ctx)
}
