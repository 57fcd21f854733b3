package kerneltest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskcontainers/containers"
	"golang.org/x/sys/unix"
)

// The differential tests run one script of operations on the kernel and on
// the library and compare the results, each rendered as a string: "ok" or
// an errno name, a file's content quoted, or a listing "name mode ...".
// The operations are "mkdir", "rmdir", "rename" (to arg), "write" (arg, in
// one write(2)), "read" and "ls"; paths are absolute in the hierarchy.

// Kernel performs script operations on a cgroup v1 tree mounted (or made)
// at Dir, through system calls.
type Kernel struct{ Dir string }

// Do performs one operation and renders its result.
func (k Kernel) Do(op, path, arg string) string {
	p := k.Dir + path
	switch op {
	case "mkdir":
		return ErrnoName(unix.Mkdir(p, 0o755))
	case "rmdir":
		return ErrnoName(unix.Rmdir(p))
	case "rename":
		return ErrnoName(unix.Rename(p, k.Dir+arg))
	case "write":
		fd, err := unix.Open(p, unix.O_WRONLY, 0)
		if err != nil {
			return ErrnoName(err)
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte(arg))
		return ErrnoName(err)
	case "read":
		return content(os.ReadFile(p))
	case "ls":
		return listing(os.ReadDir(p))
	}
	panic("unknown op " + op)
}

// Library performs the same operations on a hierarchy of the library.
type Library struct{ H *containers.Hierarchy }

// Do performs one operation and renders its result as Kernel.Do does.
func (l Library) Do(op, path, arg string) string {
	h := l.H
	switch op {
	case "mkdir":
		dir, name := filepath.Split(path)
		c, err := h.Lookup(filepath.Clean(dir))
		if err != nil {
			return ErrnoName(err)
		}
		_, err = c.Mkdir(name)
		return ErrnoName(err)
	case "rmdir":
		c, err := h.Lookup(path)
		if err != nil {
			return ErrnoName(err)
		}
		return ErrnoName(c.Rmdir())
	case "rename":
		return ErrnoName(h.Rename(path, arg))
	case "write":
		return ErrnoName(h.WriteFile(path, []byte(arg)))
	case "read":
		return content(h.ReadFile(path))
	case "ls":
		fspath := strings.Trim(path, "/")
		if fspath == "" {
			fspath = "."
		}
		return listing(fs.ReadDir(h.FS(), fspath))
	}
	panic("unknown op " + op)
}

func content(b []byte, err error) string {
	if err != nil {
		return ErrnoName(err)
	}
	return fmt.Sprintf("%q", b)
}

func listing(es []fs.DirEntry, err error) string {
	if err != nil {
		return ErrnoName(err)
	}
	var names []string
	for _, e := range es {
		info, _ := e.Info()
		names = append(names, e.Name()+" "+info.Mode().String())
	}
	return strings.Join(names, " ")
}
