package containers_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// mountStep is one mount in a sequence: its options, and either the errno
// it fails with or the ID of the hierarchy it gives (a new one, or one that
// an earlier step made, reused) with the subsystems bound to it.
type mountStep struct {
	opts string
	err  error
	id   int
	subs string // comma-separated, in ID order
}

// TestMountRules checks spec §2.1 on a System with subsystems cpuset, a and
// b (IDs 0, 1, 2).
func TestMountRules(t *testing.T) {
	long := strings.Repeat("n", 63)
	for _, tc := range []struct {
		name  string
		steps []mountStep
	}{
		{"one subsystem", []mountStep{{opts: "a", id: 1, subs: "a"}}},
		{"two subsystems", []mountStep{{opts: "b,a", id: 1, subs: "a,b"}}},
		{"empty means all", []mountStep{{opts: "", id: 1, subs: "cpuset,a,b"}}},
		{"all", []mountStep{{opts: "all", id: 1, subs: "cpuset,a,b"}}},
		{"all with a name", []mountStep{{opts: "all,a", err: unix.EINVAL}}},
		{"empty tokens ignored", []mountStep{{opts: "a,,b,", id: 1, subs: "a,b"}}},
		{"unknown subsystem", []mountStep{{opts: "a,nope", err: unix.EINVAL}}},
		{"unknown key=value", []mountStep{{opts: "a,foo=bar", err: unix.EINVAL}}},
		{"same set reused", []mountStep{
			{opts: "a", id: 1, subs: "a"},
			{opts: "a", id: 1, subs: "a"},
			{opts: "b", id: 2, subs: "b"},
			{opts: "b", id: 2, subs: "b"},
			{opts: "a", id: 1, subs: "a"},
		}},
		{"flags ignored on reuse", []mountStep{
			{opts: "cpuset", id: 1, subs: "cpuset"},
			{opts: "cpuset,noprefix", id: 1, subs: "cpuset"},
			{opts: "cpuset,xattr,clone_children,release_agent=/x", id: 1, subs: "cpuset"},
		}},
		{"overlap", []mountStep{
			{opts: "a", id: 1, subs: "a"},
			{opts: "a,b", err: unix.EBUSY},
			{opts: "all", err: unix.EBUSY},
			{opts: "", err: unix.EBUSY},
			{opts: "a,name=x", err: unix.EBUSY},
			{opts: "b", id: 2, subs: "b"},
		}},
		{"overlap with a named hierarchy", []mountStep{
			{opts: "a,b,name=x", id: 1, subs: "a,b"},
			{opts: "b", err: unix.EBUSY},
			{opts: "a,b", id: 1, subs: "a,b"},
		}},
		{"none needs a name", []mountStep{
			{opts: "none", err: unix.EINVAL},
			{opts: "none,a,name=x", err: unix.EINVAL},
			{opts: "none,name=x", id: 1, subs: ""},
		}},
		{"named reuse", []mountStep{
			{opts: "none,name=x", id: 1, subs: ""},
			{opts: "name=x", id: 1, subs: ""},
			{opts: "none,name=x", id: 1, subs: ""},
			{opts: "a,name=x", err: unix.EBUSY},
			{opts: "none,name=y", id: 2, subs: ""},
			{opts: "a,name=z", id: 3, subs: "a"},
			{opts: "name=z", id: 3, subs: "a"},
			{opts: "a,name=z", id: 3, subs: "a"},
			{opts: "a", id: 3, subs: "a"},
		}},
		{"a name alone cannot create", []mountStep{{opts: "name=x", err: unix.EINVAL}}},
		{"name syntax", []mountStep{
			{opts: "none,name=", err: unix.EINVAL},
			{opts: "none,name=a/b", err: unix.EINVAL},
			{opts: "none,name=a b", err: unix.EINVAL},
			{opts: "none,name=" + long + "n", err: unix.EINVAL},
			{opts: "none,name=x,name=x", err: unix.EINVAL},
			{opts: "none,name=" + long, id: 1, subs: ""},
			{opts: "none,name=A.b_c-9", id: 2, subs: ""},
		}},
		{"noprefix", []mountStep{
			{opts: "a,noprefix", err: unix.EINVAL},
			{opts: "cpuset,a,noprefix", err: unix.EINVAL},
			{opts: "noprefix", err: unix.EINVAL}, // means all
			{opts: "cpuset,noprefix", id: 1, subs: "cpuset"},
			{opts: "none,name=n,noprefix", id: 2, subs: ""},
		}},
		{"cpuset_v2_mode", []mountStep{
			{opts: "a,cpuset_v2_mode", err: unix.EINVAL},
			{opts: "cpuset,cpuset_v2_mode", id: 1, subs: "cpuset"},
		}},
		{"release_agent", []mountStep{
			{opts: "a,release_agent=/x,release_agent=/y", err: unix.EINVAL},
			{opts: "a,release_agent=/x", id: 1, subs: "a"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log callLog
			sys, _ := newSystem(t, &log, "cpuset", "a", "b")
			for _, s := range tc.steps {
				h, err := sys.MountString(s.opts)
				if s.err != nil {
					checkErrno(t, "mount "+s.opts, err, s.err)
					if h != nil {
						t.Errorf("mount %q failed but returned %v", s.opts, h)
					}
					continue
				}
				if err != nil {
					t.Errorf("mount %q: %v", s.opts, err)
					continue
				}
				if h.ID() != s.id {
					t.Errorf("mount %q: hierarchy %d, want %d", s.opts, h.ID(), s.id)
				}
				if got := strings.Join(h.Subsystems(), ","); got != s.subs {
					t.Errorf("mount %q: subsystems %q, want %q", s.opts, got, s.subs)
				}
			}
			if err := sys.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMountOptionsApplied checks what a new hierarchy takes from its
// options, and that a reuse takes nothing.
func TestMountOptionsApplied(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "cpuset", "a")
	h := must(sys.MountString("cpuset,noprefix,clone_children,release_agent=/sbin/agent"))
	if h.ReleaseAgent() != "/sbin/agent" || !h.Root().CloneChildren() {
		t.Errorf("agent %q, clone_children %v", h.ReleaseAgent(), h.Root().CloneChildren())
	}
	if got := string(must(h.Root().ReadFile("release_agent"))); got != "/sbin/agent\n" {
		t.Errorf("release_agent reads %q", got)
	}
	// noprefix: the subsystem's file is "path", not "cpuset.path".
	if _, err := h.Root().ReadFile("path"); err != nil {
		t.Errorf("noprefix file: %v", err)
	}
	checkErrno(t, "prefixed file under noprefix", func() error { _, err := h.Root().ReadFile("cpuset.path"); return err }(), unix.ENOENT)
	if got := h.Options().String(); got != "cpuset,noprefix,release_agent=/sbin/agent,clone_children" {
		t.Errorf("Options() = %q", got)
	}
	// A reuse ignores flags, agent and clone_children.
	h2 := must(sys.MountString("cpuset,release_agent=/other"))
	if h2 != h || h.ReleaseAgent() != "/sbin/agent" {
		t.Errorf("reuse changed the hierarchy: %v, agent %q", h2, h.ReleaseAgent())
	}
	plain := must(sys.MountString("a,name=jobs"))
	if _, err := plain.Root().ReadFile("a.path"); err != nil {
		t.Errorf("prefixed file: %v", err)
	}
	if plain.Name() != "jobs" || plain.Root().CloneChildren() || plain.ReleaseAgent() != "" {
		t.Errorf("name %q clone_children %v agent %q", plain.Name(), plain.Root().CloneChildren(), plain.ReleaseAgent())
	}
	// The Options struct goes through the same rules.
	for _, o := range []containers.Options{
		{Subsystems: []string{"a"}, All: true},
		{None: true},
		{Subsystems: []string{"a"}, NoPrefix: true},
		{Name: "bad name", None: true},
		{Subsystems: []string{"a"}, ReleaseAgent: "/x\x00y"},
		{Subsystems: []string{"a"}, ReleaseAgent: "/" + strings.Repeat("x", 4095)},
	} {
		_, err := sys.Mount(o)
		checkErrno(t, "mount "+o.String(), err, unix.EINVAL)
	}
}

func TestHierarchyIDsIncrease(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a", "b")
	var ids []int
	for _, opts := range []string{"a", "b", "none,name=x"} {
		h := must(sys.MountString(opts))
		ids = append(ids, h.ID())
		checkErrno(t, "unmount", h.Unmount(), nil)
	}
	for _, opts := range []string{"a", "b", "none,name=x"} {
		ids = append(ids, must(sys.MountString(opts)).ID())
	}
	if !slices.Equal(ids, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("hierarchy IDs %v, want 1..6 with none reused", ids)
	}
	// sys.Hierarchies lists the live ones in ID order.
	var live []int
	for _, h := range sys.Hierarchies() {
		live = append(live, h.ID())
	}
	if !slices.Equal(live, []int{4, 5, 6}) {
		t.Errorf("live hierarchies %v, want [4 5 6]", live)
	}
}

func TestNamedHierarchyLimit(t *testing.T) {
	var log callLog
	sys, _ := newSystem(t, &log, "a")
	var hs []*containers.Hierarchy
	for i := range containers.MaxNamedHierarchies {
		hs = append(hs, must(sys.MountString("none,name=n"+string(rune('a'+i)))))
	}
	_, err := sys.MountString("none,name=extra")
	checkErrno(t, "one named hierarchy too many", err, unix.ENOSPC)
	// A hierarchy with subsystems needs no slot.
	must(sys.MountString("a,name=withsub"))
	// Unmounting one frees its slot.
	checkErrno(t, "unmount", hs[3].Unmount(), nil)
	must(sys.MountString("none,name=extra"))
	// Tasks in containers of every named hierarchy keep their places.
	task := must(sys.NewTask(1))
	for i, h := range hs {
		if i == 3 {
			continue
		}
		c := must(h.Root().Mkdir("c"))
		checkErrno(t, "attach", c.Attach(task), nil)
	}
	for i, h := range hs {
		if i != 3 && task.Container(h).Path() != "/c" {
			t.Errorf("task in %v of %s", task.Container(h), h.Name())
		}
	}
	if err := sys.CheckInvariants(); err != nil {
		t.Error(err)
	}
}

func TestRemountRules(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "cpuset", "a", "b")
	h := must(sys.MountString("a,release_agent=/agent"))
	other := must(sys.MountString("cpuset"))
	log.take()
	opts := func(s string) containers.Options { return must(containers.ParseOptions(s)) }

	checkErrno(t, "add a free subsystem", h.Remount(opts("a,b")), nil)
	checkLog(t, "add b", &log, []string{"b.bind 1"})
	if _, err := h.Root().ReadFile("b.path"); err != nil {
		t.Errorf("b's file after remount: %v", err)
	}
	checkErrno(t, "add a bound subsystem", h.Remount(opts("a,b,cpuset")), unix.EBUSY)
	checkErrno(t, "empty options mean all", h.Remount(opts("")), unix.EBUSY)
	checkErrno(t, "change a flag", h.Remount(opts("a,b,xattr")), unix.EINVAL)
	checkErrno(t, "change the name", h.Remount(opts("a,b,name=x")), unix.EINVAL)
	checkErrno(t, "bad option", h.Remount(opts("a,nope")), unix.EINVAL)
	checkErrno(t, "none without a name", h.Remount(opts("none")), unix.EINVAL)
	checkLog(t, "refused remounts", &log, nil)
	if got := strings.Join(h.Subsystems(), ","); got != "a,b" {
		t.Errorf("refused remounts changed the set to %q", got)
	}
	// Omitting release_agent keeps it; giving it changes it.
	if h.ReleaseAgent() != "/agent" {
		t.Errorf("agent %q after remounts without one", h.ReleaseAgent())
	}
	checkErrno(t, "remount with an agent", h.Remount(opts("a,b,release_agent=/new")), nil)
	if h.ReleaseAgent() != "/new" {
		t.Errorf("agent %q, want /new", h.ReleaseAgent())
	}
	checkErrno(t, "remove a", h.Remount(opts("b")), nil)
	checkLog(t, "remove a", &log, []string{"a.bind 0"})
	if _, err := h.Root().ReadFile("a.path"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("a's file after it left: %v", err)
	}
	if got := must(sys.MountString("a")).ID(); got != 3 {
		t.Errorf("a mounts on its own as %d, want a new hierarchy 3", got)
	}
	log.take()

	// Any remount with children gives EBUSY, even with the same options.
	x := must(h.Root().Mkdir("x"))
	log.take()
	checkErrno(t, "remount same with children", h.Remount(opts("b")), unix.EBUSY)
	checkErrno(t, "remount agent with children", h.Remount(opts("b,release_agent=/z")), unix.EBUSY)
	checkLog(t, "refused remounts", &log, nil)
	if h.ReleaseAgent() != "/new" {
		t.Errorf("a refused remount changed the agent to %q", h.ReleaseAgent())
	}
	checkErrno(t, "rmdir", x.Rmdir(), nil)
	log.take()

	// A noprefix hierarchy must stay noprefix.
	checkErrno(t, "cpuset remount noprefix", other.Remount(opts("cpuset,noprefix")), unix.EINVAL)

	// A named hierarchy can drop all its subsystems and take them again.
	_, err := sys.MountString("b,name=n")
	checkErrno(t, "b is bound elsewhere", err, unix.EBUSY)
	checkErrno(t, "unmount", h.Unmount(), nil)
	log.take()
	n := must(sys.MountString("b,name=n"))
	checkErrno(t, "none,name=n", n.Remount(opts("none,name=n")), nil)
	checkLog(t, "to none", &log, []string{"b.bind 4", "b.bind 0"})
	task := must(sys.NewTask(1))
	c := must(n.Root().Mkdir("c"))
	checkErrno(t, "attach in the named hierarchy", c.Attach(task), nil)
	if task.Container(n) != c {
		t.Errorf("task in %v, want /c", task.Container(n))
	}
	checkErrno(t, "remount dead", h.Remount(opts("b")), unix.EINVAL)
	checkClean(t, sys, recs, 0)
}

func TestUnmountRules(t *testing.T) {
	var log callLog
	sys, recs := newSystem(t, &log, "a", "b")
	task := must(sys.NewTask(1))

	// Without children the hierarchy goes at once; its subsystems return
	// to the dummy hierarchy.
	h := must(sys.MountString("a"))
	log.take()
	checkErrno(t, "unmount", h.Unmount(), nil)
	checkLog(t, "unmount", &log, []string{"a.bind 0"})
	if h.Alive() || slices.Contains(sys.Hierarchies(), h) {
		t.Errorf("unmounted hierarchy without children still alive")
	}
	checkErrno(t, "unmount twice", h.Unmount(), unix.EINVAL)
	checkErrno(t, "lookup in a dead hierarchy", func() error { _, err := h.Lookup("/"); return err }(), unix.ENOENT)
	checkErrno(t, "mkdir in a dead hierarchy", func() error { _, err := h.Root().Mkdir("x"); return err }(), unix.ENOENT)

	// Two mounts need two unmounts.
	h = must(sys.MountString("a,b"))
	if must(sys.MountString("b,a")) != h {
		t.Fatalf("second mount did not reuse")
	}
	checkErrno(t, "first unmount", h.Unmount(), nil)
	if !h.Alive() {
		t.Errorf("hierarchy dead while mounted once more")
	}
	log.take()

	// With children it stays alive, bound, and found again.
	x := must(h.Root().Mkdir("x"))
	y := must(x.Mkdir("y"))
	checkErrno(t, "attach", y.Attach(task), nil)
	log.take()
	checkErrno(t, "last unmount", h.Unmount(), nil)
	checkLog(t, "unmount with children", &log, nil)
	if !h.Alive() || !slices.Contains(sys.Hierarchies(), h) {
		t.Errorf("hierarchy with children died at unmount")
	}
	if task.Container(h) != y {
		t.Errorf("task in %v after unmount, want /x/y", task.Container(h))
	}
	_, err := sys.MountString("a")
	checkErrno(t, "overlap with an unmounted hierarchy", err, unix.EBUSY)
	again := must(sys.MountString("a,b"))
	if again != h || must(again.Lookup("/x/y")) != y {
		t.Errorf("mounting again gave %v", again)
	}
	checkErrno(t, "unmount again", h.Unmount(), nil)
	log.take()
	// The last container removed destroys it.
	checkErrno(t, "exit", sys.Exit(task), nil)
	log.take()
	checkErrno(t, "rmdir y", y.Rmdir(), nil)
	if !h.Alive() {
		t.Errorf("hierarchy died with a container left")
	}
	checkErrno(t, "rmdir x", x.Rmdir(), nil)
	checkLog(t, "last rmdir", &log, []string{
		"a.destroy /x/y", "b.destroy /x/y", "a.destroy /x", "b.destroy /x", "a.bind 0", "b.bind 0",
	})
	if h.Alive() {
		t.Errorf("hierarchy alive after its last container went")
	}
	if got := must(sys.MountString("a")).ID(); got != 3 {
		t.Errorf("a mounts as %d, want a new hierarchy 3", got)
	}
	checkClean(t, sys, recs, 0)
}
