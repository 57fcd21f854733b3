package containers

import (
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A Hierarchy is a tree of containers with a set of subsystems bound to it
// (the kernel's cgroupfs_root), made by System.Mount. Every task is in
// exactly one of its containers.
type Hierarchy struct {
	sys  *System
	id   int
	name string
	root *Container

	binding atomic.Pointer[binding] // replaced under sys.mu
	agent   atomic.Pointer[string]  // the release agent path; written under sys.mu
	alive   atomic.Bool             // until the hierarchy is destroyed

	ncontainers atomic.Int32 // root included

	// Guarded by sys.mu.
	flags  hierFlags
	mounts int
}

// binding is the immutable description of what is bound to a hierarchy.
type binding struct {
	ids    []int  // subsystem IDs, ascending
	mask   uint64 // the same as a bit set
	slot   int    // the named slot of a hierarchy without subsystems, else -1
	files  []*fileEntry
	byName map[string]*fileEntry
}

func (sys *System) newHierarchy(id int, name string, mask uint64, slot int) *Hierarchy {
	h := &Hierarchy{sys: sys, id: id, name: name}
	h.root = &Container{h: h}
	h.root.setName("")
	h.ncontainers.Store(1)
	h.alive.Store(true)
	empty := ""
	h.agent.Store(&empty)
	h.setBinding(mask, slot)
	return h
}

// setBinding installs a new binding for mask and slot.
func (h *Hierarchy) setBinding(mask uint64, slot int) {
	b := &binding{mask: mask, slot: slot}
	for _, e := range h.sys.subsys {
		if mask&(1<<e.id) != 0 {
			b.ids = append(b.ids, e.id)
		}
	}
	b.files, b.byName = h.sys.hierarchyFiles(b.ids, h.flags.noprefix)
	h.binding.Store(b)
}

// ID returns the hierarchy's ID: IDs start at 1 and increase, and are not
// reused while the System lives.
func (h *Hierarchy) ID() int { return h.id }

// Name returns the hierarchy's name ("name=" option), or "".
func (h *Hierarchy) Name() string { return h.name }

// Root returns the root container.
func (h *Hierarchy) Root() *Container { return h.root }

// System returns the System the hierarchy belongs to.
func (h *Hierarchy) System() *System { return h.sys }

// Alive reports whether the hierarchy still exists: it is mounted, or was
// unmounted while it had containers that have not all been removed.
func (h *Hierarchy) Alive() bool { return h.alive.Load() }

// Subsystems returns the names of the bound subsystems in ID order.
func (h *Hierarchy) Subsystems() []string {
	b := h.binding.Load()
	names := make([]string, len(b.ids))
	for i, id := range b.ids {
		names[i] = h.sys.subsys[id].name
	}
	return names
}

// ReleaseAgent returns the path of the hierarchy's release agent, or "".
func (h *Hierarchy) ReleaseAgent() string { return *h.agent.Load() }

// Options returns the hierarchy's options; their String is the kernel's
// rendering of the mount options (without "rw,").
// It takes no lock: the flags never change after the mount, and the rest
// is read atomically, so callbacks may call it.
func (h *Hierarchy) Options() Options {
	return Options{
		Subsystems:    h.Subsystems(),
		Name:          h.name,
		NoPrefix:      h.flags.noprefix,
		Xattr:         h.flags.xattr,
		CPUSetV2Mode:  h.flags.cpusetV2,
		CloneChildren: h.root.cloneChildren.Load(),
		ReleaseAgent:  h.ReleaseAgent(),
	}
}

func (h *Hierarchy) String() string {
	return "hierarchy " + itoa(h.id) + " (" + h.Options().String() + ")"
}

// Lookup returns the container at path, which is absolute in the hierarchy
// ("/", "/a/b"). A missing container gives ENOENT; a path that is not
// absolute or names a control file on the way gives ENOENT or ENOTDIR.
func (h *Hierarchy) Lookup(path string) (*Container, error) {
	c, err := h.lookup(path)
	if err != nil {
		return nil, pathError("lookup", path, err)
	}
	return c, nil
}

func (h *Hierarchy) lookup(path string) (*Container, error) {
	if !strings.HasPrefix(path, "/") || !h.alive.Load() {
		return nil, unix.ENOENT
	}
	c := h.root
	for elem := range strings.SplitSeq(path[1:], "/") {
		if elem == "" || elem == "." {
			continue
		}
		if elem == ".." {
			if c.parent != nil {
				c = c.parent
			}
			continue
		}
		next := c.child(elem)
		if next == nil {
			if c.file(elem) != nil {
				return nil, unix.ENOTDIR
			}
			return nil, unix.ENOENT
		}
		c = next
	}
	return c, nil
}

// Mount finds or creates the hierarchy for o, as mounting the kernel's cgroup
// filesystem does. A hierarchy with the same subsystems (and the same name,
// if one is given) is reused, whatever the other options say; the returned
// Hierarchy then counts one more mount. A request that overlaps a
// hierarchy with a different set, or a name in use with a different set,
// gives EBUSY; bad options give EINVAL. A new hierarchy takes the next ID;
// its subsystems' root states move into its root (Bind callbacks).
func (sys *System) Mount(o Options) (*Hierarchy, error) {
	if err := sys.lockOpen("mount", o.String()); err != nil {
		return nil, err
	}
	defer sys.mu.Unlock()
	h, err := sys.mountLocked(o)
	if err != nil {
		return nil, pathError("mount", o.String(), err)
	}
	return h, nil
}

// MountString is Mount with the kernel's option string ("cpuset,noprefix").
func (sys *System) MountString(opts string) (*Hierarchy, error) {
	o, err := ParseOptions(opts)
	if err != nil {
		return nil, pathError("mount", opts, unix.EINVAL)
	}
	return sys.Mount(o)
}

func (sys *System) mountLocked(o Options) (*Hierarchy, error) {
	r, err := sys.resolve(o)
	if err != nil {
		return nil, err
	}
	for _, h := range *sys.hiers.Load() {
		nameMatch := false
		if r.name != "" {
			if r.name != h.name {
				continue
			}
			nameMatch = true
		}
		if (r.mask != 0 || r.none) && r.mask != h.binding.Load().mask {
			if !nameMatch {
				continue
			}
			return nil, unix.EBUSY
		}
		h.mounts++
		return h, nil
	}
	if r.mask == 0 && !r.none {
		return nil, unix.EINVAL
	}
	for _, e := range sys.subsys {
		if r.mask&(1<<e.id) != 0 && e.h != sys.dummy {
			return nil, unix.EBUSY
		}
	}
	slot := -1
	if r.mask == 0 {
		if slot = sys.freeSlot(); slot < 0 {
			return nil, unix.ENOSPC
		}
	}
	h := &Hierarchy{sys: sys, id: sys.nextID, name: r.name, flags: r.flags, mounts: 1}
	h.root = &Container{h: h}
	h.root.setName("")
	h.root.cloneChildren.Store(r.clone)
	h.ncontainers.Store(1)
	h.alive.Store(true)
	agent := r.agent
	h.agent.Store(&agent)
	h.setBinding(0, slot)
	sys.nextID++
	if slot >= 0 {
		sys.slots[slot] = h
	}
	sys.rebind(h, r.mask, slot)
	hs := append(slices.Clone(*sys.hiers.Load()), h)
	sys.hiers.Store(&hs)
	return h, nil
}

func (sys *System) freeSlot() int {
	for i, h := range sys.slots {
		if h == nil {
			return i
		}
	}
	return -1
}

// rebind moves subsystems so that exactly mask is bound to h, whose root
// must have no children: added ones leave the dummy hierarchy, removed ones
// return to it, each with its Bind callback. slot is h's named slot if mask
// is empty; a slot h held is given back once it has subsystems.
func (sys *System) rebind(h *Hierarchy, mask uint64, slot int) {
	old := h.binding.Load().mask
	if mask != 0 {
		if s := h.binding.Load().slot; s >= 0 {
			sys.slots[s] = nil
		}
		slot = -1
	}
	h.setBinding(mask, slot)
	for _, e := range sys.subsys {
		bit := uint64(1) << e.id
		switch {
		case mask&bit != 0 && old&bit == 0:
			sys.dummy.root.css[e.id].Store(nil)
			h.root.css[e.id].Store(e.root)
			e.root.container.Store(h.root)
			e.h = h
			if e.binder != nil {
				e.binder.Bind(h.root)
			}
		case mask&bit == 0 && old&bit != 0:
			h.root.css[e.id].Store(nil)
			sys.dummy.root.css[e.id].Store(e.root)
			e.root.container.Store(sys.dummy.root)
			e.h = sys.dummy
			if e.binder != nil {
				e.binder.Bind(sys.dummy.root)
			}
		}
	}
}

// Unmount drops one mount of h. When no mount is left and h has no
// containers but its root, h is destroyed: its subsystems return to the
// dummy hierarchy (Bind callbacks) and Mount no longer finds it. A hierarchy
// unmounted with containers left stays alive, and Mount with the same
// options finds it again. Unmounting a hierarchy that is not mounted gives
// EINVAL.
func (h *Hierarchy) Unmount() error {
	sys := h.sys
	if err := sys.lockOpen("umount", h.name); err != nil {
		return err
	}
	defer sys.mu.Unlock()
	if h.mounts == 0 {
		return pathError("umount", h.name, unix.EINVAL)
	}
	h.mounts--
	sys.maybeDestroyLocked(h)
	return nil
}

// maybeDestroyLocked destroys h if it has neither mounts nor children.
func (sys *System) maybeDestroyLocked(h *Hierarchy) {
	if h.mounts > 0 || h.root.nkids() > 0 || !h.alive.Load() {
		return
	}
	if slot := h.binding.Load().slot; slot >= 0 {
		sys.slots[slot] = nil
	}
	sys.rebind(h, 0, -1)
	h.alive.Store(false)
	h.root.removed.Store(true)
	hs := slices.DeleteFunc(slices.Clone(*sys.hiers.Load()), func(o *Hierarchy) bool { return o == h })
	sys.hiers.Store(&hs)
}

// Remount changes the subsystems bound to h, or its release agent, as the
// kernel's remount does: a different name or flag (noprefix, xattr,
// cpuset_v2_mode) gives EINVAL; any remount while the root has children
// gives EBUSY, as does adding a subsystem bound elsewhere. Without a
// ReleaseAgent the path is kept.
func (h *Hierarchy) Remount(o Options) error {
	sys := h.sys
	if err := sys.lockOpen("remount", o.String()); err != nil {
		return err
	}
	defer sys.mu.Unlock()
	if err := sys.remountLocked(h, o); err != nil {
		return pathError("remount", o.String(), err)
	}
	return nil
}

func (sys *System) remountLocked(h *Hierarchy, o Options) error {
	if !h.alive.Load() {
		return unix.EINVAL
	}
	r, err := sys.resolve(o)
	if err != nil {
		return err
	}
	if r.flags != h.flags || (r.name != "" && r.name != h.name) {
		return unix.EINVAL
	}
	if h.root.nkids() > 0 {
		return unix.EBUSY
	}
	for _, e := range sys.subsys {
		if r.mask&(1<<e.id) != 0 && e.h != sys.dummy && e.h != h {
			return unix.EBUSY
		}
	}
	slot := h.binding.Load().slot
	if r.mask == 0 && slot < 0 {
		if slot = sys.freeSlot(); slot < 0 {
			return unix.ENOSPC
		}
		sys.slots[slot] = h
	}
	sys.rebind(h, r.mask, slot)
	if r.agent != "" {
		agent := r.agent
		h.agent.Store(&agent)
	}
	return nil
}
