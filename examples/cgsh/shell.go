package main

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// A shell runs commands against one System. It is used by one goroutine.
type shell struct {
	sys      *containers.System
	out      *bufio.Writer
	mounts   map[mountKey]*mountEnt
	hostDirs map[string]bool                        // see hostExists
	tasks    map[containers.TaskID]*containers.Task // the live tasks
	sleep    func(time.Duration)
}

func newShell(sys *containers.System, out *bufio.Writer) *shell {
	return &shell{
		sys:      sys,
		out:      out,
		mounts:   make(map[mountKey]*mountEnt),
		hostDirs: make(map[string]bool),
		tasks:    make(map[containers.TaskID]*containers.Task),
		sleep:    time.Sleep,
	}
}

// execLine runs one line and writes what it prints.
func (s *shell) execLine(line string) {
	c, ok := parseLine(line)
	if !ok {
		s.out.WriteString("error: syntax: " + trimBlanks(line) + "\n")
		return
	}
	if err := s.exec(c); err != nil {
		s.out.WriteString("error: " + errName(err) + "\n")
	}
}

// errName returns the symbolic name of the errno in err.
func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return "errno " + strconv.Itoa(int(errno))
	}
	// Not an errno (the System was closed, say): one line all the same.
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func (s *shell) exec(c command) error {
	switch c.op {
	case opNone:
		return nil
	case opMount:
		return s.mount(c)
	case opUmount:
		return s.umount(c.path)
	case opMkdir:
		if c.parents {
			return s.mkdirAll(c.path)
		}
		return s.mkdir(c.path)
	case opRmdir:
		return s.rmdir(c.path)
	case opLs:
		return s.ls(c.path)
	case opCat:
		return s.cat(c.path)
	case opEcho:
		return s.echo(c.path, c.data)
	case opSpawn:
		t, err := s.sys.NewTask(c.id)
		if err != nil {
			return err
		}
		s.tasks[c.id] = t
		return nil
	case opFork:
		parent := s.tasks[c.id]
		if parent == nil {
			return unix.ESRCH
		}
		t, err := s.sys.Fork(parent, c.child)
		if err != nil {
			return err
		}
		s.tasks[c.child] = t
		return nil
	case opKill:
		t := s.tasks[c.id]
		if t == nil {
			return unix.ESRCH
		}
		delete(s.tasks, c.id)
		return s.sys.Exit(t)
	case opSleep:
		s.out.Flush()
		s.sleep(c.delay)
		return nil
	}
	return unix.ENOSYS
}

// vfsOptions are options that mount(8) takes for itself and that change
// nothing on a cgroup hierarchy; they are dropped from -o, as mount(8)
// does before it passes the rest to the kernel.
var vfsOptions = map[string]bool{
	"rw": true, "defaults": true, "nosuid": true, "suid": true, "nodev": true, "dev": true,
	"noexec": true, "exec": true, "relatime": true, "norelatime": true, "noatime": true,
	"atime": true, "nodiratime": true, "diratime": true, "strictatime": true, "async": true,
}

// mount runs "mount -t TYPE -o OPTS SOURCE DIR", with the kernel's order of
// checks: the mount point is looked up first (ENOENT, ENOTDIR on the way),
// then the file system type (ENODEV), then the options find or make the
// hierarchy (EINVAL, EBUSY), and only then is the mount point itself judged:
// a file gives ENOTDIR, and the hierarchy already mounted at the top of DIR
// gives EBUSY; either way the hierarchy found is let go again.
func (s *shell) mount(c command) error {
	n, err := s.walk(c.path, true)
	if err != nil {
		return err
	}
	if n.kind == kHost {
		s.addHostDir(n.host)
	}
	if c.fstype != "cgroup" {
		return unix.ENODEV
	}
	var opts []string
	remount := false
	for tok := range strings.SplitSeq(c.opts, ",") {
		switch {
		case tok == "remount":
			remount = true
		case tok == "ro":
			return unix.EINVAL // read-only mounts are not modelled
		case !vfsOptions[tok]:
			opts = append(opts, tok)
		}
	}
	data := strings.Join(opts, ",")
	if remount {
		if !n.isMountRoot() {
			return unix.EINVAL
		}
		o, err := containers.ParseOptions(data)
		if err != nil {
			return unix.EINVAL
		}
		return n.m.h.Remount(o)
	}
	h, err := s.sys.MountString(data)
	if err != nil {
		return err
	}
	switch {
	case !n.isDir():
		err = unix.ENOTDIR
	case n.kind == kHost && n.host == "/", n.kind == kProc, n.kind == kProcTask:
		err = unix.EBUSY // cgsh keeps "/" and /proc uncovered
	case n.isMountRoot() && n.m.h == h:
		err = unix.EBUSY // the kernel refuses the same hierarchy on itself
	}
	if err != nil {
		if uerr := h.Unmount(); uerr != nil {
			return uerr
		}
		return err
	}
	e := &mountEnt{h: h, key: n.key()}
	s.mounts[e.key] = e
	return nil
}

// umount runs "umount DIR": DIR must be the root of a mount (EINVAL), with
// no mount inside it (EBUSY).
func (s *shell) umount(p string) error {
	n, err := s.walk(p, false)
	if err != nil {
		return err
	}
	switch {
	case n.isMountRoot():
		if s.hasSubmounts(n.m) {
			return unix.EBUSY
		}
		delete(s.mounts, n.m.key)
		return n.m.h.Unmount()
	case n.kind == kHost && !s.hostExists(n.host):
		return unix.ENOENT
	case n.kind == kProc:
		return unix.EBUSY // procfs itself
	}
	return unix.EINVAL
}

