package debugsub_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/debugsub"
)

// world is a System with the debug hierarchy (ID 1) and a named one (ID
// 2), driven by a script of operations, with the live tasks it made.
type world struct {
	t      *testing.T
	sys    *containers.System
	h, hx  *containers.Hierarchy
	live   []*containers.Task
	nextID containers.TaskID
	step   int
}

func newWorld(t *testing.T) *world {
	sys := newSystem(t)
	return &world{
		t:      t,
		sys:    sys,
		h:      must[*containers.Hierarchy](t)(sys.MountString("debug")),
		hx:     must[*containers.Hierarchy](t)(sys.MountString("none,name=x")),
		nextID: 1,
	}
}

func (w *world) pick(list []*containers.Container, n int) *containers.Container {
	return list[n%len(list)]
}

func (w *world) task(n int) *containers.Task {
	if len(w.live) == 0 {
		return nil
	}
	return w.live[n%len(w.live)]
}

// run applies the operation op with argument arg. Operations may fail
// (rmdir of a busy container, say); the checks only look at the result.
func (w *world) run(op, arg byte) {
	w.step++
	n := int(arg)
	conts := walk(w.h.Root())
	xconts := walk(w.hx.Root())
	switch op % 9 {
	case 0:
		if tk, err := w.sys.NewTask(w.nextID); err == nil {
			w.live = append(w.live, tk)
		}
		w.nextID++
	case 1, 2:
		if p := w.task(n); p != nil {
			fork := w.sys.Fork
			if op%9 == 2 {
				fork = w.sys.ForkThread
			}
			if tk, err := fork(p, w.nextID); err == nil {
				w.live = append(w.live, tk)
			}
			w.nextID++
		}
	case 3:
		if tk := w.task(n); tk != nil {
			w.sys.Exit(tk)
			w.live = slices.DeleteFunc(w.live, func(o *containers.Task) bool { return o == tk })
		}
	case 4:
		if tk := w.task(n); tk != nil {
			w.pick(conts, n/7).Attach(tk)
		}
	case 5:
		if tk := w.task(n); tk != nil {
			w.pick(xconts, n/7).AttachProcess(tk)
		}
	case 6:
		w.pick(conts, n).Mkdir("c" + strconv.Itoa(w.step))
		w.pick(xconts, n/3).Mkdir("x" + strconv.Itoa(w.step))
	case 7:
		w.pick(conts, n).Rmdir()
		w.pick(xconts, n/3).Rmdir()
	case 8:
		if tk := w.task(n); tk != nil {
			w.sys.Clone(tk, debugsub.Name, "")
		}
	}
}

func walk(c *containers.Container) []*containers.Container {
	out := []*containers.Container{c}
	for _, k := range c.Children() {
		out = append(out, walk(k)...)
	}
	return out
}

