package containers

import (
	"fmt"
	"slices"
)

// CheckInvariants checks the invariants of the task-container model (spec
// §1.2) on a quiescent System and returns the first violation:
//   - every live task is on the task list of exactly the group it points to,
//     and that group is in the table;
//   - every group's reference count equals the tasks on its list (plus one
//     for the default group's permanent reference), and no group in the
//     table is unused;
//   - every container's set of groups is exactly the groups whose key names
//     it, and its count matches;
//   - every live task is in exactly one live container of every live
//     hierarchy.
func (sys *System) CheckInvariants() error {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	gt := &sys.groups
	gt.mu.Lock()
	defer gt.mu.Unlock()
	onList := map[*Task]*cssGroup{}
	for key, g := range gt.m {
		if g.key != key {
			return fmt.Errorf("group under a key that is not its own")
		}
		g.mu.Lock()
		n := 0
		for p := g.head.next; p != &g.head; p = p.next {
			if p.kind != taskNormal {
				continue
			}
			if _, dup := onList[p]; dup {
				g.mu.Unlock()
				return fmt.Errorf("task %d on two lists", p.id)
			}
			onList[p] = g
			n++
		}
		if n != g.ntasks {
			g.mu.Unlock()
			return fmt.Errorf("group counts %d tasks, has %d", g.ntasks, n)
		}
		g.mu.Unlock()
		want := int64(n)
		if g.perm {
			want++
		}
		if got := g.refs.Load(); got != want {
			return fmt.Errorf("group %v: refs %d, want %d (tasks %d)", g.links, got, want, n)
		}
		for _, c := range g.links {
			if _, ok := c.groups[g]; !ok {
				return fmt.Errorf("container %s does not link a group that names it", c.Path())
			}
			if c.removed.Load() {
				return fmt.Errorf("a live group names removed container %s", c.Path())
			}
		}
	}
	live := 0
	for i := range sys.tasks.shards {
		s := &sys.tasks.shards[i]
		s.mu.Lock()
		for _, t := range s.m {
			if !t.born.Load() {
				continue
			}
			live++
			g := t.group.Load()
			if onList[t] != g {
				s.mu.Unlock()
				return fmt.Errorf("task %d is not on the list of its group", t.id)
			}
			if gt.m[g.key] != g {
				s.mu.Unlock()
				return fmt.Errorf("task %d points to a group not in the table", t.id)
			}
			for _, h := range *sys.hiers.Load() {
				c := g.container(h)
				if c == nil || c.h != h || c.removed.Load() {
					s.mu.Unlock()
					return fmt.Errorf("task %d has no live container in hierarchy %d", t.id, h.id)
				}
			}
		}
		s.mu.Unlock()
	}
	if live != len(onList) {
		return fmt.Errorf("%d live tasks, %d on group lists", live, len(onList))
	}
	var walk func(c *Container) error
	walk = func(c *Container) error {
		if c.parent != nil {
			if int(c.ngroups.Load()) != len(c.groups) {
				return fmt.Errorf("container %s: ngroups %d, groups %d", c.Path(), c.ngroups.Load(), len(c.groups))
			}
			for g := range c.groups {
				if gt.m[g.key] != g || !slices.Contains(g.links, c) {
					return fmt.Errorf("container %s links a group that does not name it", c.Path())
				}
			}
		}
		for _, k := range c.Children() {
			if k.parent != c || k.removed.Load() {
				return fmt.Errorf("bad child %s of %s", k.Path(), c.Path())
			}
			if err := walk(k); err != nil {
				return err
			}
		}
		return nil
	}
	for _, h := range *sys.hiers.Load() {
		if err := walk(h.root); err != nil {
			return err
		}
	}
	return nil
}

// LiveTasks returns the number of live tasks.
func (sys *System) LiveTasks() int { return sys.tasks.count() }