// mkdir runs "mkdir DIR".
func (s *shell) mkdir(p string) error {
	parent, last, _, err := s.walkParent(p)
	if err != nil {
		return err
	}
	if last == "" || last == "." || last == ".." {
		return unix.EEXIST
	}
	n, err := s.step(parent, last)
	if err == nil && (n.kind != kHost || s.hostExists(n.host)) {
		return unix.EEXIST
	}
	if parent.kind != kDir {
		return unix.ENOENT // cgsh has no host directories, and /proc makes none
	}
	_, err = parent.c.Mkdir(last)
	return err
}

// mkdirAll runs "mkdir -p DIR": each missing level is made, a level that is
// a directory is passed, and a level that is a file gives EEXIST if it is
// the last, else ENOTDIR.
func (s *shell) mkdirAll(p string) error {
	comps := strings.Split(p, "/")
	lastReal := -1
	for i, comp := range comps {
		if comp != "" && comp != "." && comp != ".." {
			lastReal = i
		}
	}
	stack := []node{{kind: kHost, host: "/"}}
	for i, comp := range comps {
		cur := stack[len(stack)-1]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		next, err := s.step(cur, comp)
		if errors.Is(err, unix.ENOENT) && cur.kind == kDir {
			var k *containers.Container
			if k, err = cur.c.Mkdir(comp); err == nil {
				next = node{kind: kDir, m: cur.m, c: k}
			}
		}
		if err != nil {
			return err
		}
		if next.kind == kHost && !s.hostExists(next.host) {
			return unix.ENOENT
		}
		if !next.isDir() {
			if i == lastReal {
				return unix.EEXIST
			}
			return unix.ENOTDIR
		}
		stack = append(stack, next)
	}
	return nil
}

// rmdir runs "rmdir DIR", with the kernel's checks: a last component "."
// gives EINVAL, ".." ENOTEMPTY, the root EBUSY; a file ENOTDIR; a mount
// point EBUSY.
func (s *shell) rmdir(p string) error {
	parent, last, _, err := s.walkParent(p)
	if err != nil {
		return err
	}
	switch last {
	case "":
		return unix.EBUSY
	case ".":
		return unix.EINVAL
	case "..":
		return unix.ENOTEMPTY
	}
	n, err := s.step(parent, last)
	if err != nil {
		return err
	}
	switch n.kind {
	case kDir:
		if n.viaMount || s.isMountedOn(n.c) {
			return unix.EBUSY
		}
		return n.c.Rmdir()
	case kHost:
		return unix.ENOENT
	case kProc:
		return unix.EBUSY // a mount point
	case kFile, kProcCgroups:
		return unix.ENOTDIR
	}
	return unix.EPERM // procfs's task directories refuse
}

// ls runs "ls DIR".
func (s *shell) ls(p string) error {
	n, err := s.walk(p, false)
	if err != nil {
		return err
	}
	var names []string
	switch n.kind {
	case kDir:
		for _, f := range n.c.Files() {
			names = append(names, f.Name)
		}
		for _, k := range n.c.Children() {
			names = append(names, k.Name())
		}
	case kProc:
		names = append(names, "cgroups")
		for id := range s.tasks {
			names = append(names, strconv.Itoa(int(id)))
		}
	case kProcTask:
		names = append(names, "cgroup")
	case kHost:
		return unix.ENOENT
	default:
		return unix.ENOTDIR
	}
	slices.Sort(names)
	for _, name := range names {
		s.out.WriteString(name + "\n")
	}
	return nil
}

// cat runs "cat FILE".
func (s *shell) cat(p string) error {
	n, err := s.walk(p, false)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch n.kind {
	case kFile:
		data, err := n.c.ReadFile(n.name)
		if err != nil {
			return err
		}
		buf.Write(data)
	case kProcCgroups:
		if err := s.sys.WriteProcCgroups(&buf); err != nil {
			return err
		}
	case kProcTaskCgroup:
		if err := s.sys.WriteProcCgroup(&buf, n.task); err != nil {
			return err
		}
	case kHost:
		return unix.ENOENT
	default:
		return unix.EISDIR
	}
	s.out.Write(buf.Bytes())
	return nil
}

// echo runs "echo WORDS > FILE" as a shell's redirect and one write(2):
// the open may create the file, so a directory (or a path ending in "/")
// gives EISDIR and a missing file EACCES in a container (cgroupfs makes no
// files) or ENOENT elsewhere; the write of nothing (echo -n) does nothing.
func (s *shell) echo(p, data string) error {
	parent, last, slash, err := s.walkParent(p)
	if err != nil {
		return err
	}
	if slash || last == "" || last == "." || last == ".." {
		return unix.EISDIR
	}
	n, err := s.step(parent, last)
	if err != nil {
		if parent.kind == kDir {
			return unix.EACCES
		}
		return err
	}
	switch n.kind {
	case kFile:
		return n.c.WriteFile(n.name, []byte(data))
	case kProcCgroups:
		if data != "" {
			return unix.EIO
		}
		return nil
	case kProcTaskCgroup:
		if data != "" {
			return unix.EINVAL
		}
		return nil
	case kHost:
		return unix.ENOENT
	}
	return unix.EISDIR
}
