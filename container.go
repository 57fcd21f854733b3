package containers

import (
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// maxNameBytes is the longest container name (NAME_MAX).
const maxNameBytes = 255

// A Container is a node of a hierarchy's tree (the kernel's cgroup): a set
// of tasks with one state per subsystem bound to the hierarchy. The read
// methods take no lock the System's callbacks hold, so callbacks may use
// them.
type Container struct {
	h      *Hierarchy
	parent *Container // nil for a root; immutable

	name atomic.Pointer[string] // written under sys.mu (rename)
	kids atomic.Pointer[[]kid]  // sorted by name; replaced, never changed, under sys.mu
	css  [MaxSubsystems]atomic.Pointer[CSS]

	notify        atomic.Bool // notify_on_release
	cloneChildren atomic.Bool // cgroup.clone_children
	removed       atomic.Bool

	groups  map[*cssGroup]struct{} // groups whose tasks are here; guarded by sys.groups.mu
	ngroups atomic.Int32           // len(groups)
}

// kid is a child as its parent lists it: the name is a copy, so that a
// rename never changes a slice a lock-free reader may be searching.
type kid struct {
	name string
	c    *Container
}

func cmpKid(k kid, name string) int { return strings.Compare(k.name, name) }

// setKids publishes ks (sorted by name).
func (c *Container) setKids(ks []kid) { c.kids.Store(&ks) }

func (c *Container) setName(n string) { c.name.Store(&n) }

// Name returns the container's name ("" for a root).
func (c *Container) Name() string { return *c.name.Load() }

// Parent returns the parent container, or nil for a root.
func (c *Container) Parent() *Container { return c.parent }

// Hierarchy returns the hierarchy c belongs to.
func (c *Container) Hierarchy() *Hierarchy { return c.h }

// IsRoot reports whether c is the root of its hierarchy.
func (c *Container) IsRoot() bool { return c.parent == nil }

// Removed reports whether c was removed (or its hierarchy destroyed).
func (c *Container) Removed() bool { return c.removed.Load() }

// NotifyOnRelease reports c's notify_on_release flag.
func (c *Container) NotifyOnRelease() bool { return c.notify.Load() }

// CloneChildren reports c's cgroup.clone_children flag.
func (c *Container) CloneChildren() bool { return c.cloneChildren.Load() }

// Path returns c's path in its hierarchy: "/" for the root, else "/a/b".
func (c *Container) Path() string {
	if c.parent == nil {
		return "/"
	}
	var elems [16]string
	names := elems[:0]
	for p := c; p.parent != nil; p = p.parent {
		names = append(names, p.Name())
	}
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(names[i])
	}
	return b.String()
}

func (c *Container) String() string { return c.Path() }

// Children returns c's child containers sorted by name. The slice is a
// snapshot and the caller's to keep.
func (c *Container) Children() []*Container {
	k := c.kids.Load()
	if k == nil || len(*k) == 0 {
		return nil
	}
	out := make([]*Container, len(*k))
	for i, e := range *k {
		out[i] = e.c
	}
	return out
}

func (c *Container) nkids() int {
	if k := c.kids.Load(); k != nil {
		return len(*k)
	}
	return 0
}

// child returns the child named name, or nil.
func (c *Container) child(name string) *Container {
	k := c.kids.Load()
	if k == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(*k, name, cmpKid)
	if !ok {
		return nil
	}
	return (*k)[i].c
}

// Child returns the child named name, or an ENOENT error.
func (c *Container) Child(name string) (*Container, error) {
	if k := c.child(name); k != nil {
		return k, nil
	}
	return nil, pathError("lookup", joinPath(c.Path(), name), unix.ENOENT)
}

