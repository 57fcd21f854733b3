package subsystemtest

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"

	"github.com/taskcontainers/containers"
)

// The scenarios, one per rule. Each runs on its env after start has
// registered the subsystem and mounted the hierarchy.

// ruleRegister: New accepted the subsystem (start checked that); its name
// is stable; its root state was created with the dummy root; the root of
// the mounted hierarchy has its state.
func (e *env) ruleRegister() {
	var again string
	if e.safely("Name()", func() { again = e.inner.Name() }) && again != e.name {
		e.fail("Name() returned %q, then %q: the name must not change", e.name, again)
	}
	var roots int
	for _, ev := range e.rec.snapshot() {
		if ev.ss == e.name && ev.kind == evCreate && ev.c.Parent() == nil {
			roots++
		}
	}
	if roots != 1 {
		e.fail("Create was called %d times for a root at New, want once", roots)
	}
	if e.h.Root().State(e.inner) == nil {
		e.fail("the root of the mounted hierarchy has no state of the subsystem, looked up by the subsystem's own value")
	}
}

// checkFileTable checks the subsystem's files as Files returned them: a
// valid name (1 to 64 bytes, none of "/", NUL and newline, neither "." nor
// "..", not a core file's name, with or without the prefix), unique, one
// reader, at most one writer, not both RootOnly and ChildOnly, and a
// MaxWriteSize that is not negative.
func (e *env) checkFileTable() {
	seen := map[string]bool{}
	for i, f := range e.files {
		what := fmt.Sprintf("file %d (%q)", i, f.Name)
		var bad []string
		switch {
		case f.Name == "":
			bad = append(bad, "the name is empty")
		case len(f.Name) > 64:
			bad = append(bad, "the name is longer than 64 bytes")
		case strings.ContainsAny(f.Name, "/\x00\n"):
			bad = append(bad, "the name contains \"/\", NUL or a newline")
		case f.Name == "." || f.Name == "..":
			bad = append(bad, "the name is \".\" or \"..\"")
		case isCoreFile(f.Name) || isCoreFile(e.name+"."+f.Name):
			bad = append(bad, "the name is that of a core file")
		case seen[f.Name]:
			bad = append(bad, "the name is used by another file")
		}
		seen[f.Name] = true
		readers := countTrue(f.ReadUint != nil, f.ReadInt != nil, f.Read != nil)
		writers := countTrue(f.WriteUint != nil, f.WriteInt != nil, f.Write != nil)
		if readers != 1 {
			bad = append(bad, fmt.Sprintf("it has %d readers, want exactly one of ReadUint, ReadInt and Read", readers))
		}
		if writers > 1 {
			bad = append(bad, fmt.Sprintf("it has %d writers, want at most one of WriteUint, WriteInt and Write", writers))
		}
		if f.RootOnly && f.ChildOnly {
			bad = append(bad, "it is both RootOnly and ChildOnly")
		}
		if f.MaxWriteSize < 0 {
			bad = append(bad, "its MaxWriteSize is negative")
		}
		for _, b := range bad {
			e.failRule(RuleFiles, "%s: %s", what, b)
		}
	}
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// ruleFiles: the file table is valid, and each container lists exactly
// the subsystem's files meant for it (RootOnly, ChildOnly), prefixed, with
// mode 0644 for a file with a writer and 0444 otherwise.
func (e *env) ruleFiles() {
	e.checkFileTable()
	a := e.mkdir(e.h.Root(), "a", false)
	b := e.mkdir(a, "b", false)
	for _, c := range []*containers.Container{e.h.Root(), a, b} {
		if c == nil {
			continue
		}
		want := map[string]fs.FileMode{}
		for _, f := range e.files {
			if c.IsRoot() && f.ChildOnly || !c.IsRoot() && f.RootOnly {
				continue
			}
			mode := fs.FileMode(0o444)
			if f.WriteUint != nil || f.WriteInt != nil || f.Write != nil {
				mode = 0o644
			}
			want[e.name+"."+f.Name] = mode
		}
		got := map[string]fs.FileMode{}
		for _, fi := range c.Files() {
			if strings.HasPrefix(fi.Name, e.name+".") && !isCoreFile(fi.Name) {
				got[fi.Name] = fi.Mode
			}
		}
		for name, mode := range want {
			switch m, ok := got[name]; {
			case !ok:
				e.fail("%s does not list %s", c.Path(), name)
			case m != mode:
				e.fail("%s lists %s with mode %v, want %v", c.Path(), name, m, mode)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				e.fail("%s lists %s, which is not meant for it", c.Path(), name)
			}
		}
	}
}

// ruleRead: every file reads without error in the root, a child and a
// grandchild, with no caller and as a live task; as an exited task it may
// fail, with an errno, but not panic; and reads running concurrently with
// attaches, forks, exits and writes see no error either (run the tests
// with -race to catch unsynchronised state).
func (e *env) ruleRead() {
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	b := e.mkdir(a, "b", true)
	t1 := e.newTask()
	t2 := e.fork(t1, false)
	e.attach(a, t1, false)
	e.attach(b, t2, false)
	t3 := e.fork(t1, false)
	e.exit(t3)
	for _, c := range []*containers.Container{root, a, b} {
		e.readAll(c, nil, false)
		e.readAll(c, t1, false)
		e.readAll(c, t2, false)
		e.readAll(c, t3, true)
	}

	// Concurrent readers. Their failures are collected and reported here.
	var (
		mu       sync.Mutex
		failures []string
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for _, c := range []*containers.Container{root, a, b} {
		if c == nil {
			continue
		}
		names := e.ownFiles(c)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, name := range names {
					func() {
						defer func() {
							if v := recover(); v != nil {
								mu.Lock()
								failures = append(failures, fmt.Sprintf("panic in a concurrent read of %s in %s: %v", name, c.Path(), v))
								mu.Unlock()
							}
						}()
						if _, err := c.ReadFile(name); err != nil && !panicked(err) && !errors.Is(err, syscall.ENODEV) {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("concurrent read of %s in %s: %v", name, c.Path(), err))
							mu.Unlock()
						}
					}()
				}
			}
		})
	}
	for range 3 {
		t := e.fork(t1, false)
		e.attach(b, t, false)
		e.attach(a, t, false)
		e.writeValid(a)
		e.exit(t)
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		e.fail("%s", f)
	}

	// The root state survives unmounting and mounting again.
	e.attach(root, t1, false)
	e.attach(root, t2, false)
	e.rmdir(b, "after its tasks left")
	e.rmdir(a, "after its tasks left")
	if err := e.do("unmount", e.h.Unmount); err != nil && !panicked(err) {
		e.fail("unmount: %v", err)
	}
	if e.mount() {
		e.readAll(e.h.Root(), nil, false)
		e.readAll(e.h.Root(), t1, false)
	}
}

