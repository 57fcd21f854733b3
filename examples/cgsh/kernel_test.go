package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// The kernel differential test runs each testdata/kernel/*.cgsh both on
// cgsh and on the kernel's cgroup v1 file system, and compares what each
// command prints. On the kernel side a small interpreter of the same parsed
// commands makes the real system calls: script paths live under a private
// directory, tasks are real "sleep" processes (fork is a new process moved
// into its parent's containers), and task IDs are translated to and from
// their pids. Only what is comparable is allowed, and the interpreter stops
// the test on anything else: hierarchies must be named ones of the test's
// own (@NAME@, @NAME2@), /proc/cgroups and the listing of /proc are not
// read, and no write may name a process that is not the script's.

// absentPID is a pid no process has (pid_max is at most 2^22).
const absentPID = 1 << 30

// knownOptions are the kernel's cgroup mount options other than subsystem
// names (keys of key=value ones).
var knownOptions = map[string]bool{
	"all": true, "none": true, "noprefix": true, "clone_children": true, "xattr": true,
	"cpuset_v2_mode": true, "name": true, "release_agent": true,
}

// validName matches the names the kernel takes for a hierarchy.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// kmount is a mount the script made on the kernel.
type kmount struct{ dir, name string }

// kernelShell runs commands on the kernel.
type kernelShell struct {
	t      *testing.T
	root   string   // script paths are below it
	names  []string // the hierarchy names the script may use
	live   map[containers.TaskID]*exec.Cmd
	pids   map[containers.TaskID]int // every task the script made, live or not
	mounts []kmount                  // the script's mounts, oldest first
	subsys map[string]bool           // the kernel's subsystems and file system types
}

func kernelAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil || !regexp.MustCompile(`(?m)\tcgroup$`).Match(data) {
		return errors.New("no cgroup v1 file system")
	}
	return nil
}

func newKernelShell(t *testing.T, names []string) *kernelShell {
	root, err := os.MkdirTemp("", "cgsh-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	k := &kernelShell{
		t:      t,
		root:   root,
		names:  names,
		live:   make(map[containers.TaskID]*exec.Cmd),
		pids:   make(map[containers.TaskID]int),
		subsys: map[string]bool{"all": true},
	}
	for _, f := range []string{"/proc/cgroups", "/proc/filesystems"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if fields := strings.Fields(line); len(fields) > 0 && !strings.HasPrefix(line, "#") {
				k.subsys[fields[len(fields)-1]] = true // a file system type
				k.subsys[fields[0]] = true             // a subsystem
			}
		}
	}
	t.Cleanup(k.cleanup)
	return k
}

// real returns the real path of script path p.
func (k *kernelShell) real(p string) string {
	depth := 0
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				k.t.Fatalf("path %q leaves the test's directory", p)
			}
		default:
			depth++
		}
	}
	if p != "/proc" && !strings.HasPrefix(p, "/proc/") {
		return k.root + p
	}
	comps := strings.Split(p, "/")
	if len(comps) < 3 || comps[2] == "" {
		k.t.Fatalf("%q is not comparable with cgsh", p)
	}
	if id := comps[2]; id != "cgroups" {
		digits := strings.TrimLeft(id, "0")
		n, err := strconv.Atoi(digits)
		pid, ok := k.pids[containers.TaskID(n)]
		if !isDigits(id) || digits == "" || err != nil || !ok {
			comps[2] = "no-such-task-" + id
		} else {
			comps[2] = id[:len(id)-len(digits)] + strconv.Itoa(pid)
		}
	}
	return strings.Join(comps, "/")
}

