package subsystemtest

import (
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// The fakes. core is a well-behaved subsystem in the manner of a cpuset:
// a container accepts tasks only once its "limit" is set (Options.Setup
// writes it), CanAttach reserves, CancelAttach releases, Attach commits; it
// counts the tasks of each container through Fork, Exit and Attach. A bug
// set turns one rule-breaking behaviour on. It keeps its states in a map
// of its own rather than calling Container.State, so that it works whether
// or not the kit can wrap it transparently.
//
// Variants by method set: core has no CanAttach or CancelAttach; good
// (the correct fake) has both; noCancel has CanAttach only; cancelOnly
// has CancelAttach only.

type bug string

const (
	bugNone            bug = ""
	bugCreateLeaksRef  bug = "create takes a reference it never drops"
	bugCountsCreates   bug = "Destroy does not undo Create's count"
	bugReusesState     bug = "Create returns the same state twice"
	bugCanAttachMoves  bug = "CanAttach does Attach's work"
	bugRefuseNonErrno  bug = "CanAttach refuses with a non-errno error"
	bugExitPanics      bug = "Exit panics"
	bugForkRef         bug = "Fork takes a reference Exit never drops"
	bugExitNoCount     bug = "Exit does not uncount the task"
	bugBadFileName     bug = "a file name with a slash"
	bugDupFile         bug = "two files with one name"
	bugTwoReaders      bug = "a file with two readers"
	bugReadError       bug = "a file whose read fails"
	bugReadPanics      bug = "a file whose read panics"
	bugGarbagePanics   bug = "a write handler that panics on garbage"
	bugWriteHalfway    bug = "a write that fails after changing state"
	bugWriteNonErrno   bug = "a write that fails with a non-errno error"
	bugBadName         bug = "an invalid subsystem name"
	bugPostClonePanics bug = "PostClone panics"
	bugCreateFails     bug = "Create fails for children"
)

type core struct {
	bug  bug
	name string

	mu       sync.Mutex // guards everything below
	states   map[*containers.Container]*fakeState
	h        *containers.Hierarchy // where the subsystem is bound
	reserved int                   // CanAttach reservations not yet settled
	created  int                   // Creates of children minus Destroys
	taskIn   map[*containers.Task]*fakeState
	shared   *fakeState // bugReusesState
}

type fakeState struct {
	containers.CSS
	limit uint64
	label string
	tasks int64
}

func newCore(b bug) *core {
	name := "fake"
	if b == bugBadName {
		name = "Bad-Name"
	}
	return &core{bug: b, name: name, states: map[*containers.Container]*fakeState{}, taskIn: map[*containers.Task]*fakeState{}}
}

func (f *core) Name() string { return f.name }

func (f *core) Create(c *containers.Container) (containers.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Parent() == nil {
		s := &fakeState{}
		f.states[c] = s
		f.h = c.Hierarchy()
		return s, nil
	}
	if f.bug == bugCreateFails {
		return nil, unix.ENOMEM
	}
	if f.bug == bugReusesState {
		if f.shared == nil {
			f.shared = &fakeState{}
		}
		f.states[c] = f.shared
		return f.shared, nil
	}
	s := &fakeState{}
	if f.bug == bugCreateLeaksRef {
		s.Get()
	}
	f.states[c] = s
	f.created++
	return s, nil
}

func (f *core) Destroy(c *containers.Container, s containers.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.states, c)
	if f.bug != bugCountsCreates {
		f.created--
	}
}

// state returns the state of c, or of the root if c is unknown (a root
// after a remount, whose state is the same root state).
func (f *core) stateLocked(c *containers.Container) *fakeState {
	if s := f.states[c]; s != nil {
		return s
	}
	for k, s := range f.states {
		if k.Parent() == nil {
			f.states[c] = s
			return s
		}
	}
	return nil
}

func (f *core) Bind(root *containers.Container) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.h = root.Hierarchy()
	f.stateLocked(root)
}

func (f *core) canAttach(ac *containers.AttachContext) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst := f.stateLocked(ac.Container())
	if dst.limit == 0 && !ac.Container().IsRoot() {
		if f.bug == bugRefuseNonErrno {
			return errors.New("no limit set")
		}
		if f.bug == bugCanAttachMoves {
			dst.tasks += int64(ac.Len())
		}
		return unix.ENOSPC
	}
	f.reserved += ac.Len()
	return nil
}

func (f *core) cancelAttach(ac *containers.AttachContext) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reserved -= ac.Len()
}

func (f *core) Attach(ac *containers.AttachContext) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dst := f.stateLocked(ac.Container())
	for t := range ac.All() {
		if old := f.taskIn[t]; old != nil {
			old.tasks--
		}
		dst.tasks++
		f.taskIn[t] = dst
	}
	f.reserved -= ac.Len()
	if f.reserved < 0 { // a subsystem without CanAttach reserved nothing
		f.reserved = 0
	}
}