// writeValid writes each writable file of the subsystem in c with what it
// reads back, which most files accept; errors are not reported (the write
// rule checks them), only panics.
func (e *env) writeValid(c *containers.Container) {
	if c == nil {
		return
	}
	for _, name := range e.ownFiles(c) {
		var data []byte
		if err := e.do("read of "+name+" in "+c.Path(), func() (err error) {
			data, err = c.ReadFile(name)
			return err
		}); err != nil {
			continue
		}
		e.do("write of "+name+" in "+c.Path(), func() error { return c.WriteFile(name, data) })
	}
}

// ruleCreateDestroy: mkdir (nested too) succeeds; a mkdir that a later
// subsystem refuses, so that the subsystem's Create is undone by Destroy,
// changes nothing; each container removed gets exactly one Destroy with the
// state its Create returned, and its removal is not blocked by references
// the subsystem took; mkdir then rmdir leaves every file as it was; and all
// of it again across unmount, mount and remount (Bind).
func (e *env) ruleCreateDestroy() {
	root := e.h.Root()
	start := e.stable()
	a := e.mkdir(root, "a", true)
	b := e.mkdir(a, "b", true)
	c := e.mkdir(a, "c", true)
	if a != nil {
		before := e.stable()
		e.ref.refuseCreate.Store(true)
		err := e.do("mkdir /a/refused", func() error {
			_, err := a.Mkdir("refused")
			return err
		})
		e.ref.refuseCreate.Store(false)
		var se *containers.SubsystemError
		switch {
		case err == nil:
			e.fail("mkdir /a/refused succeeded although a later subsystem's Create refused")
		case panicked(err):
		case errors.As(err, &se) && se.Subsystem == e.name:
			e.fail("mkdir /a/refused: the subsystem's Create failed: %v", err)
		case errors.As(err, &se) && se.Subsystem == e.ref.name:
			e.compare(before, "a mkdir of /a/refused that a later subsystem refused (Create, then Destroy)")
		default:
			e.fail("mkdir /a/refused: %v", err)
		}
		if _, err := a.Child("refused"); err == nil {
			e.fail("the refused mkdir left /a/refused")
		}
	}
	e.rmdir(c, "(empty)")
	e.rmdir(b, "(empty)")
	e.rmdir(a, "(empty)")
	e.compare(start, "mkdir of /a, /a/b and /a/c, then rmdir of them,")

	// Unmount: the subsystem goes back to the dummy hierarchy.
	if err := e.do("unmount", e.h.Unmount); err != nil && !panicked(err) {
		e.fail("unmount: %v", err)
	}
	t := e.newTask() // forked while unbound
	if !e.mount() {
		return
	}
	root = e.h.Root()
	d := e.mkdir(root, "d", true)
	e.attach(d, t, false)
	e.attach(root, t, false)
	e.rmdir(d, "after its task left")

	// Remount without the subsystem and with it again.
	if err := e.do("remount without the subsystem", func() error {
		return e.h.Remount(containers.Options{Subsystems: []string{e.ref.name}})
	}); err != nil && !panicked(err) {
		e.fail("remount without the subsystem: %v", err)
	}
	if err := e.do("remount with the subsystem", func() error {
		return e.h.Remount(containers.Options{Subsystems: []string{e.name, e.ref.name}})
	}); err != nil && !panicked(err) {
		e.fail("remount with the subsystem: %v", err)
		return
	}
	e.readAll(root, nil, false)

	// Unmount with a container left: the hierarchy lives on, and mounting
	// again finds it.
	f := e.mkdir(root, "f", true)
	h := e.h
	if err := e.do("unmount", e.h.Unmount); err != nil && !panicked(err) {
		e.fail("unmount: %v", err)
	}
	if !e.mount() {
		return
	}
	if e.h != h {
		e.fail("mounting again after an unmount with /f left made a new hierarchy")
	}
	e.readAll(f, nil, false)
	e.rmdir(f, "(empty)")
	e.checkLifecycle()
}

