package containers

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Clone creates a child of t's container in the hierarchy of subsystem
// ssName and moves t into it (the 2007 design's container_clone). The child
// is named name, or "node_<ID>" when name is empty. If the subsystem is not
// mounted, Clone does nothing and returns nil, nil. The child is made as by
// Mkdir (Create callbacks), then each subsystem's PostClone runs in ID
// order, then t is attached as by Attach; if any step fails, the child is
// removed again (Destroy callbacks) and the error is returned. An unknown
// subsystem gives EINVAL, an exited task ESRCH.
func (sys *System) Clone(t *Task, ssName, name string) (*Container, error) {
	if name == "" && t != nil {
		name = "node_" + strconv.Itoa(int(t.id))
	}
	if err := sys.lockOpen("clone", name); err != nil {
		return nil, err
	}
	defer sys.mu.Unlock()
	e := sys.byName[ssName]
	if e == nil {
		return nil, pathError("clone", ssName, unix.EINVAL)
	}
	if t == nil || t.sys != sys || t.exited.Load() || !t.born.Load() {
		return nil, pathError("clone", name, unix.ESRCH)
	}
	h := e.h
	if h == sys.dummy {
		return nil, nil
	}
	parent := t.Container(h)
	path := joinPath(parent.Path(), name)
	c, err := sys.mkdirLocked(parent, name)
	if err != nil {
		return nil, pathError("clone", path, err)
	}
	for _, id := range h.binding.Load().ids {
		if pc := sys.subsys[id].postClone; pc != nil {
			pc.PostClone(c)
		}
	}
	if err := sys.attachLocked(c, t, false); err != nil {
		if rerr := sys.rmdirLocked(c); rerr != nil {
			sys.logger.Error("clone: cannot remove the new container", "path", path, "err", rerr)
		}
		return nil, pathError("clone", path, err)
	}
	return c, nil
}