// exec runs c on the kernel and returns what it prints.
func (k *kernelShell) exec(c command) (string, error) {
	switch c.op {
	case opNone:
		return "", nil
	case opMount:
		return "", k.mount(c)
	case opUmount:
		real := k.real(c.path)
		// The kernel finishes an rmdir asynchronously, and its tail can
		// keep the mount busy for a moment, more so on a loaded machine:
		// an EBUSY that goes away within a second is that, not the
		// script's answer.
		var err error
		for range 20 {
			if err = unix.Unmount(real, 0); err != unix.EBUSY {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return "", err
		}
		for i, m := range slices.Backward(k.mounts) {
			if m.dir == filepath.Clean(real) {
				k.mounts = slices.Delete(k.mounts, i, i+1)
				break
			}
		}
		return "", nil
	case opMkdir:
		if c.parents {
			return "", k.mkdirAll(c.path)
		}
		return "", unix.Mkdir(k.real(c.path), 0o755)
	case opRmdir:
		return "", unix.Rmdir(k.real(c.path))
	case opLs:
		fd, err := unix.Open(k.real(c.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		f := os.NewFile(uintptr(fd), c.path)
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return "", err
		}
		slices.Sort(names)
		var b strings.Builder
		for _, n := range names {
			b.WriteString(n + "\n")
		}
		return b.String(), nil
	case opCat:
		if c.path == "/proc/cgroups" {
			k.t.Fatalf("cat /proc/cgroups is not comparable with cgsh")
		}
		data, err := os.ReadFile(k.real(c.path))
		if err != nil {
			return "", err
		}
		if b := path.Base(c.path); b == "tasks" || b == "cgroup.procs" {
			return k.ids(string(data)), nil
		}
		return string(data), nil
	case opEcho:
		return "", k.echo(c)
	case opSpawn:
		return "", k.spawn(c.id)
	case opFork:
		return "", k.fork(c.id, c.child)
	case opKill:
		cmd := k.live[c.id]
		if cmd == nil {
			return "", unix.ESRCH
		}
		delete(k.live, c.id)
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil
	case opSleep:
		time.Sleep(c.delay)
		return "", nil
	}
	k.t.Fatalf("op %d", c.op)
	return "", nil
}

// ids translates a tasks file's pids into script IDs, dropping the pids of
// other processes, in ascending order.
func (k *kernelShell) ids(data string) string {
	var ids []int
	for f := range strings.FieldsSeq(data) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			k.t.Fatalf("tasks file line %q", f)
		}
		for id, p := range k.pids {
			if p == pid && k.live[id] != nil {
				ids = append(ids, int(id))
			}
		}
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d\n", id)
	}
	return b.String()
}

// mount runs a mount command, after checking that it can only touch the
// test's own named hierarchies.
func (k *kernelShell) mount(c command) error {
	if c.fstype != "cgroup" && k.subsys[c.fstype] {
		k.t.Fatalf("mount -t %s is not comparable with cgsh", c.fstype)
	}
	if !c.hasOpts {
		k.t.Fatalf("mount without -o binds the kernel's subsystems")
	}
	var flags uintptr
	var data []string
	name, safe := "", false
	for tok := range strings.SplitSeq(c.opts, ",") {
		key, _, _ := strings.Cut(tok, "=")
		switch {
		case tok == "remount":
			flags |= unix.MS_REMOUNT
			continue
		case vfsOptions[tok]:
			continue
		case tok == "ro" || k.subsys[tok]:
			k.t.Fatalf("mount option %q is not comparable with cgsh", tok)
		case key == "name":
			name = tok[len("name="):]
			if validName.MatchString(name) && !slices.Contains(k.names, name) {
				k.t.Fatalf("mount of hierarchy %q, which is not the test's", name)
			}
			safe = true
		case tok == "none":
			safe = true
		case !knownOptions[key]:
			safe = true // the kernel refuses an unknown subsystem at once
		}
		data = append(data, tok)
	}
	if !safe {
		k.t.Fatalf("mount -o %s may bind the kernel's subsystems", c.opts)
	}
	real := k.real(c.path)
	if !strings.HasPrefix(c.path, "/proc") && !k.inMount(real) {
		if err := os.MkdirAll(real, 0o755); err != nil {
			k.t.Fatal(err)
		}
	}
	if err := unix.Mount("cgroup", real, c.fstype, flags, strings.Join(data, ",")); err != nil {
		return err
	}
	if flags&unix.MS_REMOUNT == 0 {
		k.mounts = append(k.mounts, kmount{filepath.Clean(real), name})
	}
	return nil
}

// inMount reports whether real is at or below one of the script's mounts.
func (k *kernelShell) inMount(real string) bool {
	real = filepath.Clean(real)
	for _, m := range k.mounts {
		if real == m.dir || strings.HasPrefix(real, m.dir+"/") {
			return true
		}
	}
	return false
}