// ruleAfterDestroy: after rmdir, the removed container's files give
// ENODEV, an attach to it ENODEV, a mkdir in it ENOENT, and none of it
// reaches the subsystem; no callback or handler names the container or its
// state after Destroy, through attaches, forks, exits, clones and a new
// container of the same name.
func (e *env) ruleAfterDestroy() {
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	if a == nil {
		return
	}
	x := e.mkdir(a, "x", true)
	t := e.newTask()
	e.attach(a, t, false)
	e.readAll(a, t, false)
	e.attach(root, t, false)
	e.rmdir(x, "(empty)")
	files := e.ownFiles(a)
	if !e.rmdir(a, "after its task left") {
		return
	}
	for _, name := range files {
		err := e.do("read of "+name+" in removed /a", func() error {
			_, err := a.ReadFile(name)
			return err
		})
		if !errors.Is(err, syscall.ENODEV) && !panicked(err) {
			e.fail("read of %s in removed /a: got %v, want ENODEV", name, err)
		}
		err = e.do("write of "+name+" in removed /a", func() error { return a.WriteFile(name, []byte("0\n")) })
		if !errors.Is(err, syscall.ENODEV) && !panicked(err) {
			e.fail("write of %s in removed /a: got %v, want ENODEV", name, err)
		}
	}
	if err := e.attach(a, t, false); !errors.Is(err, syscall.ENODEV) && !panicked(err) {
		e.fail("attach to removed /a: got %v, want ENODEV", err)
	}
	err := e.do("mkdir in removed /a", func() error {
		_, err := a.Mkdir("y")
		return err
	})
	if !errors.Is(err, syscall.ENOENT) && !panicked(err) {
		e.fail("mkdir in removed /a: got %v, want ENOENT", err)
	}
	t2 := e.fork(t, false)
	e.exit(t2)
	a2 := e.mkdir(root, "a", true)
	e.attach(a2, t, false)
	e.readAll(a2, t, false)
	e.attach(root, t, false)
	e.rmdir(a2, "after its task left")
	e.checkLifecycle()
}

// attachOutcome checks an attach's result: a success moved the tasks (as
// attach checks), a refusal by the subsystem is legitimate if it wraps an
// errno and changed nothing, anything else is a violation.
func (e *env) attachOutcome(err error, what string, moving []*containers.Task, was []*containers.Container, before snapshot) {
	switch {
	case err == nil || panicked(err):
	case refusedBy(err) == e.name:
		e.checkRefusal(err, what, moving, was, before)
	default:
		e.fail("%s: %v", what, err)
	}
}

