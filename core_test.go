package containers_test

import (
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// must returns v, or panics with err: for set-up steps that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAttachSequence(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	h := must(sys.Mount(containers.Options{Subsystems: []string{"a", "b"}}))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(10))
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	recs[1].failOn("can_attach", unix.ENOSPC)
	y := must(h.Root().Mkdir("y"))
	err := y.Attach(task)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("attach: %v, want ENOSPC", err)
	}
	var se *containers.SubsystemError
	if !errors.As(err, &se) || se.Subsystem != "b" {
		t.Fatalf("attach error %v does not name b", err)
	}
	if err := x.Attach(task); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a.bind 1", "b.bind 1",
		"a.create /x", "b.create /x",
		"a.fork 10", "b.fork 10",
		"a.can_attach /x 10</", "b.can_attach /x 10</",
		"a.attach /x 10</", "b.attach /x 10</",
		"a.create /y", "b.create /y",
		"a.can_attach /y 10</x", "b.can_attach /y 10</x", "a.cancel_attach /y 10</x",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("callbacks (-want +got):\n%s", diff)
	}
	if got := slices.Collect(x.Tasks()); !slices.Equal(got, []containers.TaskID{10}) {
		t.Errorf("x tasks = %v", got)
	}
	if err := x.Rmdir(); !errors.Is(err, unix.EBUSY) {
		t.Errorf("rmdir busy: %v", err)
	}
	if err := sys.Exit(task); err != nil {
		t.Fatal(err)
	}
	if err := x.Rmdir(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Lookup("/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup removed: %v", err)
	}
}
