package containers

import (
	"bytes"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FS returns a read-only view of the hierarchy as an io/fs file system, as
// the kernel's cgroup filesystem shows it: a directory per container and a
// file per control file, with the kernel's modes (0555 for the root
// directory, 0755 for the others, 0644 or 0444 for files). A file's content
// is read when it is opened; its size is reported as 0, as cgroupfs does.
// The view follows the hierarchy as it changes.
func (h *Hierarchy) FS() fs.FS { return hierFS{h} }

type hierFS struct{ h *Hierarchy }

// resolve finds the container or control file at name, a valid fs path.
func (f hierFS) resolve(op, name string) (*Container, *fileEntry, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if !f.h.alive.Load() {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: unix.ENOENT}
	}
	c := f.h.root
	if name == "." {
		return c, nil, nil
	}
	elems := strings.Split(name, "/")
	for i, e := range elems {
		if k := c.child(e); k != nil {
			c = k
			continue
		}
		if fe := c.file(e); fe != nil {
			if i == len(elems)-1 {
				return c, fe, nil
			}
			return nil, nil, &fs.PathError{Op: op, Path: name, Err: unix.ENOTDIR}
		}
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: unix.ENOENT}
	}
	return c, nil, nil
}

func (f hierFS) Open(name string) (fs.File, error) {
	c, fe, err := f.resolve("open", name)
	if err != nil {
		return nil, err
	}
	if fe == nil {
		return &dirFile{c: c, info: dirInfo(c)}, nil
	}
	data, err := c.ReadFile(fe.name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapPathErr(err)}
	}
	return &ctlFile{Reader: bytes.NewReader(data), info: fileInfo{name: fe.name, mode: fe.mode()}}, nil
}

func (f hierFS) Stat(name string) (fs.FileInfo, error) {
	c, fe, err := f.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	if fe == nil {
		return dirInfo(c), nil
	}
	return fileInfo{name: fe.name, mode: fe.mode()}, nil
}

func (f hierFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c, fe, err := f.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	if fe != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: unix.ENOTDIR}
	}
	return entries(c), nil
}

func (f hierFS) ReadFile(name string) ([]byte, error) {
	c, fe, err := f.resolve("read", name)
	if err != nil {
		return nil, err
	}
	if fe == nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: unix.EISDIR}
	}
	data, err := c.ReadFile(fe.name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: unwrapPathErr(err)}
	}
	return data, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// entries lists c's control files and children, sorted by name.
func entries(c *Container) []fs.DirEntry {
	var es []fs.DirEntry
	for _, fi := range c.Files() {
		es = append(es, fs.FileInfoToDirEntry(fileInfo{name: fi.Name, mode: fi.Mode}))
	}
	for _, k := range c.Children() {
		es = append(es, fs.FileInfoToDirEntry(dirInfo(k)))
	}
	slices.SortFunc(es, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return es
}

func dirInfo(c *Container) fileInfo {
	if c.parent == nil {
		return fileInfo{name: ".", mode: fs.ModeDir | 0o555}
	}
	return fileInfo{name: c.Name(), mode: fs.ModeDir | 0o755}
}

type fileInfo struct {
	name string
	mode fs.FileMode
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return 0 }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// ctlFile is an open control file: the content read at open.
type ctlFile struct {
	*bytes.Reader
	info fileInfo
}

func (f *ctlFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *ctlFile) Close() error               { return nil }

// dirFile is an open container directory.
type dirFile struct {
	c       *Container
	info    fileInfo
	entries []fs.DirEntry // read at the first ReadDir
	read    bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: unix.EISDIR}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.entries, d.read = entries(d.c), true
	}
	if n <= 0 {
		es := d.entries
		d.entries = nil
		return es, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	es := d.entries[:n:n]
	d.entries = d.entries[n:]
	return es, nil
}