// tryAttach attaches and checks the outcome with attachOutcome.
func (e *env) tryAttach(dst *containers.Container, t *containers.Task, process bool) {
	if dst == nil || t == nil {
		return
	}
	moving := e.moving(dst, t, process)
	was := e.containersOf(moving)
	before := e.stable()
	what := fmt.Sprintf("attach of task %s to %s", t, dst.Path())
	if process {
		what = fmt.Sprintf("attach of the process of task %s to %s", t, dst.Path())
	}
	e.attachOutcome(e.attach(dst, t, process), what, moving, was, before)
}

// ruleAttach: attaching tasks, threads and whole processes to prepared
// containers (Options.Setup) and to one that was not prepared, and back to
// the root. The subsystem may refuse (its error must wrap an errno, and
// then nothing may change: CanAttach must leave the work to Attach); if it
// accepts, the tasks move and it gets Attach exactly once, after
// CanAttach, with the destination and the tasks; an attach of a task
// already there calls nothing.
func (e *env) ruleAttach() {
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	b := e.mkdir(a, "b", true)
	n := e.mkdir(root, "n", false)
	t1 := e.newTask()
	t2 := e.fork(t1, false)
	t3 := e.fork(t1, true)
	e.tryAttach(a, t1, false)
	e.tryAttach(a, t1, false) // already there, if accepted
	e.tryAttach(b, t1, true)
	e.tryAttach(b, t2, false)
	e.tryAttach(n, t2, false)
	e.tryAttach(n, t3, false)
	e.tryAttach(root, t1, true)
	e.tryAttach(root, t2, false)
	e.rmdir(b, "after its tasks left")
	e.rmdir(a, "after its tasks left")
	e.rmdir(n, "after its tasks left")
	e.checkAttachOps()
	e.checkLifecycle()
	if e.accepted == 0 {
		e.note("the subsystem refused every attach, so Attach was never exercised; Options.Setup can prepare containers to accept tasks")
	}
}

// ruleCancelAttach: a later subsystem refuses attaches (of a task, of a
// process) that the subsystem under test accepted; it must get
// CancelAttach exactly once and no Attach, and every file must read as
// before (what CanAttach reserved, CancelAttach releases). A subsystem
// that refuses itself gets no CancelAttach. Implementing AttachCanceler
// without CanAttacher is a violation: the framework counts a missing
// CanAttach as agreement, so CancelAttach would come for attaches the
// subsystem never saw.
func (e *env) ruleCancelAttach() {
	_, can := e.inner.(containers.CanAttacher)
	_, cancel := e.inner.(containers.AttachCanceler)
	if cancel && !can {
		e.fail("the subsystem implements AttachCanceler but not CanAttacher: CancelAttach would be called for attaches it never accepted")
	}
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	t1 := e.newTask()
	e.fork(t1, true)
	refused := func(dst *containers.Container, t *containers.Task, process bool) {
		if dst == nil || t == nil {
			return
		}
		moving := e.moving(dst, t, process)
		if len(moving) == 0 {
			return // already there: nothing to refuse
		}
		was := e.containersOf(moving)
		before := e.stable()
		what := fmt.Sprintf("attach of task %s to %s", t, dst.Path())
		e.ref.refuseAttach.Store(true)
		err := e.attach(dst, t, process)
		e.ref.refuseAttach.Store(false)
		switch by := refusedBy(err); {
		case err == nil:
			e.fail("%s succeeded although a later subsystem refused", what)
		case panicked(err):
		case by == e.ref.name:
			e.checkRefusal(err, what, moving, was, before)
		case by == e.name:
			e.checkRefusal(err, what, moving, was, before)
		default:
			e.fail("%s: %v", what, err)
		}
	}
	refused(a, t1, false)
	refused(a, t1, true)
	// Now from a container other than the root.
	e.tryAttach(a, t1, true)
	refused(root, t1, false)
	refused(root, t1, true)
	e.tryAttach(root, t1, true)
	e.rmdir(a, "after its tasks left")
	e.checkAttachOps()
	cancels := 0
	for _, ev := range e.rec.snapshot() {
		if ev.ss == e.name && ev.kind == evCancelAttach {
			cancels++
		}
	}
	if cancels == 0 {
		e.note("the subsystem refused every attach itself, so CancelAttach was never exercised; Options.Setup can prepare containers to accept tasks")
	}
}

