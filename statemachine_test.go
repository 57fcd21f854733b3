package containers_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// The state machine drives a System with three recording subsystems (a, b,
// c) through random operations and compares it after every step with a
// model that knows only the rules of the spec: which hierarchies exist and
// what is bound to them, which containers exist with which flags and css
// references, and where every task is.

// smHier models a live hierarchy.
type smHier struct {
	h      *containers.Hierarchy
	mask   uint // bit i: recorder i is bound here
	name   string
	mounts int
	dirs   map[string]*smDir // every container by path, "/" included
	where  map[containers.TaskID]string
}

type smDir struct {
	notify bool
	refs   int // css references held by the test
}

type smTask struct {
	t    *containers.Task
	tgid containers.TaskID
}

type smHeld struct {
	mh   *smHier
	path string
	st   *recState
}

type stateMachine struct {
	sys  *containers.System
	log  callLog
	recs []*recorder

	hiers  []*smHier // live, by ID
	dead   []*containers.Hierarchy
	nextH  int
	tasks  map[containers.TaskID]*smTask
	exited []*containers.Task
	nextID containers.TaskID
	held   []smHeld

	mu       sync.Mutex
	released []string // "<hierarchy ID>:<path>", from the release function
	expect   []string // what the step under way should release
}

var smNames = []string{"a", "b", "c"}

