package subsystemtest

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/taskcontainers/containers"
)

// Event kinds: the callbacks of a subsystem, and its file handlers.
const (
	evCreate       = "Create"
	evDestroy      = "Destroy"
	evCanAttach    = "CanAttach"
	evCancelAttach = "CancelAttach"
	evAttach       = "Attach"
	evFork         = "Fork"
	evExit         = "Exit"
	evPostClone    = "PostClone"
	evBind         = "Bind"
	evRead         = "read handler"
	evWrite        = "write handler"
)

// An event is one callback as a recording subsystem saw it.
type event struct {
	op    int    // the kit's operation during which it happened
	ss    string // the subsystem's name
	kind  string
	c     *containers.Container // the container; for attach callbacks the destination
	state containers.State      // Create's result, Destroy's argument, a file handler's state
	tasks []*containers.Task    // attach callbacks: the tasks that move; Fork, Exit: the task
	err   error                 // Create's and CanAttach's result
	file  string                // file handlers: the file's name without prefix
}

func (ev *event) String() string {
	var b strings.Builder
	b.WriteString(ev.kind)
	if ev.file != "" {
		b.WriteString(" of file " + ev.file)
	}
	if ev.c != nil {
		b.WriteString(" " + describe(ev.c))
	}
	if len(ev.tasks) > 0 {
		b.WriteString(" tasks " + taskList(ev.tasks))
	}
	return b.String()
}

// describe names a container for messages: its path, and "(dummy root)"
// for the root of the invisible hierarchy.
func describe(c *containers.Container) string {
	if c.Parent() == nil && c.Hierarchy().ID() == 0 {
		return "(dummy root)"
	}
	return c.Path()
}

func taskList(ts []*containers.Task) string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.String()
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// errPanicked is returned to the framework in place of a callback's result
// when the callback panicked; the panic itself is reported as a violation.
var errPanicked = fmt.Errorf("subsystemtest: the callback panicked: %w", syscall.EIO)

// A recorder collects the events of the recording subsystems of one
// System, and the panics they recovered. Its methods are safe for
// concurrent use; mu guards every field.
type recorder struct {
	mu      sync.Mutex
	op      int
	events  []event
	panics  []string
	stopped bool // after the kit is done: record nothing more
}

func (r *recorder) add(ev event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	ev.op = r.op
	r.events = append(r.events, ev)
}

// recovered records a panic recovered from what (a callback or handler).
func (r *recorder) recovered(what string, v any) {
	msg := fmt.Sprintf("panic in %s: %v (at %s)", what, v, panicSite())
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.panics = append(r.panics, msg)
}

// takePanics returns the panics recorded so far and forgets them.
func (r *recorder) takePanics() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.panics
	r.panics = nil
	return p
}

// begin starts a new operation of the kit and returns its number.
func (r *recorder) begin() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.op++
	return r.op
}

// snapshot returns a copy of the events so far.
func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func (r *recorder) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// panicSite returns the function and line that panicked, found in the
// stack of the deferred function that recovered it.
func panicSite() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	after := false
	for {
		f, more := frames.Next()
		if after && !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s, %s:%d", f.Function, filepath.Base(f.File), f.Line)
		}
		if f.Function == "runtime.gopanic" {
			after = true
		}
		if !more {
			return "unknown location"
		}
	}
}

// A wrapper is the subsystem the kit registers in place of the one under
// test: it forwards every callback and file handler to it, records the
// sequence and recovers panics, so that a panicking callback never unwinds
// through the framework with its locks held.
//
// The wrapper implements every optional interface and forwards a callback
// only if the wrapped subsystem implements it; a callback the wrapped one
// lacks behaves as the framework treats a missing one (CanAttach accepts,
// the others do nothing, no files), so the difference cannot be observed
// except by timing. Its Name is the wrapped one's, so file names and the
// refusing subsystem named in errors are unchanged, and Unwrap returns the
// wrapped subsystem so that the framework's state lookups by the wrapped
// value (Container.State, Task.State) can find it.
type wrapper struct {
	inner containers.Subsystem
	name  string
	rec   *recorder

	canAttach    containers.CanAttacher
	cancelAttach containers.AttachCanceler
	attach       containers.Attacher
	fork         containers.Forker
	exit         containers.Exiter
	postClone    containers.PostCloner
	bind         containers.Binder
	files        containers.FileProvider

	mu       sync.Mutex        // guards captured
	captured []containers.File // the wrapped subsystem's files, as Files returned them
}

