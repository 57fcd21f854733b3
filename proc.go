package containers

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteProcCgroups writes the System's subsystem table in the format of
// today's /proc/cgroups: a header, then one line per subsystem in ID order
// with its name, the ID of the hierarchy it is bound to (0 when unbound),
// the number of containers in that hierarchy (root included; 1 when
// unbound), and 1 for enabled. Hierarchies without subsystems do not
// appear.
func (sys *System) WriteProcCgroups(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("#subsys_name\thierarchy\tnum_cgroups\tenabled\n")
	// No lock: callbacks may call this. Unbound subsystems are in the dummy.
	bound := make([]*Hierarchy, len(sys.subsys))
	for _, h := range *sys.hiers.Load() {
		for _, id := range h.binding.Load().ids {
			bound[id] = h
		}
	}
	for i, e := range sys.subsys {
		h := bound[i]
		if h == nil {
			h = sys.dummy
		}
		bw.WriteString(e.name + "\t" + strconv.Itoa(h.id) + "\t" + strconv.Itoa(int(h.ncontainers.Load())) + "\t1\n")
	}
	return bw.Flush()
}

// WriteProcCgroup writes t's memberships in the format of today's
// /proc/PID/cgroup: one line "ID:controllers:path" per live hierarchy, by
// descending hierarchy ID. controllers are the bound subsystems' names in ID
// order, joined by ",", then "name=N" for a named hierarchy. An exited task
// shows "/" everywhere. (The kernel's last line, "0::/path" for cgroup v2,
// has no counterpart here.)
func (sys *System) WriteProcCgroup(w io.Writer, t *Task) error {
	bw := bufio.NewWriter(w)
	hs := *sys.hiers.Load()
	g := t.group.Load()
	for _, h := range slices.Backward(hs) {
		bw.WriteString(strconv.Itoa(h.id))
		bw.WriteByte(':')
		bw.WriteString(h.controllers())
		bw.WriteByte(':')
		bw.WriteString(g.container(h).Path())
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// controllers returns the controller field of /proc/PID/cgroup for h.
func (h *Hierarchy) controllers() string {
	names := h.Subsystems()
	if h.name != "" {
		names = append(names, "name="+h.name)
	}
	return strings.Join(names, ",")
}
