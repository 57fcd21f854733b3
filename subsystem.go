package containers

// MaxSubsystems is the number of subsystems one System can hold. New refuses
// more. A css_group keeps one slot per subsystem, so the limit keeps the
// group key a fixed-size array that Go's map hashes directly.
const MaxSubsystems = 16

// MaxNamedHierarchies is the number of hierarchies without subsystems
// ("none,name=N") that can be alive at once. Mount refuses more with ENOSPC.
const MaxNamedHierarchies = 8

// A Subsystem is a resource controller plugged into the framework (the
// kernel's cgroup_subsys). Only Name, Create and Destroy are required; the
// other callbacks are optional interfaces (CanAttacher, AttachCanceler,
// Attacher, Forker, Exiter, PostCloner, Binder, FileProvider), detected once
// by New.
//
// Callbacks run with the System's structure lock held, where the kernel holds
// cgroup_mutex, except Fork, Exit and file reads, which run without it. A
// callback must not call the System's mutating methods (Mount, Mkdir, Rmdir,
// Attach, Clone, WriteFile, ...): they would deadlock. It may call the read
// methods (Container.Parent, Children, Path, State, Task.Container, ...),
// which take no lock that the callback holds.
//
// A Subsystem value must be comparable (normally a pointer), because
// Container.State and Task.State find it by ==.
type Subsystem interface {
	// Name is the subsystem's name: 1 to 32 bytes of [a-z0-9_], unique in
	// the System. Control files get the prefix Name()+"." unless the
	// hierarchy is mounted noprefix.
	Name() string

	// Create returns the state of a new container c (the kernel's
	// create/css_alloc). At New it is called once with the root of the
	// invisible dummy hierarchy (c.Parent() == nil): its result is the
	// subsystem's root state, which lives as long as the System and moves
	// between hierarchies on mount and unmount. The returned State must be
	// a new value that embeds CSS; an error is returned to the caller of
	// Mkdir or Clone wrapped in a SubsystemError, and nothing of the new
	// container is left (Destroy is called for the subsystems whose Create
	// already succeeded).
	Create(c *Container) (State, error)

	// Destroy releases the state of a container that is being removed, or
	// whose creation failed after this subsystem's Create succeeded. It is
	// called exactly once per successful Create of a non-root container, and
	// never for a root state.
	Destroy(c *Container, s State)
}

// A CanAttacher may refuse to let tasks move into a container (the kernel's
// can_attach). CanAttach must not change anything that CancelAttach or
// Attach would not undo or complete: a later subsystem may still refuse.
// Its error, normally a unix.Errno, is returned to the caller of Attach
// wrapped in a SubsystemError.
type CanAttacher interface {
	CanAttach(ac *AttachContext) error
}

// An AttachCanceler is told that a move it accepted in CanAttach will not
// happen, because a later subsystem refused it or a task exited meanwhile.
// Subsystems whose CanAttach reserves something implement it. Cancels run in
// the reverse order of the CanAttach calls.
type AttachCanceler interface {
	CancelAttach(ac *AttachContext)
}

// An Attacher is told that tasks have moved into a container (the kernel's
// attach). It cannot fail: the move is already done.
type Attacher interface {
	Attach(ac *AttachContext)
}

// A Forker is told of every new task, whether the subsystem is mounted or
// not (the kernel's fork callback), in subsystem ID order. The task is
// already in its parent's containers (their Tasks list it), but not yet
// visible to lookups by ID. Fork runs without the structure lock and cannot
// fail. For a new thread (ForkThread) it runs under its process's
// thread-group lock, which a whole-process attach waits for while holding
// the structure lock: like every callback, Fork must not call the System's
// mutating methods.
type Forker interface {
	Fork(t *Task)
}

// An Exiter is told when a task exits, before it leaves its containers, in
// subsystem ID order. Exit runs without the structure lock.
type Exiter interface {
	Exit(t *Task)
}

// A PostCloner is called by System.Clone on the container it just created,
// before the task is attached to it (the kernel's post_clone).
type PostCloner interface {
	PostClone(c *Container)
}

// A Binder is told when its root state moves to another hierarchy: at
// mount or remount into the new hierarchy's root, at unmount or remount back
// into the root of the invisible dummy hierarchy.
type Binder interface {
	Bind(root *Container)
}

// A FileProvider has control files. Files is called once, by New.
type FileProvider interface {
	Files() []File
}

// State is the per-container state of a subsystem (the kernel's
// cgroup_subsys_state). It is implemented only by embedding CSS in the
// subsystem's own struct:
//
//	type myState struct {
//		containers.CSS
//		limit atomic.Int64
//	}
type State interface {
	css() *CSS
}
