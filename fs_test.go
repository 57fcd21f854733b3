package containers_test

import (
	"testing"
	"testing/fstest"
)

func TestFS(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a", "b")
	h := must(sys.MountString("a,b"))
	x := must(h.Root().Mkdir("x"))
	must(x.Mkdir("y"))
	must(h.Root().Mkdir("z"))
	task := must(sys.NewTask(5))
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(h.FS(), "tasks", "a.path", "x/tasks", "x/y/b.path", "z", "release_agent"); err != nil {
		t.Fatal(err)
	}
}