// verify checks every debug file against what the framework says through
// other means: the tasks files, each task's containers, and the rule that
// tasks share a css_group exactly when they share every container.
func (w *world) verify() {
	t := w.t
	t.Helper()
	type member struct{ c, x *containers.Container }
	groupOf := map[*containers.Task]uint64{}
	byGroup := map[uint64][]*containers.Task{}
	idOf := map[member]uint64{}
	for _, tk := range w.live {
		id := tk.Group().ID
		groupOf[tk] = id
		byGroup[id] = append(byGroup[id], tk)
		m := member{tk.Container(w.h), tk.Container(w.hx)}
		if id == 0 && (!m.c.IsRoot() || !m.x.IsRoot()) {
			t.Errorf("task %s is in group 0 but in %s and %s", tk, m.c.Path(), m.x.Path())
		}
		if old, ok := idOf[m]; ok && old != id {
			t.Errorf("tasks in %s and %s are in groups %d and %d", m.c.Path(), m.x.Path(), old, id)
		}
		idOf[m] = id
	}
	if len(idOf) != len(byGroup) {
		t.Errorf("%d memberships but %d groups", len(idOf), len(byGroup))
	}
	refs := func(id uint64) int {
		n := len(byGroup[id])
		if id == 0 {
			n++ // the permanent reference
		}
		return n
	}

	for _, c := range walk(w.h.Root()) {
		tasksFile := must[[]byte](t)(c.ReadFile("tasks"))
		ntasks := strings.Count(string(tasksFile), "\n")
		var groups []uint64
		for _, tk := range w.live {
			if tk.Container(w.h) == c && !slices.Contains(groups, groupOf[tk]) {
				groups = append(groups, groupOf[tk])
			}
		}
		if c.IsRoot() && !slices.Contains(groups, 0) {
			groups = append(groups, 0) // the default group is always in every root
		}
		slices.Sort(groups)
		releasable := 0
		if ntasks == 0 && len(c.Children()) == 0 {
			releasable = 1
		}
		var links strings.Builder
		for _, id := range groups {
			fmt.Fprintf(&links, "css_set %d %d", id, refs(id))
			if id == 0 {
				links.WriteString(" +1")
			}
			links.WriteString("\n")
			ids := []int{}
			for _, tk := range byGroup[id] {
				ids = append(ids, int(tk.ID()))
			}
			slices.Sort(ids)
			for i, tid := range ids {
				if i == 25 {
					fmt.Fprintf(&links, "  ... (%d)\n", len(ids)-25)
					break
				}
				fmt.Fprintf(&links, "  task %d\n", tid)
			}
		}
		check(t, fmt.Sprintf("step %d", w.step), c, nil, map[string]string{
			"taskcount":        fmt.Sprintf("%d\n", ntasks),
			"cgroup_refcount":  fmt.Sprintf("%d\n", len(groups)),
			"releasable":       fmt.Sprintf("%d\n", releasable),
			"cgroup_css_links": links.String(),
		})
	}

	name := func(c *containers.Container) string {
		if c.IsRoot() {
			return "/"
		}
		return c.Name()
	}
	root := w.h.Root()
	for _, tk := range w.live {
		id := groupOf[tk]
		c, x := tk.Container(w.h), tk.Container(w.hx)
		head := fmt.Sprintf("css_set %d %d", id, refs(id))
		if id == 0 {
			head += " +1"
		}
		check(t, fmt.Sprintf("step %d", w.step), root, tk, map[string]string{
			"current_css_set_refcount": fmt.Sprintf("%d\n", refs(id)),
			"current_css_set":          fmt.Sprintf("%s\n 0: debug\t- 1:%s\n", head, c.Path()),
			"current_css_set_cg_links": fmt.Sprintf("Root 1 group %s\nRoot 2 group %s\n", name(c), name(x)),
		})
	}
	check(t, fmt.Sprintf("step %d", w.step), root, nil, map[string]string{
		"current_css_set_refcount": fmt.Sprintf("%d\n", refs(0)),
	})
}

// runOps runs a script of (operation, argument) pairs, checking after
// every step.
func runOps(t *testing.T, script []byte) {
	w := newWorld(t)
	for i := 0; i+1 < len(script); i += 2 {
		w.run(script[i], script[i+1])
		w.verify()
		if t.Failed() {
			t.Fatalf("after step %d (op %d, arg %d) of %v", w.step, script[i]%9, script[i+1], script[:i+2])
		}
	}
}

func FuzzFilesMatchTheFramework(f *testing.F) {
	f.Add([]byte{0, 0, 6, 0, 4, 7, 1, 0, 2, 0, 5, 3, 3, 1})
	f.Add([]byte{0, 0, 0, 1, 6, 0, 6, 1, 4, 8, 4, 9, 8, 0, 8, 1, 7, 1, 3, 0, 3, 0})
	f.Add([]byte{0, 0, 1, 0, 1, 0, 1, 0, 2, 0, 6, 0, 5, 7, 5, 8, 4, 14, 3, 2})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 160 {
			script = script[:160]
		}
		runOps(t, script)
	})
}

// Longer random scripts than the fuzz seeds, the same every run.
func TestRandomScripts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		script := make([]byte, 300)
		for i := range script {
			script[i] = byte(r.IntN(256))
		}
		runOps(t, script)
	}
}
