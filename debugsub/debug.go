// Package debugsub is the debug subsystem (the kernel's cgroup_debug): a
// set of read-only control files that show the framework's own bookkeeping
// of a container and of the task reading them, for people debugging a
// host, a subsystem or the framework.
//
// Mount it with the subsystems it should watch, or alone:
//
//	sys, _ := containers.New([]containers.Subsystem{debugsub.New()})
//	h, _ := sys.MountString("debug")
//	data, _ := h.Root().ReadFile("debug.taskcount")
//
// # Files
//
// Every file is read-only (mode 0444; a write gives EINVAL). The formats are
// today's kernel's where it has the file, with a css_group's ID (GroupInfo.ID;
// 0 is the default group, which holds the tasks that are in every root)
// where the kernel prints a css_set's address. Counts are snapshots: a
// file read while tasks fork, exit or move may mix moments.
//
//   - cgroup_refcount: the number of css_groups whose tasks are in the
//     container (Container.GroupCount): the container's busy count, which
//     must be 0 for rmdir. A root counts the default group too, which
//     every root links even when no task is in it. From 2.6.24.
//   - taskcount: the number of tasks in the container.
//   - releasable: 1 if the container has no tasks and no children, else 0
//     (today's meaning; notify_on_release does not enter into it).
//   - cgroup_css_links: for each css_group whose tasks are in the
//     container, by ascending ID, a line "css_set <id> <refcount>", with
//     " +<n>" appended when the reference count exceeds the number of tasks
//     by n (the default group's permanent reference, or readers holding
//     one at the moment), then a line "  task <id>" for each of its first
//     25 tasks by ascending ID, then "  ... (<n>)" when n more are not
//     shown. The kernel's loop shows 26 tasks before the ellipsis (an
//     off-by-one); this one shows 25, and n is the number left out. When
//     references beyond the tasks and the default group's permanent one
//     were counted, an empty line and "extra references = <n>" follow.
//   - current_css_set, current_css_set_refcount and current_css_set_cg_links,
//     in a hierarchy's root only, as in the kernel. They describe the
//     css_group of the task doing the read, which the host names with
//     Container.ReadFileAs (there is no ambient current task in a
//     library). Read with no task (Container.ReadFile), or as a task that
//     has exited, they describe the default group, which is where such a
//     task counts: in every root. A task of another System gives ESRCH.
//     current_css_set_refcount is the group's reference count, "%d\n".
//     current_css_set is the line "css_set <id> <refcount>[ +<n>]" as
//     above, then one line per subsystem of the System, in ID order,
//     "<id>: <name>\t- <hierarchy>:<path>" (the ID right-aligned in two
//     columns and the name left-aligned in four, as the kernel pads them),
//     naming the container of that subsystem's hierarchy the group is in,
//     or "0:/" for a subsystem that is not mounted; the kernel prints the
//     css's address and ID there instead. current_css_set_cg_links is one
//     line "Root <hierarchy-id> group <name>" per live hierarchy, by
//     ascending ID, naming the container of that hierarchy the group is
//     in; a root is named "/", as the kernel's cgroup_name names it. The
//     kernel also lists its default hierarchy (ID 0), which here is
//     invisible and is left out.
package debugsub