// mkdirAll runs "mkdir -p" as coreutils does.
func (k *kernelShell) mkdirAll(p string) error {
	if strings.HasPrefix(p, "/proc") {
		k.t.Fatalf("mkdir -p in /proc is not comparable with cgsh")
	}
	comps := strings.Split(p, "/")
	last := -1
	for i, c := range comps {
		if c != "" && c != "." && c != ".." {
			last = i
		}
	}
	var cur strings.Builder
	cur.WriteString(k.root)
	for i, c := range comps {
		if c == "" || c == "." {
			continue
		}
		cur.WriteString("/" + c)
		if c == ".." {
			continue
		}
		err := unix.Mkdir(cur.String(), 0o755)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if unix.Stat(cur.String(), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				continue
			}
			if i == last {
				return unix.EEXIST
			}
			return unix.ENOTDIR
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// echo runs "echo WORDS > FILE", with task IDs written to tasks files
// translated to pids.
func (k *kernelShell) echo(c command) error {
	data := c.data
	if b := path.Base(c.path); b == "tasks" || b == "cgroup.procs" {
		w := strings.TrimSpace(data)
		switch _, err := containers.ParseTaskID(w); {
		case w == "":
		case isDigits(w):
			id, _ := strconv.Atoi(w)
			if id == 0 {
				k.t.Fatalf("echo 0 > %s would move the test itself", c.path)
			}
			pid, ok := k.pids[containers.TaskID(id)]
			if !ok {
				pid = absentPID
			}
			data = strings.Replace(data, w, strconv.Itoa(pid), 1)
		case err == nil:
			k.t.Fatalf("echo %q > %s could name another process", w, c.path)
		}
	}
	fd, err := unix.Open(k.real(c.path), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if data == "" {
		return nil
	}
	_, err = unix.Write(fd, []byte(data))
	return err
}

func (k *kernelShell) start(id containers.TaskID) (*exec.Cmd, error) {
	if id == 0 {
		return nil, unix.EINVAL
	}
	if k.live[id] != nil {
		return nil, unix.EEXIST
	}
	cmd := exec.Command("sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.live[id] = cmd
	k.pids[id] = cmd.Process.Pid
	return cmd, nil
}

func (k *kernelShell) spawn(id containers.TaskID) error {
	_, err := k.start(id)
	return err
}

// fork starts a process for child and moves it into each of the test's
// hierarchies' containers that parent is in, through a mount of it.
func (k *kernelShell) fork(parent, child containers.TaskID) error {
	if k.live[parent] == nil {
		return unix.ESRCH
	}
	cmd, err := k.start(child)
	if err != nil {
		return err
	}
	want := k.memberships(k.pids[parent])
	for name, p := range want {
		if p == "/" {
			continue
		}
		i := slices.IndexFunc(k.mounts, func(m kmount) bool { return m.name == name })
		if i < 0 {
			k.t.Fatalf("fork: hierarchy %s is not mounted, so the child cannot follow its parent", name)
		}
		tasks := filepath.Join(k.mounts[i].dir, p, "tasks")
		if err := os.WriteFile(tasks, []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			k.t.Fatalf("fork: %v", err)
		}
	}
	if got := k.memberships(cmd.Process.Pid); !maps.Equal(got, want) {
		k.t.Fatalf("fork: the child is in %v, its parent in %v", got, want)
	}
	return nil
}

// memberships returns the path of pid in each of the test's hierarchies.
func (k *kernelShell) memberships(pid int) map[string]string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		k.t.Fatal(err)
	}
	m := make(map[string]string)
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, n := range k.names {
				if parts[1] == "name="+n {
					m[n] = parts[2]
				}
			}
		}
	}
	return m
}

