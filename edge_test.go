package containers_test

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// plain is a minimal subsystem with optional hooks.
type plain struct {
	name      string
	canAttach func(ac *containers.AttachContext) error
	exit      func(t *containers.Task)
	files     []containers.File
}

type revState struct{ containers.CSS }

func (p *plain) Name() string { return p.name }
func (p *plain) Create(*containers.Container) (containers.State, error) {
	return &revState{}, nil
}
func (p *plain) Destroy(*containers.Container, containers.State) {}
func (p *plain) CanAttach(ac *containers.AttachContext) error {
	if p.canAttach != nil {
		return p.canAttach(ac)
	}
	return nil
}
func (p *plain) Exit(t *containers.Task) {
	if p.exit != nil {
		p.exit(t)
	}
}
func (p *plain) Files() []containers.File { return p.files }

// Rename re-sorts the children only after renaming in place, so a
// lock-free lookup of an untouched sibling can miss it.
func TestRenameLookupRace(t *testing.T) {
	sys, err := containers.New([]containers.Subsystem{&plain{name: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, err := sys.MountString("p")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, err := h.Root().Mkdir(n); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if _, err := h.Lookup("/b"); err != nil {
				misses.Add(1)
			}
		}
	})
	for range 20000 {
		if err := h.Rename("/a", "/z"); err != nil {
			t.Fatal(err)
		}
		if err := h.Rename("/z", "/a"); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("Lookup(/b) failed %d times while only /a was renamed", n)
	}
}

// Exit frees the ID before the task leaves its group: a new task with
// the same ID shows up twice in the tasks file.
func TestExitIDReuseDuplicate(t *testing.T) {
	inExit, release := make(chan struct{}), make(chan struct{})
	p := &plain{name: "p"}
	p.exit = func(*containers.Task) { close(inExit); <-release }
	sys, err := containers.New([]containers.Subsystem{p})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, _ := sys.MountString("p")
	old, _ := sys.NewTask(7)
	done := make(chan error)
	go func() { done <- sys.Exit(old) }()
	<-inExit
	if _, err := sys.NewTask(7); errors.Is(err, unix.EEXIST) {
		close(release) // fixed: the ID stays taken until the task has left its group
		<-done
		return
	} else if err != nil {
		t.Fatal(err)
	}
	data, _ := h.ReadFile("/tasks")
	close(release)
	<-done
	if string(data) != "7\n" {
		t.Errorf("tasks = %q, want %q", data, "7\n")
	}
}

// an attach whose task exits between CanAttach and the switch frees
// the freshly made group of the destination and queues a release
// notification for a container that never had a task.
func TestSpuriousReleaseOnAttachExitRace(t *testing.T) {
	var sys *containers.System
	var victim *containers.Task
	p := &plain{name: "p"}
	p.canAttach = func(*containers.AttachContext) error {
		done := make(chan struct{})
		go func() { sys.Exit(victim); close(done) }() // another thread of the host
		<-done
		return nil
	}
	var mu sync.Mutex
	var got []string
	sys, err := containers.New([]containers.Subsystem{p},
		containers.WithReleaseFunc(func(h *containers.Hierarchy, path string) {
			mu.Lock()
			got = append(got, path)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, _ := sys.MountString("p")
	dst, _ := h.Root().Mkdir("dst")
	if err := dst.WriteFile("notify_on_release", []byte("1")); err != nil {
		t.Fatal(err)
	}
	victim, _ = sys.NewTask(9)
	err = dst.Attach(victim)
	if !errors.Is(err, unix.ESRCH) {
		t.Fatalf("Attach: %v, want ESRCH", err)
	}
	sys.Flush(t.Context())
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Errorf("release notifications %v for a container no task ever left", got)
	}
}

// WriteProcCgroups is a read but takes the structure lock, so a
// callback (here a write handler) that calls it deadlocks.
func TestWriteProcCgroupsFromCallback(t *testing.T) {
	var sys *containers.System
	p := &plain{name: "p", files: []containers.File{{
		Name:     "report",
		ReadUint: func(*containers.FileContext) uint64 { return 0 },
		Write: func(fc *containers.FileContext, data []byte) error {
			var b bytes.Buffer
			return sys.WriteProcCgroups(&b)
		},
	}}}
	sys, err := containers.New([]containers.Subsystem{p})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := sys.MountString("p")
	done := make(chan error, 1)
	go func() { done <- h.Root().WriteFile("p.report", []byte("x")) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("WriteProcCgroups from a write handler deadlocked")
	}
}

// a State that embeds *CSS (nil) passes checkState's nil test and
// panics New instead of returning EINVAL.
type ptrState struct{ *containers.CSS }

type ptrSubsys struct{ plain }

func (p *ptrSubsys) Create(*containers.Container) (containers.State, error) {
	return ptrState{}, nil
}

func TestNilEmbeddedCSS(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("New panicked: %v", r)
		}
	}()
	_, err := containers.New([]containers.Subsystem{&ptrSubsys{plain{name: "p"}}})
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("New: %v, want EINVAL", err)
	}
}