import (
	"fmt"
	"io"
	"strings"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// Name is the subsystem's name, the prefix of its files and the mount
// option that binds it.
const Name = "debug"

// maxTasksShown is the number of tasks cgroup_css_links lists per group
// (the kernel's MAX_TASKS_SHOWN_PER_CSS).
const maxTasksShown = 25

// Subsystem is the debug subsystem. It keeps no state of its own: its
// files read the framework's bookkeeping through the containers package's
// introspection methods, which take no lock that a callback holds, so it
// is safe for concurrent use.
type Subsystem struct {
	// One field so that distinct Subsystems are distinct pointers (a
	// pointer to a zero-size value may equal another).
	_ byte
}

// state is the debug subsystem's state of a container: the header only,
// as in the kernel.
type state struct{ containers.CSS }

var (
	_ containers.Subsystem    = (*Subsystem)(nil)
	_ containers.FileProvider = (*Subsystem)(nil)
)

// New returns a debug subsystem, to be passed to containers.New.
func New() *Subsystem { return &Subsystem{} }

// Name returns Name.
func (*Subsystem) Name() string { return Name }

// Create returns a new, empty state for c.
func (*Subsystem) Create(*containers.Container) (containers.State, error) {
	return &state{}, nil
}

// Destroy does nothing: the state holds nothing.
func (*Subsystem) Destroy(*containers.Container, containers.State) {}

// Files returns the debug files described in the package documentation.
func (*Subsystem) Files() []containers.File {
	return []containers.File{
		{Name: "cgroup_refcount", ReadUint: func(fc *containers.FileContext) uint64 {
			return uint64(fc.Container.GroupCount())
		}},
		{Name: "taskcount", ReadUint: func(fc *containers.FileContext) uint64 {
			return uint64(fc.Container.TaskCount())
		}},
		{Name: "releasable", ReadUint: readReleasable},
		{Name: "cgroup_css_links", Read: readCSSLinks},
		{Name: "current_css_set", Read: readCurrent, RootOnly: true},
		{Name: "current_css_set_refcount", Read: readCurrentRefcount, RootOnly: true},
		{Name: "current_css_set_cg_links", Read: readCurrentLinks, RootOnly: true},
	}
}

func readReleasable(fc *containers.FileContext) uint64 {
	c := fc.Container
	if c.TaskCount() == 0 && len(c.Children()) == 0 {
		return 1
	}
	return 0
}

// extra returns how many references g has beyond its tasks.
func extra(g containers.GroupInfo) int64 {
	return g.Refs - int64(len(g.Tasks))
}

// writeGroupLine writes "css_set <id> <refcount>[ +<extra>]\n".
func writeGroupLine(b *strings.Builder, g containers.GroupInfo) {
	fmt.Fprintf(b, "css_set %d %d", g.ID, g.Refs)
	if n := extra(g); n > 0 {
		fmt.Fprintf(b, " +%d", n)
	}
	b.WriteByte('\n')
}

func readCSSLinks(fc *containers.FileContext, w io.Writer) error {
	_, err := io.WriteString(w, formatCSSLinks(fc.Container.Groups()))
	return err
}

// formatCSSLinks renders cgroup_css_links for the groups gs.
func formatCSSLinks(gs []containers.GroupInfo) string {
	var b strings.Builder
	var extraRefs int64
	for _, g := range gs {
		writeGroupLine(&b, g)
		for i, id := range g.Tasks {
			if i == maxTasksShown {
				fmt.Fprintf(&b, "  ... (%d)\n", len(g.Tasks)-maxTasksShown)
				break
			}
			fmt.Fprintf(&b, "  task %d\n", id)
		}
		if n := extra(g); n > 0 {
			if g.ID == 0 {
				n-- // the default group's permanent reference
			}
			extraRefs += n
		}
	}
	if extraRefs > 0 {
		fmt.Fprintf(&b, "\nextra references = %d\n", extraRefs)
	}
	return b.String()
}

// callerGroup returns the css_group that the current_* files describe:
// the caller's, or the default group for no caller or an exited one. A
// caller that is not a live task of this System gives ESRCH.
func callerGroup(fc *containers.FileContext) (containers.GroupInfo, error) {
	t := fc.Caller
	if t != nil && !t.Exited() {
		sys := fc.Container.Hierarchy().System()
		if live, err := sys.Task(t.ID()); err != nil || live != t {
			return containers.GroupInfo{}, unix.ESRCH
		}
		return t.Group(), nil
	}
	// The default group holds every root, so the root that is being read
	// links it.
	for _, g := range fc.Container.Groups() {
		if g.ID == 0 {
			return g, nil
		}
	}
	return containers.GroupInfo{}, unix.ENODEV // not a live root: the hierarchy went away
}

func readCurrentRefcount(fc *containers.FileContext, w io.Writer) error {
	g, err := callerGroup(fc)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%d\n", g.Refs)
	return err
}

func readCurrent(fc *containers.FileContext, w io.Writer) error {
	g, err := callerGroup(fc)
	if err != nil {
		return err
	}
	var b strings.Builder
	writeGroupLine(&b, g)
	// The container of each bound subsystem's hierarchy.
	where := map[string]*containers.Container{}
	for _, c := range g.Containers {
		for _, name := range c.Hierarchy().Subsystems() {
			where[name] = c
		}
	}
	sys := fc.Container.Hierarchy().System()
	for id, name := range sys.Subsystems() {
		loc := "0:/"
		if c := where[name]; c != nil {
			loc = fmt.Sprintf("%d:%s", c.Hierarchy().ID(), c.Path())
		}
		fmt.Fprintf(&b, "%2d: %-4s\t- %s\n", id, name, loc)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func readCurrentLinks(fc *containers.FileContext, w io.Writer) error {
	g, err := callerGroup(fc)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, c := range g.Containers {
		name := c.Name()
		if c.IsRoot() {
			name = "/"
		}
		fmt.Fprintf(&b, "Root %d group %s\n", c.Hierarchy().ID(), name)
	}
	_, err = io.WriteString(w, b.String())
	return err
}
