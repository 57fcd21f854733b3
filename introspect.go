package containers

import (
	"cmp"
	"slices"
)

// GroupInfo describes a css_group (the kernel's css_set): the membership
// shared by a set of tasks. It is a snapshot, for debugging and reports
// such as the debug subsystem's files.
type GroupInfo struct {
	// ID names the group while it lives; the default group, which holds
	// every root (and every exited task), is 0.
	ID uint64
	// Refs counts the group's references: its tasks, temporary holders,
	// and one permanent reference for the default group.
	Refs int64
	// Tasks are the IDs of its tasks, ascending.
	Tasks []TaskID
	// Containers are the containers its tasks are in, one per live
	// hierarchy, by ascending hierarchy ID.
	Containers []*Container
}

func (sys *System) groupInfo(g *cssGroup) GroupInfo {
	gi := GroupInfo{ID: g.id, Refs: g.refs.Load()}
	g.mu.Lock()
	for p := g.head.next; p != &g.head; p = p.next {
		if p.kind == taskNormal {
			gi.Tasks = append(gi.Tasks, p.id)
		}
	}
	g.mu.Unlock()
	slices.Sort(gi.Tasks)
	for _, h := range *sys.hiers.Load() {
		gi.Containers = append(gi.Containers, g.container(h))
	}
	return gi
}

// Group describes the css_group of t.
func (t *Task) Group() GroupInfo {
	g := t.group.Load()
	return t.sys.groupInfo(g)
}

// Groups describes the css_groups whose tasks are in c (the kernel's
// cgroup→css_set links), by ascending ID.
func (c *Container) Groups() []GroupInfo {
	sys := c.h.sys
	gs := sys.groups.groupsOf(c)
	out := make([]GroupInfo, 0, len(gs))
	for _, g := range gs {
		out = append(out, sys.groupInfo(g))
	}
	slices.SortFunc(out, func(a, b GroupInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// GroupCount returns the number of css_groups whose tasks are in c: the
// container is busy (it cannot be removed) while it is above zero. This is
// the debug subsystem's cgroup_refcount.
func (c *Container) GroupCount() int {
	if c.parent == nil {
		return len(c.h.sys.groups.groupsOf(c))
	}
	return int(c.ngroups.Load())
}

// GroupCount returns the number of live css_groups, the default one included.
func (sys *System) GroupCount() int { return sys.groups.len() }