// cleanup kills the script's processes, unmounts what it mounted, removes
// the containers it left in its hierarchies, and then its directory.
func (k *kernelShell) cleanup() {
	t := k.t
	for _, cmd := range k.live {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for range 20 {
		mnts := mountsBelow(t, k.root)
		if len(mnts) == 0 {
			break
		}
		for _, m := range slices.Backward(mnts) {
			if err := unix.Unmount(m, 0); err != nil {
				unix.Unmount(m, unix.MNT_DETACH)
			}
		}
	}
	if err := destroyHierarchies(k.names); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if mnts := mountsBelow(t, k.root); len(mnts) > 0 {
		t.Errorf("cleanup: %v still mounted; %s left in place", mnts, k.root)
		return
	}
	os.RemoveAll(k.root)
}

// destroyHierarchies makes sure the named hierarchies are gone: while one
// is alive, it mounts it, removes its containers, and unmounts it. The kernel
// removes containers and unmounted hierarchies asynchronously, and keeps a
// hierarchy that still had a dying container when it was unmounted, so
// this waits and tries again.
func destroyHierarchies(names []string) error {
	for range 5 {
		var alive []string
		for range 15 {
			alive = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !hierarchyAlive(n) })
			if len(alive) == 0 {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, name := range alive {
			if err := mountRemoveUnmount(name); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("hierarchies still alive after cleanup: %v", names)
}

// mountRemoveUnmount mounts the named hierarchy, removes its containers,
// and unmounts it.
func mountRemoveUnmount(name string) error {
	dir, err := os.MkdirTemp("", "cgsh-cleanup-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount("cgroup", dir, "cgroup", 0, "none,name="+name); err != nil {
		return fmt.Errorf("mount %s: %w", name, err)
	}
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		for range 100 {
			if err := unix.Rmdir(d); !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the removals finish
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("umount %s: %w", dir, err)
	}
	return nil
}

// mountsBelow returns the mount points at or below dir, in mount order.
func mountsBelow(t *testing.T, dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}

// hierarchyAlive reports whether the named hierarchy exists.
func hierarchyAlive(name string) bool {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return true
	}
	return regexp.MustCompile(`(?m)^\d+:name=` + regexp.QuoteMeta(name) + `:`).Match(data)
}

// procCgroupLine matches a line of /proc/ID/cgroup.
var procCgroupLine = regexp.MustCompile(`^\d+:([^:]*):(.*)$`)

// normalize makes the output of line comparable: the lines of
// /proc/ID/cgroup for the test's hierarchies only, with their IDs as "N",
// and tmp written as @TMP@.
func normalize(c command, out string, names []string, tmp string) string {
	out = strings.ReplaceAll(out, tmp, "@TMP@")
	if c.op != opCat || !regexp.MustCompile(`^/proc/[^/]+/cgroup$`).MatchString(c.path) || strings.HasPrefix(out, "error: ") {
		return out
	}
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		m := procCgroupLine.FindStringSubmatch(line)
		if m != nil && slices.ContainsFunc(names, func(n string) bool { return m[1] == "name="+n }) {
			b.WriteString("N:" + m[1] + ":" + m[2] + "\n")
		}
	}
	return b.String()
}

func TestKernelDifferential(t *testing.T) {
	if err := kernelAvailable(); err != nil {
		t.Skip(err)
	}
	scripts, err := filepath.Glob(filepath.Join("testdata", "kernel", "*.cgsh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	for i, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".cgsh")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("cgsh%d_%s_%d", os.Getpid(), hex.EncodeToString(rnd[:]), i)
			names := []string{base + "a", base + "b"}
			text := strings.NewReplacer("@NAME@", names[0], "@NAME2@", names[1]).Replace(string(src))
			lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			compareWithKernel(t, lines, names)
		})
	}
}

// compareWithKernel runs lines on the kernel and on cgsh and compares what
// each command prints, and what the release agent recorded.
func compareWithKernel(t *testing.T, lines []string, names []string) {
	ktmp, ctmp := setupTmp(t), setupTmp(t)
	k := newKernelShell(t, names)

	sys, err := containers.New(newSubsystems(&goldenTopology))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	sh := newShell(sys, w)

	for i, line := range lines {
		c, ok := parseLine(line)
		if !ok {
			t.Fatalf("line %d: %q is not a command", i+1, line)
		}
		if c.op == opNone {
			continue
		}
		kc, _ := parseLine(strings.ReplaceAll(line, "@TMP@", ktmp))
		kout, kerr := k.exec(kc)
		if kerr != nil {
			var errno unix.Errno
			if !errors.As(kerr, &errno) {
				t.Fatalf("line %d: %q: %v", i+1, line, kerr)
			}
			kout = "error: " + unix.ErrnoName(errno) + "\n"
		}
		sh.execLine(strings.ReplaceAll(line, "@TMP@", ctmp))
		w.Flush()
		cout := buf.String()
		buf.Reset()
		kout, cout = normalize(kc, kout, names, ktmp), normalize(c, cout, names, ctmp)
		if kout != cout {
			t.Errorf("line %d: %s\nkernel:\n%scgsh:\n%s", i+1, line, kout, cout)
		}
	}
	shutdown(sys)
	want := released(t, ctmp)
	got := ""
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = released(t, ktmp); got == want {
			break
		}
	}
	if got != want {
		t.Errorf("release agent calls: kernel %q, cgsh %q", got, want)
	}
}