var (
	_ containers.Subsystem      = (*wrapper)(nil)
	_ containers.CanAttacher    = (*wrapper)(nil)
	_ containers.AttachCanceler = (*wrapper)(nil)
	_ containers.Attacher       = (*wrapper)(nil)
	_ containers.Forker         = (*wrapper)(nil)
	_ containers.Exiter         = (*wrapper)(nil)
	_ containers.PostCloner     = (*wrapper)(nil)
	_ containers.Binder         = (*wrapper)(nil)
	_ containers.FileProvider   = (*wrapper)(nil)
)

func newWrapper(inner containers.Subsystem, name string, rec *recorder) *wrapper {
	w := &wrapper{inner: inner, name: name, rec: rec}
	w.canAttach, _ = inner.(containers.CanAttacher)
	w.cancelAttach, _ = inner.(containers.AttachCanceler)
	w.attach, _ = inner.(containers.Attacher)
	w.fork, _ = inner.(containers.Forker)
	w.exit, _ = inner.(containers.Exiter)
	w.postClone, _ = inner.(containers.PostCloner)
	w.bind, _ = inner.(containers.Binder)
	w.files, _ = inner.(containers.FileProvider)
	return w
}

// Unwrap returns the subsystem under test.
func (w *wrapper) Unwrap() containers.Subsystem { return w.inner }

// Name returns the wrapped subsystem's name, as read once by the kit.
func (w *wrapper) Name() string { return w.name }

// Create forwards to the wrapped Create.
func (w *wrapper) Create(c *containers.Container) (s containers.State, err error) {
	defer func() {
		if v := recover(); v != nil {
			w.rec.recovered("Create("+describe(c)+")", v)
			s, err = nil, errPanicked
		}
		w.rec.add(event{ss: w.name, kind: evCreate, c: c, state: s, err: err})
	}()
	return w.inner.Create(c)
}

// Destroy forwards to the wrapped Destroy.
func (w *wrapper) Destroy(c *containers.Container, s containers.State) {
	w.rec.add(event{ss: w.name, kind: evDestroy, c: c, state: s})
	defer w.recover("Destroy(" + describe(c) + ")")
	w.inner.Destroy(c, s)
}

func (w *wrapper) recover(what string) {
	if v := recover(); v != nil {
		w.rec.recovered(what, v)
	}
}

func attachTasks(ac *containers.AttachContext) []*containers.Task {
	ts := make([]*containers.Task, 0, ac.Len())
	for t := range ac.All() {
		ts = append(ts, t)
	}
	return ts
}

// CanAttach forwards to the wrapped CanAttach, or accepts.
func (w *wrapper) CanAttach(ac *containers.AttachContext) (err error) {
	ev := event{ss: w.name, kind: evCanAttach, c: ac.Container(), tasks: attachTasks(ac)}
	defer func() {
		if v := recover(); v != nil {
			w.rec.recovered("CanAttach("+describe(ac.Container())+")", v)
			err = errPanicked
		}
		ev.err = err
		w.rec.add(ev)
	}()
	if w.canAttach == nil {
		return nil
	}
	return w.canAttach.CanAttach(ac)
}

// CancelAttach forwards to the wrapped CancelAttach, if any.
func (w *wrapper) CancelAttach(ac *containers.AttachContext) {
	w.rec.add(event{ss: w.name, kind: evCancelAttach, c: ac.Container(), tasks: attachTasks(ac)})
	if w.cancelAttach == nil {
		return
	}
	defer w.recover("CancelAttach(" + describe(ac.Container()) + ")")
	w.cancelAttach.CancelAttach(ac)
}

// Attach forwards to the wrapped Attach, if any.
func (w *wrapper) Attach(ac *containers.AttachContext) {
	w.rec.add(event{ss: w.name, kind: evAttach, c: ac.Container(), tasks: attachTasks(ac)})
	if w.attach == nil {
		return
	}
	defer w.recover("Attach(" + describe(ac.Container()) + ")")
	w.attach.Attach(ac)
}

// Fork forwards to the wrapped Fork, if any.
func (w *wrapper) Fork(t *containers.Task) {
	w.rec.add(event{ss: w.name, kind: evFork, tasks: []*containers.Task{t}})
	if w.fork == nil {
		return
	}
	defer w.recover("Fork(task " + t.String() + ")")
	w.fork.Fork(t)
}