// State returns c's state of subsystem ss, or nil if ss is not bound to c's
// hierarchy (or not a subsystem of the System).
func (c *Container) State(ss Subsystem) State {
	e := c.h.sys.lookupSubsys(ss)
	if e == nil {
		return nil
	}
	if s := c.css[e.id].Load(); s != nil {
		return s.state
	}
	return nil
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// checkName applies the rules for a new container name.
func (c *Container) checkName(name string) error {
	switch {
	case name == "" || strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0:
		return unix.EINVAL
	case len(name) > maxNameBytes:
		return unix.ENAMETOOLONG
	case strings.IndexByte(name, '\n') >= 0:
		return unix.EINVAL
	case name == "." || name == ".." || c.file(name) != nil || c.child(name) != nil:
		return unix.EEXIST
	}
	return nil
}

// Mkdir creates a child container named name (the kernel's mkdir). The name
// is 1 to 255 bytes without "/" or NUL (EINVAL, ENAMETOOLONG), without "\n"
// (EINVAL), and neither ".", "..", a control file nor an existing child
// (EEXIST). The child inherits notify_on_release and cgroup.clone_children.
// Each subsystem's Create runs in ID order; if one fails, Destroy runs for
// those that succeeded, in reverse order, and nothing is left. A removed
// parent gives ENOENT.
func (c *Container) Mkdir(name string) (*Container, error) {
	sys := c.h.sys
	path := joinPath(c.Path(), name)
	if err := sys.lockOpen("mkdir", path); err != nil {
		return nil, err
	}
	defer sys.mu.Unlock()
	k, err := sys.mkdirLocked(c, name)
	if err != nil {
		return nil, pathError("mkdir", path, err)
	}
	return k, nil
}

func (sys *System) mkdirLocked(c *Container, name string) (*Container, error) {
	if c.removed.Load() {
		return nil, unix.ENOENT
	}
	if err := c.checkName(name); err != nil {
		return nil, err
	}
	k := &Container{h: c.h, parent: c}
	k.setName(name)
	k.notify.Store(c.notify.Load())
	k.cloneChildren.Store(c.cloneChildren.Load())
	b := c.h.binding.Load()
	for i, id := range b.ids {
		e := sys.subsys[id]
		st, err := e.ss.Create(k)
		if err == nil {
			err = checkState(st) // a bad state is not Destroyed: it is not one
		}
		if err != nil {
			for _, pid := range slices.Backward(b.ids[:i]) {
				pe := sys.subsys[pid]
				pe.ss.Destroy(k, k.css[pid].Load().state)
			}
			return nil, &SubsystemError{Subsystem: e.name, Op: "create", Err: err}
		}
		s := st.css()
		s.state, s.ss = st, e
		s.container.Store(k)
		k.css[id].Store(s)
	}
	var old []kid
	if p := c.kids.Load(); p != nil {
		old = *p
	}
	i, _ := slices.BinarySearchFunc(old, name, cmpKid)
	c.setKids(slices.Insert(slices.Clone(old), i, kid{name, k}))
	c.h.ncontainers.Add(1)
	return k, nil
}

// Rmdir removes c (the kernel's rmdir), synchronously: each subsystem's
// Destroy runs in ID order. A root, a container with tasks or children, or
// one whose state is referenced (CSS.Get) gives EBUSY; one already removed
// gives ENOENT. Removing the last child of a container with
// notify_on_release set and no tasks releases it. When an unmounted
// hierarchy loses its last container, it is destroyed.
func (c *Container) Rmdir() error {
	sys := c.h.sys
	path := c.Path()
	if err := sys.lockOpen("rmdir", path); err != nil {
		return err
	}
	defer sys.mu.Unlock()
	if err := sys.rmdirLocked(c); err != nil {
		return pathError("rmdir", path, err)
	}
	return nil
}

func (sys *System) rmdirLocked(c *Container) error {
	if c.removed.Load() {
		return unix.ENOENT
	}
	if c.parent == nil || c.ngroups.Load() > 0 || c.nkids() > 0 {
		return unix.EBUSY
	}
	b := c.h.binding.Load()
	for i, id := range b.ids {
		if !c.css[id].Load().kill() {
			for _, pid := range b.ids[:i] {
				c.css[pid].Load().revive()
			}
			return unix.EBUSY
		}
	}
	c.removed.Store(true)
	p := c.parent
	p.setKids(slices.DeleteFunc(slices.Clone(*p.kids.Load()), func(k kid) bool { return k.c == c }))
	c.h.ncontainers.Add(-1)
	for _, id := range b.ids {
		sys.subsys[id].ss.Destroy(c, c.css[id].Load().state)
	}
	p.checkRelease()
	sys.maybeDestroyLocked(c.h)
	return nil
}

// Rename renames the container at oldpath to newpath in the same parent
// (the kernel's rename). Moving to another parent gives EIO; a target that
// is a container gives EEXIST, one that is a control file ENOTDIR; a source
// that is a control file ENOTDIR; a name with "\n" EINVAL; renaming to
// itself succeeds. As rename(2) on the kernel's hierarchy: the root, "."
// and ".." give EBUSY, a move into the source's own subtree EINVAL, onto
// an ancestor of the source ENOTEMPTY, and a control file onto a container
// EISDIR; when several apply, the errno is the kernel's.
func (h *Hierarchy) Rename(oldpath, newpath string) error {
	sys := h.sys
	if err := sys.lockOpen("rename", oldpath); err != nil {
		return err
	}
	defer sys.mu.Unlock()
	if err := h.renameLocked(oldpath, newpath); err != nil {
		return pathError("rename", oldpath, err)
	}
	return nil
}

func (h *Hierarchy) renameLocked(oldpath, newpath string) error {
	odir, oname := splitPath(oldpath)
	ndir, nname := splitPath(newpath)
	op, err := h.lookup(odir)
	if err != nil {
		return err
	}
	np, err := h.lookup(ndir)
	if err != nil {
		return err
	}
	// The checks come in the kernel's order (checked on a live cgroup v1
	// hierarchy): rename(2)'s own, then cgroup1_rename's, then kernfs's.
	if !normalName(oname) || !normalName(nname) {
		return unix.EBUSY // the root, "." or ".."
	}
	src, srcFile := op.child(oname), op.file(oname) != nil
	if src == nil && !srcFile {
		return unix.ENOENT
	}
	if src != nil && src.isAncestorOf(np) {
		return unix.EINVAL // into its own subtree
	}
	dst, dstFile := np.child(nname), np.file(nname) != nil
	if dst != nil && dst.isAncestorOf(op) {
		return unix.ENOTEMPTY // over an ancestor of the source
	}
	if op == np && oname == nname {
		return nil // onto itself
	}
	switch {
	case src != nil && dstFile:
		return unix.ENOTDIR // a directory over a file
	case srcFile && dst != nil:
		return unix.EISDIR // a file over a directory
	}
	if strings.IndexByte(nname, '\n') >= 0 || strings.IndexByte(nname, 0) >= 0 {
		return unix.EINVAL
	}
	if len(nname) > maxNameBytes {
		return unix.ENAMETOOLONG // as Mkdir; the kernel has no limit here
	}
	if srcFile {
		return unix.ENOTDIR // only containers are renamed
	}
	if np != op {
		return unix.EIO
	}
	if dst != nil {
		return unix.EEXIST
	}
	// Lock-free readers binary-search kids by name: never publish a slice
	// whose order disagrees with the names it holds.
	ks := slices.DeleteFunc(slices.Clone(*op.kids.Load()), func(k kid) bool { return k.c == src })
	i, _ := slices.BinarySearchFunc(ks, nname, cmpKid)
	op.setKids(slices.Insert(ks, i, kid{nname, src}))
	src.setName(nname)
	return nil
}

// normalName reports whether name is a name in a directory: not empty (the
// root), ".", or "..".
func normalName(name string) bool {
	return name != "" && name != "." && name != ".."
}

// isAncestorOf reports whether c is k or one of k's ancestors.
func (c *Container) isAncestorOf(k *Container) bool {
	for ; k != nil; k = k.parent {
		if k == c {
			return true
		}
	}
	return false
}

// splitPath splits "/a/b" into "/a" and "b", and "/" into "/" and "".
func splitPath(p string) (dir, name string) {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "/", p
	}
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// Tasks returns an iterator over the IDs of the tasks in c, in no particular
// order. It copies a bounded batch of IDs at a time and holds no lock while
// yielding, so the loop body may call back into the System. A task whose
// css_group changes during the iteration (it moves, in this hierarchy or in
// another) may be missed or seen twice; one whose group stays the same is
// seen exactly once. The tasks file sorts and deduplicates.
func (c *Container) Tasks() iter.Seq[TaskID] {
	return func(yield func(TaskID) bool) { c.stream(yield, false) }
}

// Procs is Tasks with each task's process (thread-group) ID: a process
// appears once per thread of it in c. Sort and deduplicate for cgroup.procs.
func (c *Container) Procs() iter.Seq[TaskID] {
	return func(yield func(TaskID) bool) { c.stream(yield, true) }
}

func (c *Container) stream(yield func(TaskID) bool, procs bool) {
	for _, g := range c.h.sys.groups.groupsOf(c) {
		if !g.stream(yield, procs) {
			return
		}
	}
}

// TaskCount returns the number of tasks in c.
func (c *Container) TaskCount() int {
	n := 0
	for _, g := range c.h.sys.groups.groupsOf(c) {
		n += g.taskCount()
	}
	return n
}

// checkRelease queues c for the release agent if it is releasable: not a
// root, notify_on_release set, not removed, no tasks, no children and no
// referenced state. It takes no lock but the release queue's.
func (c *Container) checkRelease() {
	if c.parent == nil || !c.notify.Load() || c.removed.Load() || c.ngroups.Load() > 0 || c.nkids() > 0 {
		return
	}
	for i := range c.css {
		if s := c.css[i].Load(); s != nil && s.refs.Load() > 0 {
			return
		}
	}
	c.h.sys.rel.queue(c)
}

func itoa(i int) string { return strconv.Itoa(i) }
