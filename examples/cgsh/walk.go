package main

import (
	"slices"
	"strings"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// The name space of the shell is a tree of nodes, as the kernel's mount
// table makes one: host directories (which cgsh does not have; they exist
// only as places to mount on), the mounts of hierarchies, the containers and
// control files inside them, and the virtual /proc.

// A mountKey says where a mount is: on a host directory (parent nil), or on
// a container reached through the mount parent. A mount stacked on another
// mount's root is on that root container, reached through the lower mount,
// as the kernel stacks mounts.
type mountKey struct {
	parent *mountEnt
	host   string                // the host path, when parent is nil
	c      *containers.Container // the container covered, when parent is not nil
}

// A mountEnt is one mount of a hierarchy.
type mountEnt struct {
	h   *containers.Hierarchy
	key mountKey
}

// kind is the type of a node.
type kind int

const (
	kHost           kind = iota // a host directory (cgsh has no host files)
	kProc                       // /proc
	kProcTask                   // /proc/ID, for a live task
	kProcCgroups                // /proc/cgroups
	kProcTaskCgroup             // /proc/ID/cgroup
	kDir                        // a container
	kFile                       // a control file
)

// A node is a place in the name space that a path leads to.
type node struct {
	kind     kind
	host     string                // kHost: the path
	m        *mountEnt             // kDir, kFile: the mount it was reached through
	c        *containers.Container // kDir; kFile: the file's container
	name     string                // kFile: the control file's name
	task     *containers.Task      // kProcTask, kProcTaskCgroup
	viaMount bool                  // the step to this node entered a mount
}

func (n node) isDir() bool {
	switch n.kind {
	case kHost, kProc, kProcTask, kDir:
		return true
	}
	return false
}

// isMountRoot reports whether n is the root of the mount it was reached
// through.
func (n node) isMountRoot() bool {
	return n.kind == kDir && n.c == n.m.h.Root()
}

// key returns the key of a mount on n.
func (n node) key() mountKey {
	if n.kind == kHost {
		return mountKey{host: n.host}
	}
	return mountKey{parent: n.m, c: n.c}
}

// follow returns the root of the topmost mount on n, or n.
func (s *shell) follow(n node) node {
	if n.kind != kHost && n.kind != kDir {
		return n
	}
	for {
		e := s.mounts[n.key()]
		if e == nil {
			return n
		}
		n = node{kind: kDir, m: e, c: e.h.Root(), viaMount: true}
	}
}

// hostExists reports whether the host directory p exists: it is "/", or a
// directory a mount was asked for, or an ancestor of one (the directories
// a script on the kernel must have made to mount there).
func (s *shell) hostExists(p string) bool {
	return p == "/" || s.hostDirs[p]
}

// addHostDir records that host directory p and its ancestors exist.
func (s *shell) addHostDir(p string) {
	for p != "/" && p != "" {
		s.hostDirs[p] = true
		p = p[:strings.LastIndexByte(p, '/')]
	}
}

// step returns the entry name of directory n, following mounts. name is
// not "", "." or "..". A missing entry gives ENOENT, except in a host
// directory, where the step always succeeds and the caller asks hostExists.
func (s *shell) step(n node, name string) (node, error) {
	switch n.kind {
	case kHost:
		p := "/" + name
		if n.host != "/" {
			p = n.host + p
		}
		if p == "/proc" {
			return node{kind: kProc}, nil
		}
		return s.follow(node{kind: kHost, host: p}), nil
	case kProc:
		if name == "cgroups" {
			return node{kind: kProcCgroups}, nil
		}
		if t := s.procTask(name); t != nil {
			return node{kind: kProcTask, task: t}, nil
		}
		return node{}, unix.ENOENT
	case kProcTask:
		if name == "cgroup" {
			return node{kind: kProcTaskCgroup, task: n.task}, nil
		}
		return node{}, unix.ENOENT
	case kDir:
		if k, err := n.c.Child(name); err == nil {
			return s.follow(node{kind: kDir, m: n.m, c: k}), nil
		}
		if hasFile(n.c, name) {
			return node{kind: kFile, m: n.m, c: n.c, name: name}, nil
		}
		return node{}, unix.ENOENT
	}
	return node{}, unix.ENOTDIR
}

// procTask returns the live task that /proc names name, or nil. As in
// procfs, only the canonical decimal form names a task.
func (s *shell) procTask(name string) *containers.Task {
	if strings.HasPrefix(name, "0") {
		return nil
	}
	id, ok := parseID(name)
	if !ok {
		return nil
	}
	return s.tasks[id]
}

func hasFile(c *containers.Container, name string) bool {
	return slices.ContainsFunc(c.Files(), func(f containers.FileInfo) bool { return f.Name == name })
}

// walk resolves the absolute path p component by component, as the
// kernel's path walk does: every component but the last must be a
// directory that exists (ENOTDIR, ENOENT), "." stays and ".." goes back to
// where the walk came from. A trailing "/" requires a directory. A host
// directory that does not exist is an error only on the way (the final
// node is returned for the caller to judge), and not at all when anyHost is
// set: mount may name any host directory.
func (s *shell) walk(p string, anyHost bool) (node, error) {
	stack := []node{{kind: kHost, host: "/"}}
	comps := strings.SplitSeq(p, "/")
	for comp := range comps {
		cur := stack[len(stack)-1]
		if comp == "" || comp == "." || comp == ".." {
			if !cur.isDir() {
				return node{}, unix.ENOTDIR
			}
			if comp == ".." && len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if !cur.isDir() {
			return node{}, unix.ENOTDIR
		}
		if cur.kind == kHost && !anyHost && !s.hostExists(cur.host) {
			return node{}, unix.ENOENT
		}
		next, err := s.step(cur, comp)
		if err != nil {
			return node{}, err
		}
		stack = append(stack, next)
	}
	return stack[len(stack)-1], nil
}

// walkParent resolves the directory that would hold the last component of
// p, and returns that component: "" for the root, "." or ".." as written,
// and whether p ends in "/". The parent must be an existing directory.
func (s *shell) walkParent(p string) (parent node, last string, slash bool, err error) {
	trimmed := strings.TrimRight(p, "/")
	slash = len(trimmed) < len(p) && trimmed != ""
	i := strings.LastIndexByte(trimmed, '/')
	dir, last := trimmed[:i+1], trimmed[i+1:]
	parent, err = s.walk(dir, false)
	if err != nil {
		return node{}, "", false, err
	}
	if !parent.isDir() {
		return node{}, "", false, unix.ENOTDIR
	}
	if parent.kind == kHost && !s.hostExists(parent.host) {
		return node{}, "", false, unix.ENOENT
	}
	return parent, last, slash, nil
}

// isMountedOn reports whether a mount covers container c, by any path.
func (s *shell) isMountedOn(c *containers.Container) bool {
	for k := range s.mounts {
		if k.c == c {
			return true
		}
	}
	return false
}

// hasSubmounts reports whether a mount is on a place inside e.
func (s *shell) hasSubmounts(e *mountEnt) bool {
	for k := range s.mounts {
		if k.parent == e {
			return true
		}
	}
	return false
}
