package containers

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReleaseQueueNext checks how a worker picks the next container: the
// oldest pending one that is not being delivered; stale entries (forgotten
// containers) are dropped, and entries of containers being delivered stay
// in order.
func TestReleaseQueueNext(t *testing.T) {
	names := func(cs []*Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name())
		}
		return out
	}
	mk := func(n string) *Container {
		c := &Container{}
		c.setName(n)
		return c
	}
	a, b, c, d, e := mk("a"), mk("b"), mk("c"), mk("d"), mk("e")
	var r releaser
	r.pending = map[*Container]bool{b: true, c: true, d: true, e: true}
	r.running = map[*Container]bool{b: true}
	r.list = []*Container{a, b, c, d, e} // a is stale: forgotten

	steps := []struct {
		next string
		list []string
	}{
		{"c", []string{"b", "d", "e"}},
		{"d", []string{"b", "e"}},
		{"e", []string{"b"}},
		{"", []string{"b"}}, // b is being delivered: left to its worker
	}
	for i, s := range steps {
		got := ""
		if n := r.nextLocked(); n != nil {
			got = n.Name()
			if !r.running[n] || r.pending[n] {
				t.Errorf("step %d: %s not moved from pending to running", i, got)
			}
		}
		if got != s.next {
			t.Errorf("step %d: next %q, want %q", i, got, s.next)
		}
		if diff := cmp.Diff(s.list, names(r.list)); diff != "" {
			t.Errorf("step %d: list (-want +got):\n%s", i, diff)
		}
	}
	delete(r.running, b)
	if n := r.nextLocked(); n != b || len(r.list) != 0 || len(r.pending) != 0 {
		t.Errorf("after b's delivery: next %v, list %v, pending %v", n, names(r.list), r.pending)
	}
}

// TestReleaseRequeueAndRemove checks, with deliveries held up on the
// structure lock, that a container queued again while being delivered is
// pending once, and that removing it drops nothing: as today's kernel runs
// the agent for a container removed right after it emptied, both
// notifications are delivered, with the path the container had.
func TestReleaseRequeueAndRemove(t *testing.T) {
	var mu sync.Mutex
	var got []string
	sys, err := New(nil, WithReleaseFunc(func(_ *Hierarchy, p string) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	h, err := sys.MountString("none,name=q")
	if err != nil {
		t.Fatal(err)
	}
	a, err := h.Root().Mkdir("a")
	if err != nil {
		t.Fatal(err)
	}
	a.notify.Store(true)
	r := &sys.rel

	sys.mu.Lock() // deliveries wait for it
	r.queue(a)
	for deadline := time.Now().Add(10 * time.Second); ; {
		r.mu.Lock()
		running := r.running[a]
		r.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			sys.mu.Unlock()
			t.Fatal("a was not taken by a worker")
		}
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		r.queue(a)
	}
	r.mu.Lock()
	pending, list := len(r.pending), slices.Clone(r.list)
	r.mu.Unlock()
	if pending != 1 || len(list) != 1 || list[0] != a {
		t.Errorf("queued thrice while running: %d pending, list %v; want a once", pending, list)
	}
	if err := sys.rmdirLocked(a); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	pending = len(r.pending)
	r.mu.Unlock()
	if pending != 1 {
		t.Errorf("%d pending after rmdir, want 1", pending)
	}
	sys.mu.Unlock()
	if err := sys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"/a", "/a"}) {
		t.Errorf("told %v, want /a twice", got)
	}
}

// TestReleaseNoCallAfterCloseGaveUp checks that a delivery taken before
// Close, but not begun when Close gave up waiting, calls nobody afterwards.
func TestReleaseNoCallAfterCloseGaveUp(t *testing.T) {
	var mu sync.Mutex
	var got []string
	sys, err := New(nil, WithReleaseFunc(func(_ *Hierarchy, p string) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(context.Background())
	h, err := sys.MountString("none,name=q")
	if err != nil {
		t.Fatal(err)
	}
	a, err := h.Root().Mkdir("a")
	if err != nil {
		t.Fatal(err)
	}
	r := &sys.rel
	sys.mu.Lock() // the delivery waits for it
	r.queue(a)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		running := r.running[a]
		r.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			sys.mu.Unlock()
			t.Fatal("a was not taken by a worker")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = r.stop(ctx) // as Close does, without the structure lock
	sys.mu.Unlock()
	if err != context.DeadlineExceeded {
		t.Fatalf("stop = %v, want DeadlineExceeded", err)
	}
	if err := sys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Errorf("told %v after Close gave up", got)
	}
}