// Exit forwards to the wrapped Exit, if any.
func (w *wrapper) Exit(t *containers.Task) {
	w.rec.add(event{ss: w.name, kind: evExit, tasks: []*containers.Task{t}})
	if w.exit == nil {
		return
	}
	defer w.recover("Exit(task " + t.String() + ")")
	w.exit.Exit(t)
}

// PostClone forwards to the wrapped PostClone, if any.
func (w *wrapper) PostClone(c *containers.Container) {
	w.rec.add(event{ss: w.name, kind: evPostClone, c: c})
	if w.postClone == nil {
		return
	}
	defer w.recover("PostClone(" + describe(c) + ")")
	w.postClone.PostClone(c)
}

// Bind forwards to the wrapped Bind, if any.
func (w *wrapper) Bind(root *containers.Container) {
	w.rec.add(event{ss: w.name, kind: evBind, c: root})
	if w.bind == nil {
		return
	}
	defer w.recover("Bind(" + describe(root) + ")")
	w.bind.Bind(root)
}

// Files returns the wrapped subsystem's files with every handler wrapped.
func (w *wrapper) Files() (out []containers.File) {
	if w.files == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			w.rec.recovered("Files()", v)
			out = nil
		}
	}()
	files := w.files.Files()
	w.mu.Lock()
	w.captured = append([]containers.File(nil), files...)
	w.mu.Unlock()
	out = make([]containers.File, len(files))
	for i, f := range files {
		out[i] = w.wrapFile(f)
	}
	return out
}

// capturedFiles returns the files the wrapped Files returned, or nil.
func (w *wrapper) capturedFiles() []containers.File {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.captured
}

// wrapFile returns f with each of its handlers wrapped: the same handlers
// are set, so the framework parses and formats exactly as for f.
func (w *wrapper) wrapFile(f containers.File) containers.File {
	name := f.Name
	rec := w.rec
	read := func(fc *containers.FileContext) {
		rec.add(event{ss: w.name, kind: evRead, c: fc.Container, state: fc.State, file: name})
	}
	write := func(fc *containers.FileContext) {
		rec.add(event{ss: w.name, kind: evWrite, c: fc.Container, state: fc.State, file: name})
	}
	what := func(kind string, fc *containers.FileContext) string {
		return kind + " of file " + name + " in " + describe(fc.Container)
	}
	g := f
	if r := f.ReadUint; r != nil {
		g.ReadUint = func(fc *containers.FileContext) (v uint64) {
			read(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(what("ReadUint", fc), p)
					v = 0
				}
			}()
			return r(fc)
		}
	}
	if r := f.ReadInt; r != nil {
		g.ReadInt = func(fc *containers.FileContext) (v int64) {
			read(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(what("ReadInt", fc), p)
					v = 0
				}
			}()
			return r(fc)
		}
	}
	if r := f.Read; r != nil {
		g.Read = func(fc *containers.FileContext, wr io.Writer) (err error) {
			read(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(what("Read", fc), p)
					err = errPanicked
				}
			}()
			return r(fc, wr)
		}
	}
	if wu := f.WriteUint; wu != nil {
		g.WriteUint = func(fc *containers.FileContext, v uint64) (err error) {
			write(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(fmt.Sprintf("%s with %d", what("WriteUint", fc), v), p)
					err = errPanicked
				}
			}()
			return wu(fc, v)
		}
	}
	if wi := f.WriteInt; wi != nil {
		g.WriteInt = func(fc *containers.FileContext, v int64) (err error) {
			write(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(fmt.Sprintf("%s with %d", what("WriteInt", fc), v), p)
					err = errPanicked
				}
			}()
			return wi(fc, v)
		}
	}
	if wr := f.Write; wr != nil {
		g.Write = func(fc *containers.FileContext, data []byte) (err error) {
			write(fc)
			defer func() {
				if p := recover(); p != nil {
					rec.recovered(fmt.Sprintf("%s with %s", what("Write", fc), quote(data)), p)
					err = errPanicked
				}
			}()
			return wr(fc, data)
		}
	}
	return g
}

// quote renders written data for a message, shortened if long.
func quote(data []byte) string {
	if len(data) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", data[:40], len(data))
	}
	return fmt.Sprintf("%q", data)
}

// panicked reports whether err comes from a callback that panicked (the
// panic is reported on its own).
func panicked(err error) bool { return errors.Is(err, errPanicked) }