// ruleForkExit: tasks are made (NewTask), forked as processes and
// threads inside a container, and exit; also while the subsystem is not
// mounted. Each gets exactly one Fork and, when it exits, exactly one
// Exit, after it; when they have all exited every file reads as before
// they were made, and their container can be removed (a reference taken
// in Fork or Attach was dropped).
func (e *env) ruleForkExit() {
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	base := e.stable()
	t1 := e.newTask()
	e.attach(a, t1, false)
	t2 := e.fork(t1, false)
	t3 := e.fork(t1, true)
	t4 := e.fork(t2, false)
	t5 := e.fork(t3, true)
	e.snap()
	e.exit(t5)
	e.exit(t4)
	e.exit(t3)
	e.exit(t2)
	if t2 != nil {
		err := e.do("second Exit(task "+t2.String()+")", func() error { return e.sys.Exit(t2) })
		if !errors.Is(err, syscall.ESRCH) && !panicked(err) {
			e.fail("second Exit of task %s: got %v, want ESRCH", t2, err)
		}
	}
	e.exit(t1)
	e.compare(base, "tasks that were made, forked and exited")
	e.rmdir(a, "after all its tasks exited")

	if err := e.do("unmount", e.h.Unmount); err != nil && !panicked(err) {
		e.fail("unmount: %v", err)
	}
	t6 := e.newTask()
	t7 := e.fork(t6, false)
	e.exit(t7)
	e.exit(t6)
	e.checkForkExit()
}

// ruleClone: System.Clone makes a child of the task's container, then
// PostClone, then the attach; all or nothing. A Clone the subsystem
// refuses (its Create or CanAttach) is legitimate if it changes nothing; a
// Clone whose attach a later subsystem refuses must leave nothing behind
// (Destroy after PostClone and CancelAttach) and change no file; a Clone
// while the subsystem is not mounted does nothing.
func (e *env) ruleClone() {
	root := e.h.Root()
	t := e.newTask()
	clone := func(name string, refuse bool) *containers.Container {
		if t == nil {
			return nil
		}
		parent := t.Container(e.h)
		before := e.stable()
		op := &opInfo{clone: true, task: t, moving: []*containers.Task{t},
			what: fmt.Sprintf("Clone(task %s, %q) under %s", t, name, parent.Path())}
		var c *containers.Container
		e.ref.refuseAttach.Store(refuse)
		op.err = e.do(op.what, func() (err error) {
			c, err = e.sys.Clone(t, e.name, name)
			return err
		})
		e.ref.refuseAttach.Store(false)
		op.n = e.lastOp
		e.ops = append(e.ops, op)
		full := name
		if full == "" {
			full = "node_" + t.String()
		}
		var se *containers.SubsystemError
		switch {
		case op.err == nil && c == nil:
			e.fail("%s returned no container and no error although the subsystem is mounted", op.what)
		case op.err == nil:
			if refuse {
				e.fail("%s succeeded although a later subsystem refused the attach", op.what)
			}
			if c.Name() != full || c.Parent() != parent {
				e.fail("%s made %s, want %s", op.what, c.Path(), joinPath(parent.Path(), full))
			}
			if got := t.Container(e.h); got != c {
				e.fail("%s: the task is in %s, not in the new container", op.what, got.Path())
			}
			return c
		case panicked(op.err):
		case errors.As(op.err, &se) && (se.Subsystem == e.name || refuse && se.Subsystem == e.ref.name):
			if se.Subsystem == e.name && !isErrno(op.err) {
				e.fail("%s was refused with %v, which does not wrap a unix.Errno", op.what, op.err)
			}
			if _, err := parent.Child(full); err == nil {
				e.fail("%s failed (%v) but left %s", op.what, op.err, joinPath(parent.Path(), full))
			}
			if got := t.Container(e.h); got != parent {
				e.fail("%s failed (%v), but the task moved to %s", op.what, op.err, got.Path())
			}
			e.compare(before, op.what+", which failed,")
		default:
			e.fail("%s: %v", op.what, op.err)
		}
		return nil
	}
	c1 := clone("", false)
	e.attach(root, t, false)
	e.rmdir(c1, "after its task left")
	clone("refused", true)
	a := e.mkdir(root, "a", true)
	e.attach(a, t, false)
	c2 := clone("nested", false)
	e.attach(root, t, false)
	e.rmdir(c2, "after its task left")
	e.rmdir(a, "after its task left")
	e.checkCloneOps()
	e.checkAttachOps()
	e.checkLifecycle()

	if err := e.do("unmount", e.h.Unmount); err != nil && !panicked(err) {
		e.fail("unmount: %v", err)
		return
	}
	if t == nil {
		return
	}
	var c *containers.Container
	err := e.do("Clone while not mounted", func() (err error) {
		c, err = e.sys.Clone(t, e.name, "")
		return err
	})
	if (err != nil || c != nil) && !panicked(err) {
		e.fail("Clone while the subsystem is not mounted: got %v, %v; want nothing done", c, err)
	}
}

