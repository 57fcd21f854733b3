package cpuacct

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// tracked is a task whose CPU time the sampler reads from procfs.
type tracked struct {
	t    *containers.Task
	path string // its procfs stat file

	mu        sync.Mutex // guards the fields below, and orders the samples of t
	utime     uint64     // clock ticks at the last reading
	stime     uint64
	starttime uint64 // tells a reused process ID from the process read before
	gone      bool   // no longer sampled: exited, untracked or vanished
}

// Track starts sampling the CPU time of t, a task whose ID is the process ID
// of a real process of this machine: the time of all its threads, read from
// /proc/<ID>/stat. Only time used from now on is charged, to the container
// that t is in when a sample is taken. Exit of t takes a last sample and
// stops sampling it, so a host that calls System.Exit before reaping the
// process (while its procfs entry remains) gets every tick charged.
//
// A nil task, or one of a System without this subsystem, gives EINVAL; an
// exited task or a process that does not exist ESRCH; a task already tracked
// EEXIST. Errors are *fs.PathError.
func (ss *Subsystem) Track(t *containers.Task) error {
	if t == nil {
		return &fs.PathError{Op: "track", Path: "task", Err: unix.EINVAL}
	}
	return ss.track(t, strconv.Itoa(int(t.ID()))+"/stat")
}

// TrackThread is Track for a task that is one thread of a real process: the
// thread's time alone, read from /proc/<TGID>/task/<ID>/stat. Once the
// thread has exited its entry disappears, so the time it used since the last
// sample is not charged.
func (ss *Subsystem) TrackThread(t *containers.Task) error {
	if t == nil {
		return &fs.PathError{Op: "track", Path: "task", Err: unix.EINVAL}
	}
	return ss.track(t, strconv.Itoa(int(t.TGID()))+"/task/"+strconv.Itoa(int(t.ID()))+"/stat")
}

func (ss *Subsystem) track(t *containers.Task, rel string) error {
	path := ss.procRoot + "/" + rel
	if _, ok := t.State(ss).(*State); !ok {
		return &fs.PathError{Op: "track", Path: "task " + t.String(), Err: unix.EINVAL}
	}
	if t.Exited() {
		return &fs.PathError{Op: "track", Path: "task " + t.String(), Err: unix.ESRCH}
	}
	st, err := readProcStat(path)
	if err != nil {
		return err
	}
	e := &tracked{t: t, path: path, utime: st.utime, stime: st.stime, starttime: st.starttime}
	ss.trackMu.Lock()
	if ss.tracked[t] != nil {
		ss.trackMu.Unlock()
		return &fs.PathError{Op: "track", Path: "task " + t.String(), Err: unix.EEXIST}
	}
	ss.tracked[t] = e
	ss.ntracked.Add(1)
	ss.trackMu.Unlock()
	// Exit marks a task exited before it calls the Exit callbacks: either
	// the callback saw e, or t is seen exited here.
	if t.Exited() {
		ss.untrack(t, false)
		return &fs.PathError{Op: "track", Path: "task " + t.String(), Err: unix.ESRCH}
	}
	return nil
}

// Untrack stops sampling t, without a last sample, and reports whether t
// was tracked.
func (ss *Subsystem) Untrack(t *containers.Task) bool {
	return ss.untrack(t, false)
}

// Tracked returns the number of tasks being sampled.
func (ss *Subsystem) Tracked() int { return int(ss.ntracked.Load()) }

// untrack forgets t, taking a last sample first if final is set.
func (ss *Subsystem) untrack(t *containers.Task, final bool) bool {
	ss.trackMu.Lock()
	e := ss.tracked[t]
	if e != nil {
		delete(ss.tracked, t)
		ss.ntracked.Add(-1)
	}
	ss.trackMu.Unlock()
	if e == nil {
		return false
	}
	e.mu.Lock()
	if final && !e.gone {
		_ = ss.sampleLocked(e) // a process that is gone already has nothing to add
	}
	e.gone = true
	e.mu.Unlock()
	return true
}

// Exit takes a last sample of a tracked task, while it is still in its
// containers, and stops sampling it. It runs without the structure lock.
func (ss *Subsystem) Exit(t *containers.Task) {
	if ss.ntracked.Load() == 0 {
		return
	}
	ss.untrack(t, true)
}

