package containers

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// groupKey names a css_group by its membership: the css of every subsystem
// slot, and the container of every hierarchy without subsystems (nil for its
// root, so that mounting such a hierarchy changes no key). Arrays of
// pointers are comparable, so Go's map hashes and compares the key; plug-in
// values never become keys.
type groupKey struct {
	css   [MaxSubsystems]*CSS
	named [MaxNamedHierarchies]*Container
}

// A cssGroup is the set of containers shared by all tasks with identical
// membership (the kernel's css_set, the 2007 design's css_group). Its key
// never changes. It lives while refs > 0; the default group, which every
// root holds, lives forever.
type cssGroup struct {
	key  groupKey
	refs atomic.Int64 // tasks using the group, plus temporary holders
	perm bool         // the default group: never freed
	id   uint64       // for debugging; the default group's is 0
	idx  int          // index in groupTable.all; guarded by the table lock

	// links are the non-root containers in key, each once; immutable. Every
	// one of them has this group in its groups set while the group lives.
	links []*Container

	mu     sync.Mutex // guards the task list and ntasks
	head   Task       // sentinel of the circular task list
	ntasks int
}

func newGroup(key groupKey) *cssGroup {
	g := &cssGroup{key: key}
	g.head.kind = taskSentinel
	g.head.prev, g.head.next = &g.head, &g.head
	for _, s := range key.css {
		if s != nil && !s.root {
			g.addLink(s.container.Load())
		}
	}
	for _, c := range key.named {
		if c != nil {
			g.addLink(c)
		}
	}
	return g
}

func (g *cssGroup) addLink(c *Container) {
	if slices.Contains(g.links, c) {
		return
	}
	g.links = append(g.links, c)
}

// container returns the container of h that the group's tasks are in.
func (g *cssGroup) container(h *Hierarchy) *Container {
	b := h.binding.Load()
	if b.slot >= 0 {
		if c := g.key.named[b.slot]; c != nil {
			return c
		}
		return h.root
	}
	if len(b.ids) == 0 { // a destroyed hierarchy
		return h.root
	}
	c := g.key.css[b.ids[0]].container.Load()
	if c.h != h {
		// A root state moving between h and the dummy hierarchy: a
		// lock-free reader may see the binding and the state's container
		// out of step. Subsystems move only while h has no children, so
		// every task is in h's root.
		return h.root
	}
	return c
}

// link puts t at the tail of the group's task list.
func (g *cssGroup) link(t *Task) {
	g.mu.Lock()
	t.prev = g.head.prev
	t.next = &g.head
	g.head.prev.next = t
	g.head.prev = t
	g.ntasks++
	g.mu.Unlock()
}

// unlink takes t off the group's task list.
func (g *cssGroup) unlink(t *Task) {
	g.mu.Lock()
	t.prev.next = t.next
	t.next.prev = t.prev
	t.prev, t.next = nil, nil
	g.ntasks--
	g.mu.Unlock()
}

// Tasks returns the number of tasks in the group.
func (g *cssGroup) taskCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ntasks
}

// groupTable holds every live css_group (the kernel's css_set hash table).
type groupTable struct {
	mu  sync.Mutex // guards m and every Container.groups; the kernel's css_set_lock
	m   map[groupKey]*cssGroup
	def *cssGroup   // the default group: all roots
	ids uint64      // the last group ID given; guarded by mu
	all []*cssGroup // the groups of m, for scans that must not hold mu

	// peak is the largest len(m) since m was last rebuilt; guarded by mu.
	peak int
}

func (t *groupTable) init() {
	t.m = make(map[groupKey]*cssGroup)
	t.def = newGroup(groupKey{})
	t.def.perm = true
	t.def.refs.Store(1) // the permanent reference
	t.m[t.def.key] = t.def
	t.all = []*cssGroup{t.def}
}

// find returns the group with the key, with a reference taken, creating it
// if needed. Groups are created only under System.mu.
func (t *groupTable) find(key *groupKey) *cssGroup {
	t.mu.Lock()
	g := t.m[*key]
	if g != nil {
		g.refs.Add(1) // a group in the map has refs > 0: it cannot be dying
		t.mu.Unlock()
		return g
	}
	g = newGroup(*key)
	t.ids++
	g.id = t.ids
	g.refs.Store(1)
	t.m[*key] = g
	t.peak = max(t.peak, len(t.m))
	g.idx = len(t.all)
	t.all = append(t.all, g)
	for _, c := range g.links {
		if c.groups == nil {
			c.groups = make(map[*cssGroup]struct{})
		}
		c.groups[g] = struct{}{}
		c.ngroups.Add(1)
	}
	t.mu.Unlock()
	return g
}

