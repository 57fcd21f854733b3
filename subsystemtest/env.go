package subsystemtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/taskcontainers/containers"
)

// env is the throwaway world of one rule's scenario: a System with the
// subsystem under test (wrapped) and the refuser, one hierarchy holding both, the tasks the kit
// made, and what it found. It is used by one goroutine, except for the
// recorder, which callbacks may reach from others.
type env struct {
	rule  Rule
	opts  Options
	inner containers.Subsystem
	name  string

	rec *recorder
	w   *wrapper // registered in the subsystem's place
	ref *refuser
	sys *containers.System
	h   *containers.Hierarchy

	files     []containers.File // the subsystem's files, as its Files returned them
	fileNames map[string]bool
	ops       []*opInfo
	lastOp    int                // the number of the latest operation
	tasks     []*containers.Task // every task the kit made, in order
	exited    map[*containers.Task]bool
	nextID    containers.TaskID
	volatile  map[string]bool // snapshot keys whose content changes by itself

	accepted, refused int // attaches the subsystem accepted and refused

	vs    []*Violation
	seen  map[string]bool
	notes []string
}

// opInfo describes one operation of the kit, for the checks of the
// callback sequence.
type opInfo struct {
	n      int
	what   string
	attach bool                  // an attach through tasks or cgroup.procs
	clone  bool                  // a System.Clone
	dst    *containers.Container // attach: the destination
	moving []*containers.Task    // attach: the tasks that should move
	task   *containers.Task      // clone: the task
	err    error
}

func newEnv(rule Rule, o Options, ss containers.Subsystem) *env {
	return &env{
		rule:      rule,
		opts:      o,
		inner:     ss,
		rec:       &recorder{},
		fileNames: map[string]bool{},
		exited:    map[*containers.Task]bool{},
		nextID:    100,
		volatile:  map[string]bool{},
		seen:      map[string]bool{},
	}
}

// fail records a violation of the scenario's rule.
func (e *env) fail(format string, args ...any) {
	e.failRule(e.rule, format, args...)
}

// failRule records a violation of rule; identical ones are kept once.
func (e *env) failRule(rule Rule, format string, args ...any) {
	v := &Violation{Rule: rule, Msg: fmt.Sprintf(format, args...)}
	if e.seen[v.Error()] {
		return
	}
	e.seen[v.Error()] = true
	e.vs = append(e.vs, v)
}

func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// safely runs f, reporting a panic as a violation; it reports whether f
// returned normally.
func (e *env) safely(what string, f func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			e.fail("panic in %s: %v (at %s)", what, v, panicSite())
			ok = false
		}
	}()
	f()
	return true
}

// start registers the subsystem and mounts the hierarchy. It reports
// whether the scenario can run.
func (e *env) start() bool {
	if e.inner == nil {
		e.failRule(RuleRegister, "the constructor returned a nil Subsystem")
		return false
	}
	if !isComparable(e.inner) {
		e.failRule(RuleRegister, "the subsystem's type %T is not comparable (the framework finds states by ==): use a pointer", e.inner)
		return false
	}
	if !e.safely("Name()", func() { e.name = e.inner.Name() }) {
		return false
	}
	e.w = newWrapper(e.inner, e.name, e.rec)
	refName := "sstest_refuser"
	if e.name == refName {
		refName = "sstest_refuser2"
	}
	e.ref = &refuser{name: refName, rec: e.rec}
	var err error
	ok := e.safely("New (the subsystem's Files or root Create)", func() {
		e.sys, err = containers.New([]containers.Subsystem{e.w, e.ref})
	})
	e.files = e.w.capturedFiles()
	for _, f := range e.files {
		e.fileNames[f.Name] = true
	}
	e.drainPanics("New")
	if !ok {
		return false
	}
	if err != nil {
		e.explainNew(err)
		return false
	}
	return e.mount()
}