// Sample reads the CPU time of every tracked task and charges what each used
// since the previous reading to the container it is in now, on the CPU it
// last ran on (taken modulo PossibleCPUs when the machine has more). A task
// whose process no longer exists is no longer sampled. If a process ID was
// reused (its start time changed), or a reading goes back or jumps by more
// than a century, that reading becomes the new starting point and nothing
// is charged. Errors reading or parsing a file are joined and returned;
// the other tasks are still sampled.
func (ss *Subsystem) Sample() error {
	ss.trackMu.Lock()
	es := make([]*tracked, 0, len(ss.tracked))
	for _, e := range ss.tracked {
		es = append(es, e)
	}
	ss.trackMu.Unlock()
	var errs []error
	for _, e := range es {
		e.mu.Lock()
		var err error
		if !e.gone {
			err = ss.sampleLocked(e)
		}
		e.mu.Unlock()
		switch {
		case errors.Is(err, unix.ESRCH):
			ss.untrack(e.t, false)
		case err != nil:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sampleLocked reads e's file and charges the increase. e.mu is held.
func (ss *Subsystem) sampleLocked(e *tracked) error {
	st, err := readProcStat(e.path)
	if err != nil {
		return err
	}
	du, ds := st.utime-e.utime, st.stime-e.stime
	if st.starttime != e.starttime || st.utime < e.utime || st.stime < e.stime ||
		du > maxTicks || ds > maxTicks {
		// Another process with the same ID, or readings no process makes:
		// start afresh from this one.
		e.utime, e.stime, e.starttime = st.utime, st.stime, st.starttime
		return nil
	}
	e.utime, e.stime = st.utime, st.stime
	if du == 0 && ds == 0 {
		return nil
	}
	s, ok := e.t.State(ss).(*State)
	if !ok {
		return nil
	}
	cpu := max(st.processor, 0) % ss.ncpu
	s.charge(cpu, du*tickNs, ds*tickNs)
	return nil
}

// maxTicks is the largest increase of a reading the sampler charges: a
// century of CPU time, far beyond any real interval, and small enough that
// the nanoseconds never overflow.
const maxTicks = 100 * 365 * 24 * 3600 * UserHZ

// readProcStat reads and parses a procfs stat file. A missing file gives ESRCH,
// a file that does not parse EINVAL, both in an *fs.PathError.
func readProcStat(path string) (procStat, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return procStat{}, &fs.PathError{Op: "sample", Path: path, Err: unix.ESRCH}
		}
		return procStat{}, err
	}
	defer f.Close()
	var buf [1024]byte
	n, err := f.Read(buf[:])
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return procStat{}, &fs.PathError{Op: "sample", Path: path, Err: unix.ESRCH}
		}
		return procStat{}, err
	}
	if n == len(buf) {
		return procStat{}, &fs.PathError{Op: "sample", Path: path, Err: unix.EINVAL}
	}
	st, err := parseStat(buf[:n])
	if err != nil {
		return procStat{}, &fs.PathError{Op: "sample", Path: path, Err: err}
	}
	return st, nil
}

// Run samples every interval until ctx is done, then returns ctx's error.
// The errors of single samples go to the logger (WithLogger). An interval
// that is not positive gives EINVAL.
func (ss *Subsystem) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return &fs.PathError{Op: "run", Path: Name, Err: unix.EINVAL}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := ss.Sample(); err != nil {
				ss.logger.Warn("cpuacct: sample", "err", err)
			}
		}
	}
}

// Start runs Run(ctx, interval) in a goroutine of the subsystem's own, until
// ctx is done or Stop is called. A sampler that is already running gives
// EBUSY, a bad interval EINVAL.
func (ss *Subsystem) Start(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return &fs.PathError{Op: "start", Path: Name, Err: unix.EINVAL}
	}
	ss.runMu.Lock()
	defer ss.runMu.Unlock()
	if ss.runDone != nil {
		select {
		case <-ss.runDone: // ended with its context, or stopped
			ss.cancel()
		default:
			return &fs.PathError{Op: "start", Path: Name, Err: unix.EBUSY}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	ss.cancel, ss.runDone = cancel, done
	go func() {
		defer close(done)
		_ = ss.Run(ctx, interval) // only ever ctx's error, which Stop or the caller caused
	}()
	return nil
}

// Stop stops the sampler started by Start and waits for its goroutine to
// return. It does nothing if none was started.
func (ss *Subsystem) Stop() {
	ss.runMu.Lock()
	cancel, done := ss.cancel, ss.runDone
	ss.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
