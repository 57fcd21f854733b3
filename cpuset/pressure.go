package cpuset

import "sync"

// The kernel's memory-pressure filter (fmeter): a rate of events per second
// times 1000, decaying with a half-life of 10 seconds, in integer
// arithmetic.
const (
	fmCoef     = 933     // 0.933^10 ≈ 0.5
	fmMaxTicks = 99      // decaying longer than this changes nothing
	fmMaxCnt   = 1000000 // bound on the events counted between updates
	fmScale    = 1000    // fixed-point scale
)

// fmeter is a cpuset's memory-pressure meter; its methods are safe for
// concurrent use.
type fmeter struct {
	mu   sync.Mutex // guards the fields below
	cnt  int        // events since the last update, × fmScale
	val  int        // the filtered rate
	time int64      // the second of the last update
}

// updateLocked decays the rate for the seconds since the last update and
// folds in the events counted meanwhile. Precondition: f.mu is held.
func (f *fmeter) updateLocked(now int64) {
	ticks := now - f.time
	if ticks == 0 {
		return
	}
	if ticks < 0 || ticks > fmMaxTicks { // the kernel's u32 arithmetic
		ticks = fmMaxTicks
	}
	for ; ticks > 0; ticks-- {
		f.val = fmCoef * f.val / fmScale
	}
	f.time = now
	f.val += (fmScale - fmCoef) * f.cnt / fmScale
	f.cnt = 0
}

// markEvent records one event at second now.
func (f *fmeter) markEvent(now int64) {
	f.mu.Lock()
	f.updateLocked(now)
	f.cnt = min(fmMaxCnt, f.cnt+fmScale)
	f.mu.Unlock()
}

// rate returns the filtered rate at second now.
func (f *fmeter) rate(now int64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateLocked(now)
	return f.val
}