// explainNew reports why New refused the subsystem.
func (e *env) explainNew(err error) {
	e.failRule(RuleRegister, "New refused the subsystem: %v", err)
	if !containers.ValidSubsystemName(e.name) {
		e.failRule(RuleRegister, "the name %q is not 1 to 32 bytes of [a-z0-9_]", e.name)
	}
	e.checkFileTable()
}

// mount mounts a hierarchy with the subsystem and the refuser.
func (e *env) mount() bool {
	var h *containers.Hierarchy
	err := e.do("mount", func() (err error) {
		h, err = e.sys.Mount(containers.Options{Subsystems: []string{e.name, e.ref.name}})
		return err
	})
	if err != nil {
		if !panicked(err) {
			e.fail("mount %s,%s: %v", e.name, e.ref.name, err)
		}
		return false
	}
	e.h = h
	return true
}

// finish stops recording and reports what is left.
func (e *env) finish() {
	e.rec.stop()
	e.drainPanics("the scenario")
}

// close closes the System.
func (e *env) close() {
	if e.sys != nil {
		e.sys.Close(context.Background())
	}
}

// drainPanics reports the panics the recording subsystems recovered.
func (e *env) drainPanics(during string) {
	for _, p := range e.rec.takePanics() {
		e.fail("%s, during %s", p, during)
	}
}

// do runs one operation of the kit: it numbers it for the recorded
// events, reports the panics the wrapper recovered meanwhile, and recovers
// a panic that escaped anyway (from the framework itself, or from a
// subsystem's goroutine that called it).
func (e *env) do(what string, f func() error) (err error) {
	e.lastOp = e.rec.begin()
	defer func() {
		if v := recover(); v != nil {
			e.fail("panic during %s: %v (at %s)", what, v, panicSite())
			err = errPanicked
		}
		e.drainPanics(what)
	}()
	return f()
}

// mkdir makes a container (reporting a failure) and runs Options.Setup on
// it if setup is set. It returns nil on failure.
func (e *env) mkdir(parent *containers.Container, name string, setup bool) *containers.Container {
	if parent == nil {
		return nil
	}
	var c *containers.Container
	path := joinPath(parent.Path(), name)
	err := e.do("mkdir "+path, func() (err error) {
		c, err = parent.Mkdir(name)
		return err
	})
	if err != nil {
		if !panicked(err) {
			e.fail("mkdir %s: %v%s", path, err, createHint(err))
		}
		return nil
	}
	if setup && e.opts.Setup != nil {
		var serr error
		if e.safely("Options.Setup("+path+")", func() { serr = e.opts.Setup(c) }) && serr != nil {
			e.fail("Options.Setup(%s): %v", path, serr)
		}
	}
	return c
}