// kstrtoull reports overflow before trailing junk.
func TestParseOverflowBeforeJunk(t *testing.T) {
	for _, s := range []string{"99999999999999999999999 ", "99999999999999999999999x", "99999999999999999999999\n\n"} {
		if _, err := containers.ParseUint(s); !errors.Is(err, unix.ERANGE) {
			t.Errorf("ParseUint(%q) = %v, want ERANGE (kstrtoull)", s, err)
		}
	}
}

// a read of a subsystem file racing a remount that binds or unbinds the
// subsystem calls the handler with a nil State (File doc: nil only for core
// files).
func TestReadNilStateDuringRemount(t *testing.T) {
	var nils atomic.Int64
	p := &plain{name: "p", files: []containers.File{{
		Name: "x",
		ReadUint: func(fc *containers.FileContext) uint64 {
			if fc.State == nil {
				nils.Add(1)
			}
			return 0
		},
	}}}
	sys, err := containers.New([]containers.Subsystem{p, &plain{name: "q"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, err := sys.MountString("p,name=h")
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			h.Root().ReadFile("p.x")
		}
	})
	for range 20000 {
		if err := h.Remount(containers.Options{Subsystems: []string{"q"}, Name: "h"}); err != nil {
			t.Fatal(err)
		}
		if err := h.Remount(containers.Options{Subsystems: []string{"p"}, Name: "h"}); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := nils.Load(); n > 0 {
		t.Errorf("p.x handler called %d times with a nil State", n)
	}
}

// with many groups, reading anything about a root (TaskCount, tasks,
// GroupCount) scans every group under the group table lock, which Attach
// (find) and the last Exit of a group (put) need.
func BenchmarkRootTaskCount(b *testing.B) {
	sys, err := containers.New([]containers.Subsystem{&plain{name: "p"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Close(b.Context())
	h, _ := sys.MountString("p")
	for i := range 100_000 {
		c, err := h.Root().Mkdir("c" + string(rune('a'+i%26)) + itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		t, _ := sys.NewTask(containers.TaskID(i + 10))
		if err := c.Attach(t); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		h.Root().TaskCount()
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }
func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// the invisible dummy hierarchy is reachable from any unbound root
// state (CSS.Container) and accepts Mkdir and Remount.
func TestDummyReachable(t *testing.T) {
	pp := &plain{name: "p"}
	sys, err := containers.New([]containers.Subsystem{pp})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	tk, _ := sys.NewTask(1)
	dummyRoot := tk.State(pp).(*revState).Container()
	if err := dummyRoot.Hierarchy().Remount(containers.Options{Subsystems: []string{"p"}}); err == nil {
		h, err := sys.MountString("p")
		t.Errorf("Remount of the dummy hierarchy succeeded; then Mount(p) = %v, %v; dummy subsystems %v", h, err, dummyRoot.Hierarchy().Subsystems())
	}
	if _, err := dummyRoot.Mkdir("x"); err == nil {
		var b bytes.Buffer
		sys.WriteProcCgroups(&b)
		t.Errorf("Mkdir in the dummy hierarchy succeeded; /proc/cgroups:\n%s", b.String())
	}
}

// when some (not all) tasks of an attach exit after CanAttach, the
// subsystems get Attach for the rest and neither Attach nor CancelAttach
// for the exited ones, so a reservation made in CanAttach leaks.
type reserver struct {
	plain
	reserved atomic.Int64
	onCan    func()
}

func (r *reserver) CanAttach(ac *containers.AttachContext) error {
	r.reserved.Add(int64(ac.Len()))
	if r.onCan != nil {
		r.onCan()
	}
	return nil
}
func (r *reserver) CancelAttach(ac *containers.AttachContext) { r.reserved.Add(-int64(ac.Len())) }
func (r *reserver) Attach(ac *containers.AttachContext)       { r.reserved.Add(-int64(ac.Len())) }

func TestPartialExitLeaksReservation(t *testing.T) {
	r := &reserver{plain: plain{name: "r"}}
	sys, err := containers.New([]containers.Subsystem{r})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h, _ := sys.MountString("r")
	dst, _ := h.Root().Mkdir("dst")
	leader, _ := sys.NewTask(1)
	thread, _ := sys.ForkThread(leader, 2)
	r.onCan = func() {
		done := make(chan struct{})
		go func() { sys.Exit(thread); close(done) }()
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond): // Exit waits for the thread-group lock
		}
	}
	if err := dst.AttachProcess(leader); err != nil {
		t.Fatal(err)
	}
	r.onCan = nil
	time.Sleep(50 * time.Millisecond)
	if n := r.reserved.Load(); n != 0 {
		t.Errorf("%d reservation(s) neither attached nor cancelled", n)
	}
}

// R9b: Attach latency while another goroutine reads the root's task count.
func BenchmarkAttachWhileRootRead(b *testing.B) {
	sys, err := containers.New([]containers.Subsystem{&plain{name: "p"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sys.Close(b.Context())
	h, _ := sys.MountString("p")
	var cs []*containers.Container
	for i := range 100_000 {
		c, err := h.Root().Mkdir("c" + itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
		t, _ := sys.NewTask(containers.TaskID(i + 10))
		if err := c.Attach(t); err != nil {
			b.Fatal(err)
		}
	}
	tk, _ := sys.NewTask(1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			h.Root().TaskCount()
		}
	})
	var worst time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if err := cs[i&1].Attach(tk); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
		i++
	}
	stop.Store(true)
	wg.Wait()
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}

// R2b: the tasks file lists a task twice when it changes group (attach in
// another hierarchy) during the read.
func TestTasksFileNoDuplicates(t *testing.T) {
	sys, err := containers.New([]containers.Subsystem{&plain{name: "p"}, &plain{name: "q"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(t.Context())
	h1, _ := sys.MountString("p")
	h2, _ := sys.MountString("q")
	c, _ := h1.Root().Mkdir("c")
	x, _ := h2.Root().Mkdir("x")
	var ts []*containers.Task
	for i := 1; i <= 600; i++ { // several stream batches per group
		k, _ := sys.NewTask(containers.TaskID(i))
		if err := c.Attach(k); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, k)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			k := ts[i%len(ts)]
			if k.Container(h2) == x {
				h2.Root().Attach(k)
			} else {
				x.Attach(k)
			}
		}
	})
	defer func() { stop.Store(true); wg.Wait() }()
	for range 300 {
		data, err := c.ReadFile("tasks")
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		for j := 1; j < len(lines); j++ {
			if bytes.Equal(lines[j], lines[j-1]) {
				t.Fatalf("tasks lists %s twice", lines[j])
			}
		}
	}
}
