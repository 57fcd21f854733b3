package debugsub_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/debugsub"
	"github.com/taskcontainers/containers/subsystemtest"
	"golang.org/x/sys/unix"
)

func TestConformance(t *testing.T) {
	subsystemtest.Run(t, func(*testing.T) containers.Subsystem { return debugsub.New() })
}

func newSystem(t testing.TB, ss ...containers.Subsystem) *containers.System {
	t.Helper()
	sys, err := containers.New(append([]containers.Subsystem{debugsub.New()}, ss...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(context.Background()) })
	return sys
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// read returns a debug file of c as caller (nil: no task).
func read(t testing.TB, c *containers.Container, caller *containers.Task, file string) string {
	t.Helper()
	data, err := c.ReadFileAs(caller, "debug."+file)
	if err != nil {
		t.Fatalf("read %s in %s: %v", file, c.Path(), err)
	}
	return string(data)
}

// check compares files of c (read as caller) with want.
func check(t *testing.T, step string, c *containers.Container, caller *containers.Task, want map[string]string) {
	t.Helper()
	for file, w := range want {
		if got := read(t, c, caller, file); got != w {
			t.Errorf("%s: %s in %s as %v:\n got %q\nwant %q", step, file, c.Path(), caller, got, w)
		}
	}
}

func TestFiles(t *testing.T) {
	sys := newSystem(t)
	h := must[*containers.Hierarchy](t)(sys.MountString("debug"))
	a := must[*containers.Container](t)(h.Root().Mkdir("a"))
	var root, child []containers.FileInfo
	for _, fi := range h.Root().Files() {
		if strings.HasPrefix(fi.Name, "debug.") {
			root = append(root, fi)
		}
	}
	for _, fi := range a.Files() {
		if strings.HasPrefix(fi.Name, "debug.") {
			child = append(child, fi)
		}
	}
	ro := fs.FileMode(0o444)
	wantRoot := []containers.FileInfo{
		{Name: "debug.cgroup_css_links", Mode: ro},
		{Name: "debug.cgroup_refcount", Mode: ro},
		{Name: "debug.current_css_set", Mode: ro},
		{Name: "debug.current_css_set_cg_links", Mode: ro},
		{Name: "debug.current_css_set_refcount", Mode: ro},
		{Name: "debug.releasable", Mode: ro},
		{Name: "debug.taskcount", Mode: ro},
	}
	if diff := cmp.Diff(wantRoot, root); diff != "" {
		t.Errorf("root files (-want +got):\n%s", diff)
	}
	wantChild := []containers.FileInfo{
		{Name: "debug.cgroup_css_links", Mode: ro},
		{Name: "debug.cgroup_refcount", Mode: ro},
		{Name: "debug.releasable", Mode: ro},
		{Name: "debug.taskcount", Mode: ro},
	}
	if diff := cmp.Diff(wantChild, child); diff != "" {
		t.Errorf("child files (-want +got):\n%s", diff)
	}
	for _, fi := range root {
		if err := h.Root().WriteFile(fi.Name, []byte("0\n")); !errors.Is(err, unix.EINVAL) {
			t.Errorf("write %s: got %v, want EINVAL", fi.Name, err)
		}
	}
	if _, err := a.ReadFile("debug.current_css_set"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("current_css_set in a child: got %v, want ENOENT", err)
	}
}

// TestScenario follows the framework's counts through attach, fork, a
// second hierarchy, clone, exit and rmdir, with the values worked out by
// hand from the rules of css_groups (spec §1.2 I4, I6).
func TestScenario(t *testing.T) {
	sys := newSystem(t)
	h := must[*containers.Hierarchy](t)(sys.MountString("debug")) // hierarchy 1
	root := h.Root()

	check(t, "empty", root, nil, map[string]string{
		"taskcount":                "0\n",
		"cgroup_refcount":          "1\n", // the default group is always in every root
		"releasable":               "1\n",
		"cgroup_css_links":         "css_set 0 1 +1\n",
		"current_css_set":          "css_set 0 1 +1\n 0: debug\t- 1:/\n",
		"current_css_set_refcount": "1\n",
		"current_css_set_cg_links": "Root 1 group /\n",
	})

	a := must[*containers.Container](t)(root.Mkdir("a"))
	check(t, "mkdir a", a, nil, map[string]string{
		"taskcount": "0\n", "cgroup_refcount": "0\n", "releasable": "1\n", "cgroup_css_links": "",
	})
	check(t, "mkdir a", root, nil, map[string]string{"releasable": "0\n"})

	t1 := must[*containers.Task](t)(sys.NewTask(1))
	check(t, "new task", root, nil, map[string]string{
		"taskcount":        "1\n",
		"cgroup_css_links": "css_set 0 2 +1\n  task 1\n",
	})
	check(t, "new task", root, t1, map[string]string{
		"current_css_set":          "css_set 0 2 +1\n 0: debug\t- 1:/\n",
		"current_css_set_refcount": "2\n",
	})

	if err := a.Attach(t1); err != nil {
		t.Fatal(err)
	}
	check(t, "attach 1 to a", a, nil, map[string]string{
		"taskcount": "1\n", "cgroup_refcount": "1\n", "releasable": "0\n",
		"cgroup_css_links": "css_set 1 1\n  task 1\n",
	})
	check(t, "attach 1 to a", root, nil, map[string]string{
		"taskcount": "0\n", "cgroup_refcount": "1\n", "cgroup_css_links": "css_set 0 1 +1\n",
	})
	check(t, "attach 1 to a", root, t1, map[string]string{
		"current_css_set":          "css_set 1 1\n 0: debug\t- 1:/a\n",
		"current_css_set_refcount": "1\n",
		"current_css_set_cg_links": "Root 1 group a\n",
	})

	// A forked task shares its parent's group: same ID, refcount 2.
	t2 := must[*containers.Task](t)(sys.Fork(t1, 2))
	check(t, "fork 2", a, nil, map[string]string{
		"taskcount": "2\n", "cgroup_refcount": "1\n",
		"cgroup_css_links": "css_set 1 2\n  task 1\n  task 2\n",
	})
	for _, tk := range []*containers.Task{t1, t2} {
		check(t, "fork 2", root, tk, map[string]string{
			"current_css_set":          "css_set 1 2\n 0: debug\t- 1:/a\n",
			"current_css_set_refcount": "2\n",
		})
	}

	// A second hierarchy splits them: task 2 moves in it, task 1 stays in
	// its root.
	hx := must[*containers.Hierarchy](t)(sys.MountString("none,name=x")) // hierarchy 2
	x1 := must[*containers.Container](t)(hx.Root().Mkdir("x1"))
	if err := x1.Attach(t2); err != nil {
		t.Fatal(err)
	}
	check(t, "attach 2 to x1", a, nil, map[string]string{
		"taskcount": "2\n", "cgroup_refcount": "2\n",
		"cgroup_css_links": "css_set 1 1\n  task 1\ncss_set 2 1\n  task 2\n",
	})
	check(t, "attach 2 to x1", root, t1, map[string]string{
		"current_css_set":          "css_set 1 1\n 0: debug\t- 1:/a\n",
		"current_css_set_cg_links": "Root 1 group a\nRoot 2 group /\n",
	})
	check(t, "attach 2 to x1", root, t2, map[string]string{
		"current_css_set":          "css_set 2 1\n 0: debug\t- 1:/a\n",
		"current_css_set_refcount": "1\n",
		"current_css_set_cg_links": "Root 1 group a\nRoot 2 group x1\n",
	})

	// Clone puts task 1 in a new child of a; its old group dies.
	n1, err := sys.Clone(t1, debugsub.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "clone 1", a, nil, map[string]string{
		"taskcount": "1\n", "cgroup_refcount": "1\n", "releasable": "0\n",
		"cgroup_css_links": "css_set 2 1\n  task 2\n",
	})
	check(t, "clone 1", n1, nil, map[string]string{
		"taskcount": "1\n", "cgroup_refcount": "1\n", "releasable": "0\n",
		"cgroup_css_links": "css_set 3 1\n  task 1\n",
	})
	check(t, "clone 1", root, t1, map[string]string{
		"current_css_set_cg_links": "Root 1 group node_1\nRoot 2 group /\n",
	})

	// Task 2 exits: it reads as the default group now.
	if err := sys.Exit(t2); err != nil {
		t.Fatal(err)
	}
	check(t, "exit 2", a, nil, map[string]string{
		"taskcount": "0\n", "cgroup_refcount": "0\n", "releasable": "0\n", "cgroup_css_links": "",
	})
	check(t, "exit 2", root, t2, map[string]string{
		"current_css_set":          "css_set 0 1 +1\n 0: debug\t- 1:/\n",
		"current_css_set_refcount": "1\n",
		"current_css_set_cg_links": "Root 1 group /\nRoot 2 group /\n",
	})

	// Task 1 back to every root: the default group again.
	if err := root.Attach(t1); err != nil {
		t.Fatal(err)
	}
	check(t, "attach 1 to /", n1, nil, map[string]string{"taskcount": "0\n", "releasable": "1\n"})
	check(t, "attach 1 to /", root, t1, map[string]string{
		"current_css_set":          "css_set 0 2 +1\n 0: debug\t- 1:/\n",
		"current_css_set_refcount": "2\n",
	})
	if err := n1.Rmdir(); err != nil {
		t.Fatal(err)
	}
	check(t, "rmdir node_1", a, nil, map[string]string{"releasable": "1\n"})
	if err := a.Rmdir(); err != nil {
		t.Fatal(err)
	}
	check(t, "rmdir a", root, nil, map[string]string{
		"releasable": "0\n", "taskcount": "1\n", "cgroup_css_links": "css_set 0 2 +1\n  task 1\n",
	})
	if _, err := a.ReadFile("debug.taskcount"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("read in a removed container: got %v, want ENODEV", err)
	}
}

// other is a minimal second subsystem, for current_css_set's lines.
type other struct{ name string }
type otherState struct{ containers.CSS }

func (o *other) Name() string { return o.name }
func (o *other) Create(*containers.Container) (containers.State, error) {
	return &otherState{}, nil
}
func (o *other) Destroy(*containers.Container, containers.State) {}

func TestCurrentCSSSetWithSeveralSubsystems(t *testing.T) {
	sys := newSystem(t, &other{"cpu"}, &other{"unbound_one"})
	hc := must[*containers.Hierarchy](t)(sys.MountString("cpu"))            // 1
	hd := must[*containers.Hierarchy](t)(sys.MountString("debug,name=dbg")) // 2
	job := must[*containers.Container](t)(hc.Root().Mkdir("job"))
	tk := must[*containers.Task](t)(sys.NewTask(7))
	if err := job.Attach(tk); err != nil {
		t.Fatal(err)
	}
	want := "css_set 1 1\n" +
		" 0: debug\t- 2:/\n" +
		" 1: cpu \t- 1:/job\n" +
		" 2: unbound_one\t- 0:/\n"
	check(t, "", hd.Root(), tk, map[string]string{
		"current_css_set":          want,
		"current_css_set_cg_links": "Root 1 group job\nRoot 2 group /\n",
	})
}

func TestCSSLinksShowsAtMost25Tasks(t *testing.T) {
	sys := newSystem(t)
	h := must[*containers.Hierarchy](t)(sys.MountString("debug"))
	a := must[*containers.Container](t)(h.Root().Mkdir("a"))
	first := must[*containers.Task](t)(sys.NewTask(1))
	if err := a.Attach(first); err != nil {
		t.Fatal(err)
	}
	for id := containers.TaskID(2); id <= 30; id++ {
		must[*containers.Task](t)(sys.Fork(first, id))
	}
	var want strings.Builder
	want.WriteString("css_set 1 30\n")
	for id := 1; id <= 25; id++ {
		fmt.Fprintf(&want, "  task %d\n", id)
	}
	want.WriteString("  ... (5)\n")
	check(t, "30 tasks", a, nil, map[string]string{"cgroup_css_links": want.String(), "taskcount": "30\n"})
}

func TestCurrentFilesCallers(t *testing.T) {
	sys := newSystem(t)
	h := must[*containers.Hierarchy](t)(sys.MountString("debug"))
	mine := must[*containers.Task](t)(sys.NewTask(1))

	// No caller: the default group, which holds task 1, as task 1 sees it.
	for _, caller := range []*containers.Task{nil, mine} {
		check(t, "default group", h.Root(), caller, map[string]string{
			"current_css_set":          "css_set 0 2 +1\n 0: debug\t- 1:/\n",
			"current_css_set_refcount": "2\n",
			"current_css_set_cg_links": "Root 1 group /\n",
		})
	}

	// A task of another System: ESRCH, even with an ID in use here.
	other := newSystem(t)
	foreign := must[*containers.Task](t)(other.NewTask(1))
	for _, f := range []string{"current_css_set", "current_css_set_refcount", "current_css_set_cg_links"} {
		if _, err := h.Root().ReadFileAs(foreign, "debug."+f); !errors.Is(err, unix.ESRCH) {
			t.Errorf("%s as a foreign task: got %v, want ESRCH", f, err)
		}
	}
}
