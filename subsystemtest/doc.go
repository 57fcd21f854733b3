// Package subsystemtest checks that an implementation of
// containers.Subsystem keeps the framework's contract, as testing/fstest
// does for fs.FS and testing/slogtest for slog.Handler.
//
// A subsystem's tests call Run:
//
//	func TestConformance(t *testing.T) {
//		subsystemtest.Run(t, func(*testing.T) containers.Subsystem { return mysub.New() })
//	}
//
// and a program that is not a test calls Check, which returns the
// errors.Join of every violation (each a *Violation; Violations lists
// them). Options adapt the kit to a subsystem whose containers must be
// prepared before tasks can move in: a cpuset refuses an attach to a
// container whose cpus or mems are empty, so its tests say
//
//	subsystemtest.Options{Setup: func(c *containers.Container) error {
//		if err := c.WriteFile("cpuset.cpus", []byte("0")); err != nil {
//			return err
//		}
//		return c.WriteFile("cpuset.mems", []byte("0"))
//	}}.Run(t, newCPUSet)
//
// # How it works
//
// Each rule runs a scenario on a new System (containers.New) with a new
// subsystem from the caller's constructor and a second, internal subsystem,
// the refuser, which comes after it in ID order and is bound to the same
// hierarchy: told to, the refuser refuses attaches (so that the subsystem
// under test, having agreed in CanAttach, gets CancelAttach) and refuses
// Create (so that its Create is undone by Destroy). The scenarios mount,
// make nested containers, attach tasks, threads and whole processes, have
// attaches refused, fork, exit, clone, remove containers, unmount, mount
// again and remount; they read every file of the subsystem everywhere, as
// no task and as tasks; and they write it with empty, oversized and garbage
// data.
//
// The kit observes the subsystem through a wrapper that it registers in the
// subsystem's place: the wrapper has the same Name (so file names and the
// refusing subsystem in errors are unchanged), forwards every callback and
// file handler, records the sequence and recovers panics, which are
// reported as violations of the rule being checked and never unwind
// through the framework. The wrapper implements every optional interface
// of the containers package, forwarding a callback only if the subsystem
// has it; a callback it lacks behaves as the framework treats a missing one
// (CanAttach accepts, the others do nothing), so the only difference is
// that the framework calls the wrapper where it would have skipped the
// subsystem. Interfaces lists what the subsystem itself implements, and Run
// logs it.
//
// The wrapper has an Unwrap method returning the subsystem, which the
// framework follows, so the subsystem's own lookups (Container.State and
// Task.State with itself as argument) find its states as usual.
//
// # The rules
//
// Files are compared before and after operations that must change nothing;
// a file whose content differs between two reads in a row, or that
// Options.Volatile names, is left out of those comparisons. A refused
// attach is legitimate: the kit then checks that the error is a
// SubsystemError wrapping a unix.Errno, that no task moved, that no Attach
// followed and that no file changed.
//
//   - register: New accepts the subsystem (a comparable value, a valid
//     name, valid files), its name does not change, its root state is made
//     once.
//   - files: file names are valid (1 to 64 bytes, none of "/", NUL and
//     newline, neither "." nor "..", not a core file's name) and unique;
//     each file has exactly one reader, at most one writer, and is listed
//     with its prefix, its mode (0644 with a writer, else 0444), in the
//     root, in children, or both, as RootOnly and ChildOnly say.
//   - read: every file reads without error in the root, a child and a
//     grandchild, as no task and as a task in them, also while attaches,
//     forks, exits and writes run concurrently (run with -race); as an
//     exited task a read may fail with an errno but must not panic; and
//     after unmounting and mounting again.
//   - create-destroy: mkdir and nested mkdir succeed; a mkdir that a later
//     subsystem refuses changes no file; every state Create returns for a
//     container is destroyed exactly once, with it, when it is removed,
//     and never a root state; removing an empty container is not blocked by
//     a reference the subsystem kept (CSS.Get without CSS.Put); mkdir then
//     rmdir leaves every file as it was; across unmount, mount and remount.
//   - after-destroy: no callback or file handler names a container or its
//     state after its Destroy; the removed container's files give ENODEV.
//   - attach: a task, a thread and a whole process move into prepared and
//     unprepared containers and back; after an accepted CanAttach the
//     tasks move and Attach follows exactly once with the destination and
//     the tasks; after a refusal nothing changes; a task already in the
//     destination causes no callback.
//   - cancel-attach: when a later subsystem refuses an attach the
//     subsystem agreed to, it gets CancelAttach exactly once and no Attach,
//     and every file reads as before (what CanAttach reserved, CancelAttach
//     releases); a subsystem that refused gets no CancelAttach; a subsystem
//     that implements AttachCanceler must implement CanAttacher.
//   - fork-exit: every task gets exactly one Fork and, when it exits,
//     exactly one Exit after it (also while the subsystem is not mounted);
//     once all have exited every file reads as before and their container
//     can be removed.
//   - clone: System.Clone makes the child, then PostClone, then the attach;
//     if the attach is refused, the child is destroyed and nothing changes;
//     while the subsystem is not mounted Clone does nothing.
//   - write: an empty write succeeds and changes nothing; one longer than
//     the file's MaxWriteSize gives E2BIG; a file without a writer gives
//     EINVAL; garbage may be accepted, but a write that fails returns an
//     error wrapping a unix.Errno and changes no file of any container; no
//     input makes a handler panic.
//
// A callback that calls a mutating method of the System deadlocks, as the
// containers package documents; the kit cannot recover from that, and go
// test's -timeout reports it with every goroutine's stack.
//
// The package imports only the standard library and the containers
// package. Check, Run and Interfaces are safe for concurrent use.
package subsystemtest