func newStateMachine(t *rapid.T) *stateMachine {
	m := &stateMachine{nextH: 1, nextID: 1, tasks: map[containers.TaskID]*smTask{}}
	var ss []containers.Subsystem
	for _, n := range smNames {
		r := newRecorder(n, &m.log)
		m.recs = append(m.recs, r)
		ss = append(ss, r)
	}
	sys, err := containers.New(ss, containers.WithReleaseFunc(func(h *containers.Hierarchy, p string) {
		m.mu.Lock()
		m.released = append(m.released, fmt.Sprintf("%d:%s", h.ID(), p))
		m.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	m.sys = sys
	t.Cleanup(func() { sys.Close(context.Background()) })
	m.log.take()
	return m
}

// names returns the recorder names in mask, in ID order.
func names(mask uint) []string {
	var out []string
	for i, n := range smNames {
		if mask&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (m *stateMachine) bound() uint {
	var b uint
	for _, mh := range m.hiers {
		b |= mh.mask
	}
	return b
}

func (m *stateMachine) hierOf(h *containers.Hierarchy) *smHier {
	for _, mh := range m.hiers {
		if mh.h == h {
			return mh
		}
	}
	return nil
}

func (mh *smHier) at(id containers.TaskID) string {
	if p, ok := mh.where[id]; ok {
		return p
	}
	return "/"
}

func (mh *smHier) hasKids(p string) bool {
	for q := range mh.dirs {
		if q != "/" && path.Dir(q) == p {
			return true
		}
	}
	return false
}

func (m *stateMachine) tasksIn(mh *smHier, p string) []containers.TaskID {
	var ids []containers.TaskID
	for id := range m.tasks {
		if mh.at(id) == p {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkRelease expects a release notification for p if it is releasable
// now: not a root, notify_on_release set, no tasks, no children, no css
// references (spec §8.1).
func (m *stateMachine) checkRelease(mh *smHier, p string) {
	d := mh.dirs[p]
	if p == "/" || d == nil || !d.notify || d.refs > 0 || mh.hasKids(p) || len(m.tasksIn(mh, p)) > 0 {
		return
	}
	m.expect = append(m.expect, fmt.Sprintf("%d:%s", mh.h.ID(), p))
}

func (m *stateMachine) sortedTasks() []containers.TaskID {
	ids := make([]containers.TaskID, 0, len(m.tasks))
	for id := range m.tasks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (mh *smHier) sortedDirs() []string {
	ps := make([]string, 0, len(mh.dirs))
	for p := range mh.dirs {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// finish compares the callbacks and release notifications of a step with
// what the model expects, and the error with want.
func (m *stateMachine) finish(t *rapid.T, what string, err, want error, log []string) {
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
	if diff := cmp.Diff(log, m.log.take()); diff != "" {
		t.Fatalf("%s: callbacks (-want +got):\n%s", what, diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.sys.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	m.mu.Lock()
	got := m.released
	m.released = nil
	m.mu.Unlock()
	slices.Sort(got)
	slices.Sort(m.expect)
	if diff := cmp.Diff(m.expect, got, cmpEmpty); diff != "" {
		t.Fatalf("%s: release notifications (-want +got):\n%s", what, diff)
	}
	m.expect = nil
}

var cmpEmpty = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// pickHier draws a live hierarchy, or skips the action.
func (m *stateMachine) pickHier(t *rapid.T) *smHier {
	if len(m.hiers) == 0 {
		t.Skip("no hierarchy")
	}
	return rapid.SampledFrom(m.hiers).Draw(t, "hierarchy")
}

func (m *stateMachine) pickDir(t *rapid.T, mh *smHier) (string, *containers.Container) {
	p := rapid.SampledFrom(mh.sortedDirs()).Draw(t, "dir")
	c, err := mh.h.Lookup(p)
	if err != nil {
		t.Fatalf("lookup %s in %v: %v", p, mh.h, err)
	}
	return p, c
}

func (m *stateMachine) pickTask(t *rapid.T) *smTask {
	ids := m.sortedTasks()
	if len(ids) == 0 {
		t.Skip("no task")
	}
	return m.tasks[rapid.SampledFrom(ids).Draw(t, "task")]
}

// inject draws whether callback cb of one recorder fails in the next
// operation, and which; it returns the recorder's index or -1.
func (m *stateMachine) inject(t *rapid.T, cb string) int {
	k := rapid.IntRange(-3, 2).Draw(t, "fail "+cb)
	if k < 0 {
		return -1
	}
	m.recs[k].failOn(cb, unix.ENOMEM)
	return k
}

func (m *stateMachine) clearFaults() {
	for _, r := range m.recs {
		r.failOn("create", nil)
		r.failOn("can_attach", nil)
	}
}

// createLog is the log of creating p with the subsystems of mask when
// recorder fail (or none, -1) fails; ok reports success.
func createLog(mask uint, p string, fail int) (log []string, ok bool) {
	var done []int
	for i, n := range smNames {
		if mask&(1<<i) == 0 {
			continue
		}
		log = append(log, n+".create "+p)
		if i == fail {
			for _, j := range slices.Backward(done) {
				log = append(log, smNames[j]+".destroy "+p)
			}
			return log, false
		}
		done = append(done, i)
	}
	return log, true
}

// attachLog is the log of moving tasks (already formatted as the recorder
// does) to dst when recorder fail (or none) refuses; ok reports success.
func attachLog(mask uint, dst, tasks string, fail int) (log []string, ok bool) {
	var done []int
	for i, n := range smNames {
		if mask&(1<<i) == 0 {
			continue
		}
		log = append(log, n+".can_attach "+dst+" "+tasks)
		if i == fail {
			for _, j := range slices.Backward(done) {
				log = append(log, smNames[j]+".cancel_attach "+dst+" "+tasks)
			}
			return log, false
		}
		done = append(done, i)
	}
	for _, n := range names(mask) {
		log = append(log, n+".attach "+dst+" "+tasks)
	}
	return log, true
}

func eachLog(mask uint, format string, args ...any) []string {
	var log []string
	for _, n := range names(mask) {
		log = append(log, n+"."+fmt.Sprintf(format, args...))
	}
	return log
}

func (m *stateMachine) Mount(t *rapid.T) {
	mask := uint(rapid.IntRange(0, 7).Draw(t, "mask"))
	name := rapid.SampledFrom([]string{"", "n1", "n2"}).Draw(t, "name")
	none := mask == 0 && rapid.Bool().Draw(t, "none")
	o := containers.Options{Subsystems: names(mask), None: none, Name: name}

	// The kernel's rules (spec §2.1).
	eff := mask
	if mask == 0 && !none && name == "" {
		eff = 7 // no options mean all
	}
	var want error
	var reuse *smHier
	switch {
	case eff == 0 && name == "":
		want = unix.EINVAL
	default:
		for _, mh := range m.hiers {
			nameMatch := false
			if name != "" {
				if name != mh.name {
					continue
				}
				nameMatch = true
			}
			if (eff != 0 || none) && eff != mh.mask {
				if nameMatch {
					want = unix.EBUSY
					break
				}
				continue
			}
			reuse = mh
			break
		}
		if want == nil && reuse == nil {
			switch {
			case eff == 0 && !none:
				want = unix.EINVAL // a name alone cannot create
			case eff&m.bound() != 0:
				want = unix.EBUSY
			}
		}
	}
	h, err := m.sys.Mount(o)
	var log []string
	switch {
	case want != nil:
	case reuse != nil:
		if h != reuse.h {
			t.Fatalf("mount %v: %v, want a reuse of %v", o, h, reuse.h)
		}
		reuse.mounts++
	default:
		if err != nil || h.ID() != m.nextH {
			t.Fatalf("mount %v: %v, %v; want new hierarchy %d", o, h, err, m.nextH)
		}
		m.nextH++
		m.hiers = append(m.hiers, &smHier{
			h: h, mask: eff, name: name, mounts: 1,
			dirs: map[string]*smDir{"/": {}}, where: map[containers.TaskID]string{},
		})
		log = eachLog(eff, "bind %d", h.ID())
	}
	m.finish(t, "mount "+o.String(), err, want, log)
}

// destroy forgets mh, whose last mount and last child went.
func (m *stateMachine) destroy(mh *smHier) []string {
	m.hiers = slices.DeleteFunc(m.hiers, func(o *smHier) bool { return o == mh })
	m.dead = append(m.dead, mh.h)
	return eachLog(mh.mask, "bind 0")
}

func (m *stateMachine) Unmount(t *rapid.T) {
	if len(m.hiers)+len(m.dead) == 0 {
		t.Skip("no hierarchy")
	}
	h := rapid.SampledFrom(append(m.hierarchies(), m.dead...)).Draw(t, "hierarchy")
	mh := m.hierOf(h)
	err := h.Unmount()
	var want error
	var log []string
	switch {
	case mh == nil || mh.mounts == 0:
		want = unix.EINVAL
	default:
		mh.mounts--
		if mh.mounts == 0 && len(mh.dirs) == 1 {
			log = m.destroy(mh)
		}
	}
	m.finish(t, "unmount "+h.String(), err, want, log)
}

func (m *stateMachine) hierarchies() []*containers.Hierarchy {
	var hs []*containers.Hierarchy
	for _, mh := range m.hiers {
		hs = append(hs, mh.h)
	}
	return hs
}

func (m *stateMachine) Remount(t *rapid.T) {
	mh := m.pickHier(t)
	mask := uint(rapid.IntRange(0, 7).Draw(t, "mask"))
	if mask == 0 && mh.name == "" {
		t.Skip("a hierarchy without a name needs subsystems")
	}
	o := containers.Options{Subsystems: names(mask), None: mask == 0}
	if mask == 0 || rapid.Bool().Draw(t, "with name") {
		o.Name = mh.name
	}
	var want error
	var log []string
	switch {
	case len(mh.dirs) > 1:
		want = unix.EBUSY
	case mask&(m.bound()&^mh.mask) != 0:
		want = unix.EBUSY
	default:
		for i, n := range smNames {
			bit := uint(1) << i
			switch {
			case mask&bit != 0 && mh.mask&bit == 0:
				log = append(log, fmt.Sprintf("%s.bind %d", n, mh.h.ID()))
			case mask&bit == 0 && mh.mask&bit != 0:
				log = append(log, n+".bind 0")
			}
		}
		mh.mask = mask
	}
	m.finish(t, "remount "+o.String(), mh.h.Remount(o), want, log)
}

func (m *stateMachine) Mkdir(t *rapid.T) {
	mh := m.pickHier(t)
	parent, pc := m.pickDir(t, mh)
	name := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "name")
	fail := m.inject(t, "create")
	p := path.Join(parent, name)
	c, err := pc.Mkdir(name)
	m.clearFaults()
	var want error
	var log []string
	if mh.dirs[p] != nil {
		want = unix.EEXIST
	} else {
		var ok bool
		log, ok = createLog(mh.mask, p, fail)
		if ok {
			mh.dirs[p] = &smDir{notify: mh.dirs[parent].notify}
			if c == nil || c.Path() != p {
				t.Fatalf("mkdir %s made %v", p, c)
			}
		} else {
			want = unix.ENOMEM
		}
	}
	m.finish(t, "mkdir "+p, err, want, log)
}

func (m *stateMachine) Rmdir(t *rapid.T) {
	mh := m.pickHier(t)
	var p string
	var c *containers.Container
	var leaves []string
	for _, q := range mh.sortedDirs() {
		if q != "/" && !mh.hasKids(q) {
			leaves = append(leaves, q)
		}
	}
	if len(leaves) > 0 && rapid.IntRange(0, 3).Draw(t, "leaf") > 0 {
		// Mostly leaves, so that removals succeed often enough to matter.
		p = rapid.SampledFrom(leaves).Draw(t, "dir")
		c = must(mh.h.Lookup(p))
	} else {
		p, c = m.pickDir(t, mh)
	}
	err := c.Rmdir()
	var want error
	var log []string
	switch {
	case p == "/" || mh.hasKids(p) || len(m.tasksIn(mh, p)) > 0 || mh.dirs[p].refs > 0:
		want = unix.EBUSY
	default:
		delete(mh.dirs, p)
		log = eachLog(mh.mask, "destroy %s", p)
		m.checkRelease(mh, path.Dir(p))
		if mh.mounts == 0 && len(mh.dirs) == 1 {
			log = append(log, m.destroy(mh)...)
		}
	}
	m.finish(t, "rmdir "+p, err, want, log)
}

// moveLog formats moves as the recorder does: "id<from", sorted.
func moveLog(mh *smHier, ids []containers.TaskID) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%d<%s", id, mh.at(id)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (m *stateMachine) attach(t *rapid.T, process bool) {
	mh := m.pickHier(t)
	p, c := m.pickDir(t, mh)
	if len(m.exited) > 0 && rapid.IntRange(0, 9).Draw(t, "exited") == 0 {
		dead := rapid.SampledFrom(m.exited).Draw(t, "exited task")
		attach := c.Attach
		if process {
			attach = c.AttachProcess
		}
		err := attach(dead)
		m.finish(t, "attach exited", err, unix.ESRCH, nil)
		return
	}
	st := m.pickTask(t)
	fail := m.inject(t, "can_attach")
	var movers []containers.TaskID
	if process {
		for _, id := range m.sortedTasks() {
			if m.tasks[id].tgid == st.tgid && mh.at(id) != p {
				movers = append(movers, id)
			}
		}
	} else if mh.at(st.t.ID()) != p {
		movers = append(movers, st.t.ID())
	}
	var err error
	if process {
		err = c.AttachProcess(st.t)
	} else {
		err = c.Attach(st.t)
	}
	m.clearFaults()
	var want error
	var log []string
	if len(movers) > 0 {
		var ok bool
		log, ok = attachLog(mh.mask, p, moveLog(mh, movers), fail)
		if ok {
			from := map[string]bool{}
			for _, id := range movers {
				from[mh.at(id)] = true
				if p == "/" {
					delete(mh.where, id)
				} else {
					mh.where[id] = p
				}
			}
			for _, q := range slices.Sorted(mapKeys(from)) {
				m.checkRelease(mh, q)
			}
		} else {
			want = unix.ENOMEM
		}
	}
	m.finish(t, fmt.Sprintf("attach %d to %s (process %v)", st.t.ID(), p, process), err, want, log)
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (m *stateMachine) Attach(t *rapid.T)        { m.attach(t, false) }
func (m *stateMachine) AttachProcess(t *rapid.T) { m.attach(t, true) }

func (m *stateMachine) fork(t *rapid.T, thread bool) {
	id := m.nextID
	m.nextID++
	if len(m.exited) > 0 && rapid.IntRange(0, 9).Draw(t, "from exited") == 0 {
		dead := rapid.SampledFrom(m.exited).Draw(t, "exited parent")
		fork := m.sys.Fork
		if thread {
			fork = m.sys.ForkThread
		}
		_, err := fork(dead, id)
		m.finish(t, "fork of exited", err, unix.ESRCH, nil)
		return
	}
	var parent *smTask
	if len(m.tasks) > 0 && rapid.IntRange(0, 4).Draw(t, "new") > 0 {
		parent = m.pickTask(t)
	}
	var child *containers.Task
	var err error
	tgid := id
	switch {
	case parent == nil:
		child, err = m.sys.NewTask(id)
	case thread:
		child, err = m.sys.ForkThread(parent.t, id)
		tgid = parent.tgid
	default:
		child, err = m.sys.Fork(parent.t, id)
	}
	if err == nil {
		m.tasks[id] = &smTask{t: child, tgid: tgid}
		if parent != nil {
			for _, mh := range m.hiers {
				if p, ok := mh.where[parent.t.ID()]; ok {
					mh.where[id] = p
				}
			}
		}
		if child.TGID() != tgid {
			t.Fatalf("task %d has TGID %d, want %d", id, child.TGID(), tgid)
		}
	}
	m.finish(t, fmt.Sprintf("fork %d", id), err, nil, eachLog(7, "fork %d", id))
}

func (m *stateMachine) Fork(t *rapid.T)       { m.fork(t, false) }
func (m *stateMachine) ForkThread(t *rapid.T) { m.fork(t, true) }

func (m *stateMachine) Exit(t *rapid.T) {
	if len(m.exited) > 0 && rapid.IntRange(0, 9).Draw(t, "exit twice") == 0 {
		dead := rapid.SampledFrom(m.exited).Draw(t, "exited task")
		m.finish(t, "exit twice", m.sys.Exit(dead), unix.ESRCH, nil)
		return
	}
	st := m.pickTask(t)
	id := st.t.ID()
	err := m.sys.Exit(st.t)
	delete(m.tasks, id)
	m.exited = append(m.exited, st.t)
	for _, mh := range m.hiers {
		if p, ok := mh.where[id]; ok {
			delete(mh.where, id)
			m.checkRelease(mh, p)
		}
	}
	m.finish(t, fmt.Sprintf("exit %d", id), err, nil, eachLog(7, "exit %d", id))
}

func (m *stateMachine) Clone(t *rapid.T) {
	st := m.pickTask(t)
	k := rapid.IntRange(0, 2).Draw(t, "subsystem")
	cb := rapid.SampledFrom([]string{"create", "can_attach"}).Draw(t, "fail callback")
	fail := m.inject(t, cb)
	id := st.t.ID()
	c, err := m.sys.Clone(st.t, smNames[k], "")
	m.clearFaults()
	var mh *smHier
	for _, o := range m.hiers {
		if o.mask&(1<<k) != 0 {
			mh = o
		}
	}
	if mh == nil {
		if c != nil || err != nil {
			t.Fatalf("clone of unbound %s: %v, %v", smNames[k], c, err)
		}
		m.finish(t, "clone unbound", nil, nil, nil)
		return
	}
	parent := mh.at(id)
	p := path.Join(parent, "node_"+strconv.Itoa(int(id)))
	var want error
	var log []string
	switch {
	case mh.dirs[p] != nil:
		want = unix.EEXIST
	case cb == "create":
		var ok bool
		if log, ok = createLog(mh.mask, p, fail); !ok {
			want = unix.ENOMEM
		}
	default:
		log, _ = createLog(mh.mask, p, -1)
		log = append(log, eachLog(mh.mask, "post_clone %s", p)...)
		al, ok := attachLog(mh.mask, p, moveLog(mh, []containers.TaskID{id}), fail)
		log = append(log, al...)
		if !ok {
			want = unix.ENOMEM
			log = append(log, eachLog(mh.mask, "destroy %s", p)...)
		}
	}
	if want == nil {
		if cb == "create" {
			log = append(log, eachLog(mh.mask, "post_clone %s", p)...)
			al, _ := attachLog(mh.mask, p, moveLog(mh, []containers.TaskID{id}), -1)
			log = append(log, al...)
		}
		mh.dirs[p] = &smDir{notify: mh.dirs[parent].notify}
		mh.where[id] = p
		if c == nil || c.Path() != p {
			t.Fatalf("clone made %v, want %s", c, p)
		}
	}
	m.finish(t, "clone "+p, err, want, log)
}

func (m *stateMachine) WriteNotify(t *rapid.T) {
	mh := m.pickHier(t)
	p, c := m.pickDir(t, mh)
	v := rapid.SampledFrom([]string{"0", "1", "2\n"}).Draw(t, "value")
	mh.dirs[p].notify = v != "0"
	m.finish(t, "write notify_on_release "+p, c.WriteFile("notify_on_release", []byte(v)), nil, nil)
}

func (m *stateMachine) GetCSS(t *rapid.T) {
	mh := m.pickHier(t)
	if mh.mask == 0 || len(mh.dirs) == 1 {
		t.Skip("no css to reference")
	}
	p, c := m.pickDir(t, mh)
	if p == "/" {
		t.Skip("root css is not counted")
	}
	k := rapid.SampledFrom(names(mh.mask)).Draw(t, "subsystem")
	st := c.State(m.recs[slices.Index(smNames, k)]).(*recState)
	if rapid.Bool().Draw(t, "try") {
		if !st.TryGet() {
			t.Fatalf("TryGet failed on live %s", p)
		}
	} else {
		st.Get()
	}
	mh.dirs[p].refs++
	m.held = append(m.held, smHeld{mh, p, st})
	m.finish(t, "get "+p, nil, nil, nil)
}

func (m *stateMachine) PutCSS(t *rapid.T) {
	if len(m.held) == 0 {
		t.Skip("no reference held")
	}
	i := rapid.IntRange(0, len(m.held)-1).Draw(t, "held")
	r := m.held[i]
	m.held = slices.Delete(m.held, i, i+1)
	r.st.Put()
	r.mh.dirs[r.path].refs--
	if r.mh.dirs[r.path].refs == 0 {
		m.checkRelease(r.mh, r.path)
	}
	m.finish(t, "put "+r.path, nil, nil, nil)
}

// Check compares the System with the model.
func (m *stateMachine) Check(t *rapid.T) {
	if err := m.sys.CheckInvariants(); err != nil {
		t.Fatalf("invariants: %v", err)
	}
	if got, want := m.sys.Hierarchies(), m.hierarchies(); !slices.Equal(got, want) {
		t.Fatalf("hierarchies %v, want %v", got, want)
	}
	if n := m.sys.LiveTasks(); n != len(m.tasks) {
		t.Fatalf("%d live tasks, want %d", n, len(m.tasks))
	}
	live := make([]int, len(m.recs))
	for _, mh := range m.hiers {
		h := mh.h
		if !h.Alive() || !slices.Equal(h.Subsystems(), names(mh.mask)) {
			t.Fatalf("%v: alive %v, subsystems %v, want %v", h, h.Alive(), h.Subsystems(), names(mh.mask))
		}
		for i := range m.recs {
			if mh.mask&(1<<i) != 0 {
				live[i] += len(mh.dirs) - 1
			}
		}
		var paths []string
		var walk func(c *containers.Container)
		walk = func(c *containers.Container) {
			p := c.Path()
			paths = append(paths, p)
			d := mh.dirs[p]
			if d == nil {
				t.Fatalf("%v has %s, the model has not", h, p)
			}
			if c.NotifyOnRelease() != d.notify {
				t.Fatalf("%v %s notify_on_release %v, want %v", h, p, c.NotifyOnRelease(), d.notify)
			}
			if got, want := taskIDs(c), m.tasksIn(mh, p); !slices.Equal(got, want) {
				t.Fatalf("%v %s tasks %v, want %v", h, p, got, want)
			}
			for _, k := range c.Children() {
				walk(k)
			}
		}
		walk(h.Root())
		slices.Sort(paths)
		if want := mh.sortedDirs(); !slices.Equal(paths, want) {
			t.Fatalf("%v containers %v, want %v", h, paths, want)
		}
		for id, st := range m.tasks {
			if got := st.t.Container(h).Path(); got != mh.at(id) {
				t.Fatalf("task %d in %s of %v, want %s", id, got, h, mh.at(id))
			}
		}
	}
	for _, h := range m.dead {
		if h.Alive() {
			t.Fatalf("%v alive", h)
		}
		for id, st := range m.tasks {
			if st.t.Container(h) != h.Root() {
				t.Fatalf("task %d in %v of dead %v", id, st.t.Container(h), h)
			}
		}
	}
	for _, dead := range m.exited {
		for _, mh := range m.hiers {
			if dead.Container(mh.h) != mh.h.Root() {
				t.Fatalf("exited task %v in %v", dead, dead.Container(mh.h))
			}
		}
	}
	// Destroy exactly once per Create: the recorders hold one state per
	// container of the hierarchies they are bound to.
	for i, r := range m.recs {
		if n := r.liveStates(); n != live[i] {
			t.Fatalf("%s has %d live states, want %d", r.name, n, live[i])
		}
	}
}

func TestStateMachine(t *testing.T) {
	// Each Repeat runs about 30 actions (rapid's -rapid.steps); several in
	// a row reach deeper states (nested containers with notify_on_release,
	// unmounted hierarchies with children) at a cost of under a second.
	rounds := 5
	if testing.Short() {
		rounds = 1
	}
	rapid.Check(t, func(t *rapid.T) {
		m := newStateMachine(t)
		actions := rapid.StateMachineActions(m)
		for range rounds {
			t.Repeat(actions)
		}
	})
}

// The model's own helpers must agree with the recorder's formats.
func TestStateMachineLogs(t *testing.T) {
	log, ok := createLog(7, "/x", 1)
	if ok || !slices.Equal(log, []string{"a.create /x", "b.create /x", "a.destroy /x"}) {
		t.Errorf("createLog = %v, %v", log, ok)
	}
	log, ok = attachLog(5, "/x", "1</", 2)
	if ok || !slices.Equal(log, []string{"a.can_attach /x 1</", "c.can_attach /x 1</", "a.cancel_attach /x 1</"}) {
		t.Errorf("attachLog = %v, %v", log, ok)
	}
}