func (f *core) Fork(t *containers.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stateLocked(t.Container(f.h))
	s.tasks++
	f.taskIn[t] = s
	if f.bug == bugForkRef {
		s.Get()
	}
}

func (f *core) Exit(t *containers.Task) {
	if f.bug == bugExitPanics {
		panic("exit of task " + t.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.taskIn[t]; s != nil && f.bug != bugExitNoCount {
		s.tasks--
	}
	delete(f.taskIn, t)
}

func (f *core) PostClone(c *containers.Container) {
	if f.bug == bugPostClonePanics {
		panic("post_clone")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stateLocked(c).limit = f.stateLocked(c.Parent()).limit
	if f.stateLocked(c).limit == 0 {
		f.stateLocked(c).limit = 1
	}
}

func (f *core) fileState(fc *containers.FileContext) *fakeState {
	return f.stateLocked(fc.Container)
}

func (f *core) Files() []containers.File {
	files := []containers.File{
		{
			Name: "limit",
			ReadUint: func(fc *containers.FileContext) uint64 {
				f.mu.Lock()
				defer f.mu.Unlock()
				return f.fileState(fc).limit
			},
			WriteUint: func(fc *containers.FileContext, v uint64) error {
				if v > 1000 {
					return unix.EINVAL
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				f.fileState(fc).limit = v
				return nil
			},
			ChildOnly: true,
		},
		{
			Name: "label",
			Read: func(fc *containers.FileContext, w io.Writer) error {
				f.mu.Lock()
				l := f.fileState(fc).label
				f.mu.Unlock()
				if f.bug == bugReadError {
					return unix.EIO
				}
				if f.bug == bugReadPanics && l == "" {
					var s *fakeState
					l = s.label // a nil pointer dereference
				}
				_, err := io.WriteString(w, l+"\n")
				return err
			},
			Write: func(fc *containers.FileContext, data []byte) error {
				f.mu.Lock()
				defer f.mu.Unlock()
				s := f.fileState(fc)
				if f.bug == bugWriteHalfway {
					s.label = string(data)
				}
				if len(data) > 16 {
					return unix.EINVAL
				}
				for _, b := range data {
					if b < 'a' || b > 'z' {
						if f.bug == bugGarbagePanics {
							panic("not a letter: " + strconv.Quote(string(data)))
						}
						if f.bug == bugWriteNonErrno {
							return errors.New("letters only")
						}
						return unix.EINVAL
					}
				}
				s.label = string(data)
				return nil
			},
			MaxWriteSize: 64,
		},
		{
			Name: "ntasks",
			ReadInt: func(fc *containers.FileContext) int64 {
				f.mu.Lock()
				defer f.mu.Unlock()
				return f.fileState(fc).tasks
			},
		},
		{
			Name: "reserved",
			ReadUint: func(fc *containers.FileContext) uint64 {
				f.mu.Lock()
				defer f.mu.Unlock()
				return uint64(f.reserved)
			},
			RootOnly: true,
		},
		{
			Name: "children",
			ReadUint: func(fc *containers.FileContext) uint64 {
				f.mu.Lock()
				defer f.mu.Unlock()
				return uint64(f.created)
			},
			RootOnly: true,
		},
	}
	switch f.bug {
	case bugBadFileName:
		files = append(files, containers.File{Name: "bad/name", ReadUint: files[2].ReadUint})
	case bugDupFile:
		files = append(files, containers.File{Name: "limit", ReadUint: files[0].ReadUint})
	case bugTwoReaders:
		files = append(files, containers.File{Name: "two", ReadUint: files[0].ReadUint, Read: files[1].Read})
	}
	return files
}

// good is the correct fake: CanAttach and CancelAttach too.
type good struct{ *core }

func (g good) CanAttach(ac *containers.AttachContext) error { return g.canAttach(ac) }
func (g good) CancelAttach(ac *containers.AttachContext)    { g.cancelAttach(ac) }

// noCancel reserves in CanAttach but cannot release.
type noCancel struct{ *core }

func (n noCancel) CanAttach(ac *containers.AttachContext) error { return n.canAttach(ac) }

// cancelOnly has CancelAttach without CanAttach.
type cancelOnly struct{ *core }

func (c cancelOnly) CancelAttach(ac *containers.AttachContext) { c.cancelAttach(ac) }

// notComparable is a Subsystem whose value cannot be compared.
type notComparable struct{ _ []string }

func (n notComparable) Name() string { return "nc" }
func (n notComparable) Create(*containers.Container) (containers.State, error) {
	return &fakeState{}, nil
}
func (n notComparable) Destroy(*containers.Container, containers.State) {}

// minimal has only the required methods.
type minimal struct{}

func (*minimal) Name() string { return "minimal" }
func (*minimal) Create(*containers.Container) (containers.State, error) {
	return &fakeState{}, nil
}
func (*minimal) Destroy(*containers.Container, containers.State) {}

// setup prepares a fake's container: a non-zero limit.
func setup(c *containers.Container) error {
	return c.WriteFile("fake.limit", []byte("5\n"))
}

var opts = Options{Setup: setup}