// createHint explains a failed Create.
func createHint(err error) string {
	var se *containers.SubsystemError
	if errors.As(err, &se) && se.Op == "create" && errors.Is(err, syscall.EINVAL) {
		return " (Create must return a new State that embeds containers.CSS, neither nil nor one it returned before)"
	}
	return ""
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// rmdir removes c, reporting a failure; it reports success.
func (e *env) rmdir(c *containers.Container, why string) bool {
	if c == nil {
		return false
	}
	path := c.Path()
	err := e.do("rmdir "+path, c.Rmdir)
	if err == nil {
		return true
	}
	if panicked(err) {
		return false
	}
	hint := ""
	if errors.Is(err, syscall.EBUSY) && c.TaskCount() == 0 && len(c.Children()) == 0 {
		hint = " although it has no tasks and no children: a reference to its state (CSS.Get) was not dropped (CSS.Put)"
	}
	e.fail("rmdir %s %s: %v%s", path, why, err, hint)
	return false
}

// newTask registers a new task in every root.
func (e *env) newTask() *containers.Task {
	id := e.nextID
	e.nextID++
	var t *containers.Task
	err := e.do("NewTask("+strconv.Itoa(int(id))+")", func() (err error) {
		t, err = e.sys.NewTask(id)
		return err
	})
	if err != nil {
		if !panicked(err) {
			e.fail("NewTask(%d): %v", id, err)
		}
		return nil
	}
	e.tasks = append(e.tasks, t)
	return t
}

// fork forks a new process (or a thread, if thread) of parent.
func (e *env) fork(parent *containers.Task, thread bool) *containers.Task {
	if parent == nil {
		return nil
	}
	id := e.nextID
	e.nextID++
	what := fmt.Sprintf("Fork(task %s, %d)", parent, id)
	if thread {
		what = fmt.Sprintf("ForkThread(task %s, %d)", parent, id)
	}
	var t *containers.Task
	err := e.do(what, func() (err error) {
		if thread {
			t, err = e.sys.ForkThread(parent, id)
		} else {
			t, err = e.sys.Fork(parent, id)
		}
		return err
	})
	if err != nil {
		if !panicked(err) {
			e.fail("%s: %v", what, err)
		}
		return nil
	}
	e.tasks = append(e.tasks, t)
	return t
}

// exit ends t.
func (e *env) exit(t *containers.Task) {
	if t == nil {
		return
	}
	what := "Exit(task " + t.String() + ")"
	err := e.do(what, func() error { return e.sys.Exit(t) })
	e.exited[t] = true
	if err != nil && !panicked(err) {
		e.fail("%s: %v", what, err)
	}
}

// moving returns the tasks an attach of t (its whole process if process)
// to dst should move.
func (e *env) moving(dst *containers.Container, t *containers.Task, process bool) []*containers.Task {
	var out []*containers.Task
	for _, o := range e.tasks {
		if o.Exited() || o.Container(dst.Hierarchy()) == dst {
			continue
		}
		if o == t || (process && o.TGID() == t.TGID()) {
			out = append(out, o)
		}
	}
	return out
}

// attach moves t (its process, if process) to dst by writing its ID to
// dst's tasks (cgroup.procs) file, as a shell would. It returns the error,
// and counts whether the subsystem accepted.
func (e *env) attach(dst *containers.Container, t *containers.Task, process bool) error {
	if dst == nil || t == nil {
		return errors.New("no container or task")
	}
	file := "tasks"
	if process {
		file = "cgroup.procs"
	}
	op := &opInfo{attach: true, dst: dst, moving: e.moving(dst, t, process),
		what: fmt.Sprintf("attach of task %s to %s through %s", t, dst.Path(), file)}
	op.err = e.do(op.what, func() error {
		return dst.WriteFile(file, []byte(t.String()))
	})
	op.n = e.lastOp
	e.ops = append(e.ops, op)
	switch {
	case op.err == nil:
		if len(op.moving) > 0 {
			e.accepted++
		}
		for _, m := range op.moving {
			if got := m.Container(dst.Hierarchy()); got != dst {
				e.fail("%s succeeded, but task %s is in %s", op.what, m, got.Path())
			}
		}
	case refusedBy(op.err) == e.name:
		e.refused++
	}
	return op.err
}

// refusedBy returns the name of the subsystem whose CanAttach refused, or
// "".
func refusedBy(err error) string {
	var se *containers.SubsystemError
	if errors.As(err, &se) && se.Op == "can_attach" {
		return se.Subsystem
	}
	return ""
}

// checkRefusal checks an attach the subsystem under test refused: the
// error wraps an errno, the tasks stayed where they were (was), and no
// file changed since before.
func (e *env) checkRefusal(err error, what string, tasks []*containers.Task, was []*containers.Container, before snapshot) {
	if !isErrno(err) {
		e.fail("%s was refused with %v, which does not wrap a unix.Errno", what, err)
	}
	for i, t := range tasks {
		if got := t.Container(e.h); got != was[i] {
			e.fail("%s was refused, but task %s moved from %s to %s", what, t, was[i].Path(), got.Path())
		}
	}
	e.compare(before, what+", refused ("+err.Error()+"),")
}

func isErrno(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// containersOf returns where each task is in h.
func (e *env) containersOf(ts []*containers.Task) []*containers.Container {
	out := make([]*containers.Container, len(ts))
	for i, t := range ts {
		out[i] = t.Container(e.h)
	}
	return out
}

// walk returns c and its descendants, parents first.
func walk(c *containers.Container) []*containers.Container {
	out := []*containers.Container{c}
	for _, k := range c.Children() {
		out = append(out, walk(k)...)
	}
	return out
}

// ownFiles returns the names (with prefix) of the subsystem's files in c.
func (e *env) ownFiles(c *containers.Container) []string {
	var out []string
	prefix := e.name + "."
	for _, fi := range c.Files() {
		if strings.HasPrefix(fi.Name, prefix) && e.fileNames[fi.Name[len(prefix):]] && !isCoreFile(fi.Name) {
			out = append(out, fi.Name)
		}
	}
	return out
}

// A snapshot is the content of the subsystem's files in every container
// of the hierarchy, by "path file"; a read error is kept as its text.
type snapshot map[string]string

func snapKey(c *containers.Container, file string) string { return c.Path() + " " + file }

// snap reads every file of the subsystem in every container of the
// hierarchy.
func (e *env) snap() snapshot {
	s := snapshot{}
	if e.h == nil || !e.h.Alive() {
		return s
	}
	for _, c := range walk(e.h.Root()) {
		for _, name := range e.ownFiles(c) {
			var data []byte
			err := e.do("read of "+name+" in "+c.Path(), func() (err error) {
				data, err = c.ReadFile(name)
				return err
			})
			if err != nil {
				s[snapKey(c, name)] = "(error: " + err.Error() + ")"
			} else {
				s[snapKey(c, name)] = string(data)
			}
		}
	}
	return s
}

// stable reads every file twice, marks those that changed as volatile, and
// returns the second reading.
func (e *env) stable() snapshot {
	a := e.snap()
	b := e.snap()
	for k, v := range b {
		if a[k] != v {
			e.volatile[k] = true
		}
	}
	return b
}

// ignored reports whether key's file is not compared.
func (e *env) ignored(key string) bool {
	if e.volatile[key] {
		return true
	}
	_, file, _ := strings.Cut(key, " ")
	file = strings.TrimPrefix(file, e.name+".")
	return slices.Contains(e.opts.Volatile, file)
}

// compare reports every file that changed since before, saying that what
// changed it, and returns the new reading.
func (e *env) compare(before snapshot, what string) snapshot {
	after := e.snap()
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if e.ignored(k) {
			continue
		}
		a, ok := after[k]
		switch {
		case !ok:
			e.fail("%s removed file %s", what, k)
		case a != before[k]:
			e.fail("%s changed file %s from %s to %s", what, k, short(before[k]), short(a))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok && !e.ignored(k) {
			e.fail("%s added file %s", what, k)
		}
	}
	return after
}

// short quotes s for a message, shortened if long.
func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q... (%d bytes)", s[:60], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// readAll reads every file of the subsystem in c as caller and reports
// failures; with mayFail, errors wrapping an errno are accepted.
func (e *env) readAll(c *containers.Container, caller *containers.Task, mayFail bool) {
	if c == nil {
		return
	}
	as := ""
	if caller != nil {
		as = " as task " + caller.String()
		if caller.Exited() {
			as += " (exited)"
		}
	}
	for _, name := range e.ownFiles(c) {
		what := "read of " + name + " in " + c.Path() + as
		err := e.do(what, func() error {
			_, err := c.ReadFileAs(caller, name)
			return err
		})
		switch {
		case err == nil || panicked(err):
		case mayFail && isErrno(err):
		case mayFail:
			e.fail("%s: %v, which does not wrap a unix.Errno", what, err)
		default:
			e.fail("%s: %v", what, err)
		}
	}
}
