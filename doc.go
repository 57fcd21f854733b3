// Package containers is the Linux task-container framework (the design that
// became cgroups) as an in-process Go library: programs that run tasks
// (processes, threads, jobs: anything named by an integer ID) group them in
// containers, arranged in trees called hierarchies, and hang per-group state
// on the groups that pluggable subsystems act on. It needs no root and no
// kernel: file names, formats and errnos follow today's cgroup v1, and the
// object model and callbacks follow the 2007 design.
//
// # Glossary
//
// The kernel's names, so its sources can be grepped for the originals:
//
//   - cgroupfs_root, a hierarchy: [Hierarchy], made by [System.Mount]
//   - cgroup ("container" in the 2007 patches): [Container]
//   - cgroup_subsys: [Subsystem] and its optional interfaces
//   - cgroup_subsys_state (css): a [State], which embeds [CSS]
//   - css_set (css_group in 2007): the unexported cssGroup, shared by all
//     tasks with identical membership
//   - cftype: [File]
//   - cgroup_taskset: [AttachContext]
//   - cgroup_mutex: the System's structure lock
//   - css_set_lock: the group table's lock
//   - task->cgroups: a [Task]'s group pointer
//   - release_agent and notify_on_release: [WithReleaseFunc], the exec
//     agent at [Hierarchy.ReleaseAgent], and the notify_on_release file
//
// # Usage
//
// A host makes a System with its subsystems, mounts hierarchies, makes
// containers, and tells the System about its tasks: NewTask for one that
// already runs, Fork and ForkThread when one is born, Exit when one dies.
// It moves tasks with Container.Attach (or by writing an ID to a tasks
// file) and reads and writes control files by name.
//
// # Locking
//
// Locks, in the order they are taken (a lock is never taken while holding a
// later one):
//
//  1. System.mu, the structure lock: mount, remount, unmount, mkdir, rmdir,
//     rename, attach, clone and control-file writes hold it, and run their
//     subsystem callbacks under it. Fork, Exit, reads and lookups never
//     take it.
//  2. a process's thread-group lock: held by a whole-process attach and
//     by ForkThread and Exit of a thread of that process.
//  3. Task.mu: an attach switches a task's group under it, after checking
//     that the task has not exited; Exit marks the task exited under it,
//     after which only Exit itself changes the group. Fork takes no task
//     lock: it reads the parent's group and takes a reference unless the
//     group is dying (then the parent has moved on, and Fork reads again).
//  4. the group table's lock (css_set_lock): the table of css_groups and
//     each container's set of groups; a group's last reference is dropped
//     under it, so a lookup never revives a dying group.
//  5. a css_group's lock: its task list.
//  6. the release queue's lock, a leaf taken under any of the above.
//
// Lock-free state: a task's group pointer, every reference count, a
// container's name, children, states and flags, and a hierarchy's binding are
// atomics, replaced as a whole under System.mu, so readers need no lock.
// Callbacks of subsystems run under System.mu (except Fork, Exit and file
// reads) and must not call mutating methods of the System; user code (the
// release function, the bodies of range loops over Tasks) never runs under a
// lock of the System.
//
// # Errors
//
// Every failing operation returns an *fs.PathError whose Err is the errno
// the kernel would return (a unix.Errno, possibly inside a SubsystemError),
// so errors.Is(err, unix.EBUSY) and errors.Is(err, fs.ErrNotExist) both
// work, and leaves the System as it was.
//
// # Differences from the kernel
//
// File names, formats and errnos follow today's cgroup v1 (Linux 6.x),
// except where the library chooses differently on purpose:
//
//   - A container name is at most 255 bytes (ENAMETOOLONG), as in 2.6.24;
//     today's kernel has no such limit.
//   - Attaching an exited task gives ESRCH, as in 2.6.24; today's kernel
//     succeeds without moving it.
//   - Rmdir is synchronous, so a remount right after the last rmdir never
//     sees a dying child.
//   - Callbacks run in subsystem ID order; CancelAttach runs in reverse
//     order for every earlier subsystem of the hierarchy that has it.
//   - NewTask runs the Fork callbacks, so Fork and Exit stay balanced for
//     tasks that existed before the System.
//   - There are no users or permissions: no EACCES from ownership.
//   - /proc/PID/cgroup has no cgroup v2 line ("0::/").
//   - At most MaxSubsystems subsystems and MaxNamedHierarchies hierarchies
//     without subsystems (ENOSPC beyond).
//
// # Writing a subsystem
//
// Implement Subsystem (Name, Create, Destroy), with a State type that embeds
// CSS, and whichever optional interfaces the policy needs: CanAttacher to
// refuse moves, Attacher to act on them, Forker and Exiter to follow tasks,
// FileProvider for control files. Check the result with the subsystemtest
// package.
package containers