// garbage are writes that most files should refuse, and numbers at the
// edges of common ranges; a file may accept some (a number, a name, a
// path), and then the kit just goes on from the new content.
var garbage = []string{
	"0", "1\n", "65536", "4294967296", "9223372036854775807", "18446744073709551615",
	"garbage", "garbage\n", "-1", "-1\n", "+-1", "--1", "0x", "0xg", "1 2", "1\n2\n", " 1", "1 ",
	"18446744073709551616", "-9223372036854775809", "99999999999999999999999999999",
	"1-", "-", ",", "1,,2", "3-1", "0-", "\n", "\n\n", "\t", " ", "\x00", "1\x00", "\xff\xfe\xfd",
	"0b1", "0o7", "1_0", "1e3", "NaN", "inf", "/", "../..", "%s%n", "\u00e9",
}

// ruleWrite: every file of the subsystem in the root, a child (with a
// task) and a grandchild gets an empty write (which must succeed and change
// nothing), an oversized one (MaxWriteSize+1 bytes: E2BIG), garbage of
// every kind, including a write of exactly MaxWriteSize bytes, and, if it
// has no writer, a plain number (EINVAL). A failed write must return an
// error wrapping a unix.Errno and leave every file of every container as
// it was; no input may make a handler panic.
func (e *env) ruleWrite() {
	root := e.h.Root()
	a := e.mkdir(root, "a", true)
	b := e.mkdir(a, "b", true)
	t := e.newTask()
	e.attach(a, t, false)
	for _, c := range []*containers.Container{root, a, b} {
		if c == nil {
			continue
		}
		for _, name := range e.ownFiles(c) {
			f := e.file(name)
			limit := f.MaxWriteSize
			if limit == 0 {
				limit = containers.DefaultMaxWriteSize
			}
			writable := f.WriteUint != nil || f.WriteInt != nil || f.Write != nil
			inputs := []string{""}
			inputs = append(inputs, strings.Repeat("1", limit+1))
			if writable {
				inputs = append(inputs, garbage...)
				inputs = append(inputs, strings.Repeat("9", limit), strings.Repeat("x", limit))
			} else {
				inputs = append(inputs, "0\n", "1")
			}
			for _, in := range inputs {
				e.tryWrite(c, name, []byte(in), limit, writable)
			}
		}
	}
}

// file returns the subsystem's file named name (with prefix).
func (e *env) file(name string) containers.File {
	short := strings.TrimPrefix(name, e.name+".")
	for _, f := range e.files {
		if f.Name == short {
			return f
		}
	}
	return containers.File{}
}

// tryWrite writes data to c's file name and checks the rules of writes.
func (e *env) tryWrite(c *containers.Container, name string, data []byte, limit int, writable bool) {
	what := fmt.Sprintf("write of %s to %s in %s", quote(data), name, c.Path())
	before := e.stable()
	err := e.do(what, func() error { return c.WriteFile(name, data) })
	switch {
	case len(data) == 0:
		if err != nil && !panicked(err) {
			e.fail("%s: %v; an empty write must succeed and do nothing", what, err)
		}
		e.compare(before, "an empty "+what+",")
		return
	case len(data) > limit:
		if !errors.Is(err, syscall.E2BIG) && !panicked(err) {
			e.fail("%s: got %v, want E2BIG", what, err)
		}
	case !writable:
		if !errors.Is(err, syscall.EINVAL) && !panicked(err) {
			e.fail("%s, which has no writer: got %v, want EINVAL", what, err)
		}
	case err == nil:
		return // accepted: the file's new content is the new baseline
	case panicked(err):
	case !isErrno(err):
		e.fail("%s failed with %v, which does not wrap a unix.Errno", what, err)
	}
	e.compare(before, what+", which failed,")
}