// get takes a reference on a group the caller knows to be alive.
func (g *cssGroup) get() { g.refs.Add(1) }

// tryGet takes a reference unless the group is dying (no reference left),
// and reports whether it did.
func (g *cssGroup) tryGet() bool {
	for {
		v := g.refs.Load()
		if v <= 0 {
			return false
		}
		if g.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// put drops a reference. The drop to zero happens under the table lock, so
// a concurrent find can never revive a dying group; above one, no lock is
// taken. When a container loses its last group it may be released.
func (t *groupTable) put(g *cssGroup) { t.put1(g, true) }

// putUnused drops a reference that no task used: a container it empties was
// never left by a task, so it is not released.
func (t *groupTable) putUnused(g *cssGroup) { t.put1(g, false) }

func (t *groupTable) put1(g *cssGroup, release bool) {
	for {
		v := g.refs.Load()
		if v <= 1 {
			break
		}
		if g.refs.CompareAndSwap(v, v-1) {
			return
		}
	}
	t.mu.Lock()
	if g.refs.Add(-1) != 0 || g.perm {
		t.mu.Unlock()
		return
	}
	delete(t.m, g.key)
	last := t.all[len(t.all)-1]
	t.all[g.idx], last.idx = last, g.idx
	t.all[len(t.all)-1] = nil
	t.all = t.all[:len(t.all)-1]
	t.shrinkLocked()
	var emptied [4]*Container
	n := emptied[:0]
	for _, c := range g.links {
		delete(c.groups, g)
		if c.ngroups.Add(-1) == 0 {
			n = append(n, c)
		}
	}
	t.mu.Unlock()
	if !release {
		return
	}
	for _, c := range n {
		c.checkRelease()
	}
}

// shrinkLocked rebuilds the map once it holds a quarter of its peak, so that
// the memory of a storm of groups goes back when they die (Go maps never
// shrink). The copies cost O(1) amortised per deletion.
func (t *groupTable) shrinkLocked() {
	if n := len(t.m); n > t.peak {
		t.peak = n
	} else if t.peak >= 1024 && n < t.peak/4 {
		m := make(map[groupKey]*cssGroup, n)
		maps.Copy(m, t.m)
		t.m, t.all, t.peak = m, slices.Clone(t.all), n
	}
}

// groupsOf returns the groups whose tasks are in c. It takes no reference
// (a reader must not keep a container busy): a group that dies meanwhile
// has no tasks, and no task can join it again, so reading it is harmless.
func (t *groupTable) groupsOf(c *Container) []*cssGroup {
	t.mu.Lock()
	if c.parent == nil {
		// Copy under the lock (a memmove), filter outside it: Attach and
		// Exit need this lock.
		all := slices.Clone(t.all)
		t.mu.Unlock()
		return slices.DeleteFunc(all, func(g *cssGroup) bool { return g.container(c.h) != c })
	}
	defer t.mu.Unlock()
	gs := make([]*cssGroup, 0, len(c.groups))
	for g := range c.groups {
		gs = append(gs, g)
	}
	return gs
}

// len returns the number of live groups.
func (t *groupTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// streamBatch is the number of IDs copied under the group's lock at a time.
const streamBatch = 256

// stream yields the ID (or TGID) of every task in the group's list, a batch
// at a time, holding no lock while yielding. A cursor node marks the place
// between batches, so tasks that leave meanwhile cannot make it lose its
// way. It reports whether the iteration ran to the end.
func (g *cssGroup) stream(yield func(TaskID) bool, procs bool) bool {
	cur := &Task{kind: taskCursor}
	var buf [streamBatch]TaskID
	g.mu.Lock()
	cur.prev, cur.next = &g.head, g.head.next
	g.head.next.prev = cur
	g.head.next = cur
	for {
		n := 0
		p := cur.next
		for ; p != &g.head && n < len(buf); p = p.next {
			if p.kind == taskNormal {
				if procs {
					buf[n] = p.tgid
				} else {
					buf[n] = p.id
				}
				n++
			}
		}
		// Move the cursor to just before p.
		cur.prev.next = cur.next
		cur.next.prev = cur.prev
		cur.prev, cur.next = p.prev, p
		p.prev.next = cur
		p.prev = cur
		if n == 0 {
			cur.prev.next = cur.next
			cur.next.prev = cur.prev
			g.mu.Unlock()
			return true
		}
		g.mu.Unlock()
		for _, id := range buf[:n] {
			if !yield(id) {
				g.mu.Lock()
				cur.prev.next = cur.next
				cur.next.prev = cur.prev
				g.mu.Unlock()
				return false
			}
		}
		g.mu.Lock()
	}
}
