package containers_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

func TestCloneNotMounted(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	must(sys.MountString("b"))
	task := must(sys.NewTask(3))
	log.take()
	c, err := sys.Clone(task, "a", "")
	if c != nil || err != nil {
		t.Errorf("Clone of an unmounted subsystem = %v, %v, want nil, nil", c, err)
	}
	checkLog(t, "clone unmounted", &log, nil)
	checkClean(t, sys, recs, 0)
}

func TestCloneSequence(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b", "c")
	h := must(sys.MountString("a,c"))
	x := must(h.Root().Mkdir("x"))
	task := must(sys.NewTask(3))
	checkErrno(t, "attach", x.Attach(task), nil)
	log.take()

	c, err := sys.Clone(task, "c", "")
	if err != nil {
		t.Fatal(err)
	}
	checkLog(t, "clone", &log, []string{
		"a.create /x/node_3", "c.create /x/node_3",
		"a.post_clone /x/node_3", "c.post_clone /x/node_3",
		"a.can_attach /x/node_3 3</x", "c.can_attach /x/node_3 3</x",
		"a.attach /x/node_3 3</x", "c.attach /x/node_3 3</x",
	})
	if c.Path() != "/x/node_3" || task.Container(h) != c {
		t.Errorf("clone made %v, task in %v", c, task.Container(h))
	}
	// A given name is used as is; the new container is a child of the
	// task's current one.
	d := must(sys.Clone(task, "a", "job"))
	if d.Path() != "/x/node_3/job" || task.Container(h) != d {
		t.Errorf("clone made %v, task in %v", d, task.Container(h))
	}
	log.take()
	// The name is taken: EEXIST from the mkdir step, no callback.
	checkErrno(t, "clone into an existing name", func() error {
		checkErrno(t, "attach back", c.Attach(task), nil)
		log.take()
		_, err := sys.Clone(task, "a", "job")
		return err
	}(), unix.EEXIST)
	checkLog(t, "clone EEXIST", &log, nil)
	checkClean(t, sys, recs[:1], 3)
}

func TestCloneFailureLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec, cb string
		want    []string
	}{
		{"create", "b", "create", []string{
			"a.create /node_3", "b.create /node_3", "a.destroy /node_3",
		}},
		{"can_attach", "b", "can_attach", []string{
			"a.create /node_3", "b.create /node_3",
			"a.post_clone /node_3", "b.post_clone /node_3",
			"a.can_attach /node_3 3</", "b.can_attach /node_3 3</", "a.cancel_attach /node_3 3</",
			"a.destroy /node_3", "b.destroy /node_3",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log callLog
			sys, recs := newSystem(t, &log, "a", "b")
			h := must(sys.MountString("a,b"))
			task := must(sys.NewTask(3))
			groups := sys.GroupCount()
			log.take()
			recs[1].failOn(tc.cb, unix.ENOSPC)
			c, err := sys.Clone(task, "a", "")
			if c != nil {
				t.Errorf("failed Clone returned %v", c)
			}
			checkErrno(t, "failed clone", err, unix.ENOSPC)
			var se *containers.SubsystemError
			if !errors.As(err, &se) || se.Subsystem != "b" || se.Op != tc.cb {
				t.Errorf("error %v does not name b's %s", err, tc.cb)
			}
			checkLog(t, "failed clone", &log, tc.want)
			if _, err := h.Lookup("/node_3"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("failed clone left /node_3: %v", err)
			}
			if len(h.Root().Children()) != 0 || task.Container(h) != h.Root() {
				t.Errorf("failed clone changed the tree or the task")
			}
			if n := sys.GroupCount(); n != groups {
				t.Errorf("%d groups after a failed clone, was %d", n, groups)
			}
			checkClean(t, sys, recs, 0)
		})
	}
}

func TestCloneErrors(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	must(sys.MountString("a"))
	task := must(sys.NewTask(3))
	_, err := sys.Clone(task, "nope", "")
	checkErrno(t, "clone of an unknown subsystem", err, unix.EINVAL)
	_, err = sys.Clone(nil, "a", "")
	checkErrno(t, "clone of nil", err, unix.ESRCH)
	checkErrno(t, "exit", sys.Exit(task), nil)
	_, err = sys.Clone(task, "a", "")
	checkErrno(t, "clone of an exited task", err, unix.ESRCH)
	_, err = sys.Clone(must(sys.NewTask(4)), "a", "bad/name")
	checkErrno(t, "clone with a bad name", err, unix.EINVAL)
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}
