package containers

import (
	"bytes"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultMaxWriteSize is the largest write a control file takes unless its
// File says otherwise; a longer one gives E2BIG.
const DefaultMaxWriteSize = 4096

// A File is a control file of a subsystem (the kernel's cftype): a name and
// handlers. A file has one reader (ReadUint, ReadInt or Read) and at most
// one writer (WriteUint, WriteInt or Write). Its mode is 0644 when it has a
// writer and 0444 otherwise.
//
// The framework names it "<subsystem>.<Name>" unless the hierarchy is
// mounted noprefix, and applies the kernel's rules before any handler runs:
// a removed container gives ENODEV, a 0-byte write does nothing, a write
// longer than MaxWriteSize gives E2BIG, and a write to a file without a
// writer gives EINVAL. WriteUint and WriteInt get the value parsed as the kernel's
// kstrtoull and kstrtoll do (base 0, one trailing newline allowed, EINVAL for
// anything else, ERANGE on overflow); Write gets the bytes as written.
//
// Write handlers run with the structure lock held, as other callbacks do;
// read handlers run without it, so a subsystem synchronises the state they
// read itself (atomics, or a lock of its own).
type File struct {
	Name string

	ReadUint func(fc *FileContext) uint64 // read as "%d\n"
	ReadInt  func(fc *FileContext) int64  // read as "%d\n"
	Read     func(fc *FileContext, w io.Writer) error

	WriteUint func(fc *FileContext, v uint64) error
	WriteInt  func(fc *FileContext, v int64) error
	Write     func(fc *FileContext, data []byte) error

	MaxWriteSize int  // 0 means DefaultMaxWriteSize
	RootOnly     bool // only in a hierarchy's root
	ChildOnly    bool // not in a hierarchy's root
}

// FileContext is what a file handler is called with.
type FileContext struct {
	Container *Container
	State     State // the subsystem's state of Container; nil for core files
	Caller    *Task // the task doing the read or write, if the host named one
}

// FileInfo describes a control file of a container.
type FileInfo struct {
	Name string
	Mode fs.FileMode // 0644 or 0444
}

// fileEntry is a control file as a hierarchy lists it.
type fileEntry struct {
	name string // with the prefix
	f    File
	ss   *subsys // nil for a core file
}

func (fe *fileEntry) mode() fs.FileMode {
	if fe.f.WriteUint != nil || fe.f.WriteInt != nil || fe.f.Write != nil {
		return 0o644
	}
	return 0o444
}

func (fe *fileEntry) in(c *Container) bool {
	if c.parent == nil {
		return !fe.f.ChildOnly
	}
	return !fe.f.RootOnly
}

// coreFiles are the files of every hierarchy, in every container unless
// RootOnly.
var coreFiles = []File{
	{Name: "tasks", Read: readTasks, Write: writeTasks},
	{Name: "cgroup.procs", Read: readProcs, Write: writeProcs},
	{
		Name:      "notify_on_release",
		ReadUint:  func(fc *FileContext) uint64 { return b2u(fc.Container.notify.Load()) },
		WriteUint: func(fc *FileContext, v uint64) error { fc.Container.notify.Store(v != 0); return nil },
	},
	{
		Name:      "cgroup.clone_children",
		ReadUint:  func(fc *FileContext) uint64 { return b2u(fc.Container.cloneChildren.Load()) },
		WriteUint: func(fc *FileContext, v uint64) error { fc.Container.cloneChildren.Store(v != 0); return nil },
	},
	{Name: "release_agent", Read: readAgent, Write: writeAgent, MaxWriteSize: maxAgentLen, RootOnly: true},
	{Name: "cgroup.sane_behavior", ReadUint: func(*FileContext) uint64 { return 0 }, RootOnly: true},
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func isCoreFile(name string) bool {
	return slices.ContainsFunc(coreFiles, func(f File) bool { return f.Name == name })
}

// checkFiles validates a subsystem's files at New.
func checkFiles(ssName string, files []File) ([]File, error) {
	seen := make(map[string]bool)
	for _, f := range files {
		bad := f.Name == "" || len(f.Name) > 64 || strings.ContainsAny(f.Name, "/\x00\n") ||
			f.Name == "." || f.Name == ".." || seen[f.Name] || isCoreFile(f.Name) || isCoreFile(ssName+"."+f.Name) ||
			f.MaxWriteSize < 0 || (f.RootOnly && f.ChildOnly)
		readers := countNonNil(f.ReadUint != nil, f.ReadInt != nil, f.Read != nil)
		writers := countNonNil(f.WriteUint != nil, f.WriteInt != nil, f.Write != nil)
		if bad || readers != 1 || writers > 1 {
			return nil, pathError("new", ssName+"."+f.Name, unix.EINVAL)
		}
		seen[f.Name] = true
	}
	return slices.Clone(files), nil
}

func countNonNil(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// hierarchyFiles returns the files of a hierarchy with the subsystems ids,
// sorted by name, and an index by name.
func (sys *System) hierarchyFiles(ids []int, noprefix bool) ([]*fileEntry, map[string]*fileEntry) {
	var fes []*fileEntry
	for _, f := range coreFiles {
		fes = append(fes, &fileEntry{name: f.Name, f: f})
	}
	for _, id := range ids {
		e := sys.subsys[id]
		for _, f := range e.files {
			name := e.name + "." + f.Name
			if noprefix {
				name = f.Name
			}
			fes = append(fes, &fileEntry{name: name, f: f, ss: e})
		}
	}
	slices.SortFunc(fes, func(a, b *fileEntry) int { return strings.Compare(a.name, b.name) })
	byName := make(map[string]*fileEntry, len(fes))
	for _, fe := range fes {
		byName[fe.name] = fe
	}
	return fes, byName
}

// file returns c's control file name, or nil.
func (c *Container) file(name string) *fileEntry {
	fe := c.h.binding.Load().byName[name]
	if fe == nil || !fe.in(c) {
		return nil
	}
	return fe
}

// Files returns c's control files sorted by name.
func (c *Container) Files() []FileInfo {
	var out []FileInfo
	for _, fe := range c.h.binding.Load().files {
		if fe.in(c) {
			out = append(out, FileInfo{Name: fe.name, Mode: fe.mode()})
		}
	}
	return out
}

func (c *Container) fileContext(fe *fileEntry, caller *Task) *FileContext {
	fc := &FileContext{Container: c, Caller: caller}
	if fe.ss != nil {
		if s := c.css[fe.ss.id].Load(); s != nil {
			fc.State = s.state
		}
	}
	return fc
}

// ReadFile returns the content of c's control file name, in the kernel's
// format. An unknown file gives ENOENT, a removed container ENODEV.
func (c *Container) ReadFile(name string) ([]byte, error) {
	return c.ReadFileAs(nil, name)
}

// ReadFileAs is ReadFile on behalf of task caller, for files whose content
// depends on the reader.
func (c *Container) ReadFileAs(caller *Task, name string) ([]byte, error) {
	if c.removed.Load() {
		return nil, pathError("read", joinPath(c.Path(), name), unix.ENODEV)
	}
	fe := c.file(name)
	if fe == nil {
		return nil, pathError("read", joinPath(c.Path(), name), unix.ENOENT)
	}
	fc := c.fileContext(fe, caller)
	if fe.ss != nil && fc.State == nil { // its subsystem is moving (remount)
		return nil, pathError("read", joinPath(c.Path(), name), unix.ENOENT)
	}
	var out []byte
	switch {
	case fe.f.ReadUint != nil:
		out = append(strconv.AppendUint(make([]byte, 0, 24), fe.f.ReadUint(fc), 10), '\n')
	case fe.f.ReadInt != nil:
		out = append(strconv.AppendInt(make([]byte, 0, 24), fe.f.ReadInt(fc), 10), '\n')
	default:
		var buf bytes.Buffer
		if err := fe.f.Read(fc, &buf); err != nil {
			return nil, pathError("read", joinPath(c.Path(), name), err)
		}
		out = buf.Bytes()
	}
	if c.removed.Load() {
		return nil, pathError("read", joinPath(c.Path(), name), unix.ENODEV)
	}
	return out, nil
}

// WriteFile writes data to c's control file name, as one write(2) would:
// the kernel's rules for the file apply, and a failed write changes nothing.
func (c *Container) WriteFile(name string, data []byte) error {
	return c.WriteFileAs(nil, name, data)
}

// WriteFileAs is WriteFile on behalf of task caller: writing "0" to tasks
// or cgroup.procs moves the caller (ESRCH without one).
func (c *Container) WriteFileAs(caller *Task, name string, data []byte) error {
	path := joinPath(c.Path(), name)
	sys := c.h.sys
	if err := sys.lockOpen("write", path); err != nil {
		return err
	}
	defer sys.mu.Unlock()
	if err := c.writeLocked(caller, name, data); err != nil {
		return pathError("write", path, err)
	}
	return nil
}

func (c *Container) writeLocked(caller *Task, name string, data []byte) error {
	if c.removed.Load() {
		return unix.ENODEV
	}
	fe := c.file(name)
	if fe == nil {
		return unix.ENOENT
	}
	if len(data) == 0 {
		return nil
	}
	f := &fe.f
	limit := f.MaxWriteSize
	if limit == 0 {
		limit = DefaultMaxWriteSize
	}
	if len(data) > limit {
		return unix.E2BIG
	}
	if f.WriteUint == nil && f.WriteInt == nil && f.Write == nil {
		return unix.EINVAL
	}
	fc := c.fileContext(fe, caller)
	switch {
	case f.WriteUint != nil:
		v, err := ParseUint(string(data))
		if err != nil {
			return err
		}
		return f.WriteUint(fc, v)
	case f.WriteInt != nil:
		v, err := ParseInt(string(data))
		if err != nil {
			return err
		}
		return f.WriteInt(fc, v)
	default:
		return f.Write(fc, data)
	}
}

// ReadFile reads the control file at path ("/a/b/tasks") of h.
func (h *Hierarchy) ReadFile(path string) ([]byte, error) {
	return h.ReadFileAs(nil, path)
}

// ReadFileAs is ReadFile on behalf of task caller (see Container.ReadFileAs).
func (h *Hierarchy) ReadFileAs(caller *Task, path string) ([]byte, error) {
	c, name, err := h.filePath("read", path)
	if err != nil {
		return nil, err
	}
	return c.ReadFileAs(caller, name)
}

// WriteFile writes the control file at path ("/a/b/tasks") of h.
func (h *Hierarchy) WriteFile(path string, data []byte) error {
	return h.WriteFileAs(nil, path, data)
}

// WriteFileAs is WriteFile on behalf of task caller (see
// Container.WriteFileAs).
func (h *Hierarchy) WriteFileAs(caller *Task, path string, data []byte) error {
	c, name, err := h.filePath("write", path)
	if err != nil {
		return err
	}
	return c.WriteFileAs(caller, name, data)
}

func (h *Hierarchy) filePath(op, path string) (*Container, string, error) {
	dir, name := splitPath(path)
	if name == "" {
		return nil, "", pathError(op, path, unix.EISDIR)
	}
	c, err := h.lookup(dir)
	if err != nil {
		return nil, "", pathError(op, path, err)
	}
	if c.child(name) != nil {
		return nil, "", pathError(op, path, unix.EISDIR)
	}
	return c, name, nil
}

// ParseUint parses a control-file write as the kernel's kstrtoull(s, 0):
// an optional "+", then "0x" hex, "0" octal or decimal digits, then at most
// one "\n". Junk gives EINVAL, overflow ERANGE.
func ParseUint(s string) (uint64, error) {
	s = strings.TrimPrefix(s, "+")
	return parseUint(s)
}

// ParseInt parses a control-file write as the kernel's kstrtoll(s, 0): as
// ParseUint, with an optional "-" instead of "+".
func ParseInt(s string) (int64, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else {
		s = strings.TrimPrefix(s, "+")
	}
	u, err := parseUint(s)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, unix.ERANGE
		}
		return -int64(u), nil
	}
	if u > 1<<63-1 {
		return 0, unix.ERANGE
	}
	return int64(u), nil
}

func parseUint(s string) (uint64, error) {
	base := uint64(10)
	switch {
	case len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexDigit(s[2]) >= 0:
		base, s = 16, s[2:]
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	var v uint64
	n := 0
	overflow := false
	for n < len(s) {
		d := hexDigit(s[n])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (1<<64-1-uint64(d))/base {
			overflow = true
		}
		v = v*base + uint64(d)
		n++
	}
	if overflow { // kstrtoull: overflow wins over trailing junk
		return 0, unix.ERANGE
	}
	if n == 0 {
		return 0, unix.EINVAL
	}
	if rest := s[n:]; rest != "" && rest != "\n" {
		return 0, unix.EINVAL
	}
	return v, nil
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// ParseTaskID parses a tasks or cgroup.procs write as today's kernel does:
// surrounding whitespace is stripped, then one signed integer in base 0
// that fits a pid; anything else, or a negative ID, gives EINVAL.
func ParseTaskID(s string) (TaskID, error) {
	v, err := ParseInt(StripSpace(s))
	if err != nil || v < 0 || v > 1<<31-1 {
		return 0, unix.EINVAL
	}
	return TaskID(v), nil
}

// isSpace is the kernel's isspace, which also counts 0xA0 (a no-break
// space in Latin-1) as a space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == 0xa0
}

// StripSpace removes leading and trailing spaces as the kernel's strstrip
// does (its isspace: space, \t, \n, \v, \f, \r and 0xA0), for File.Write
// handlers that parse text as the kernel's do.
func StripSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func writeTaskFile(fc *FileContext, data []byte, process bool) error {
	id, err := ParseTaskID(string(data))
	if err != nil {
		return err
	}
	c := fc.Container
	sys := c.h.sys
	var t *Task
	if id == 0 {
		t = fc.Caller
		if t == nil || t.exited.Load() {
			return unix.ESRCH
		}
	} else if t = sys.tasks.lookup(id); t == nil {
		return unix.ESRCH
	}
	return sys.attachLocked(c, t, process)
}

func writeTasks(fc *FileContext, data []byte) error { return writeTaskFile(fc, data, false) }
func writeProcs(fc *FileContext, data []byte) error { return writeTaskFile(fc, data, true) }

func readTasks(fc *FileContext, w io.Writer) error {
	return writeIDs(w, slices.Compact(slices.Sorted(fc.Container.Tasks())))
}

func readProcs(fc *FileContext, w io.Writer) error {
	return writeIDs(w, slices.Compact(slices.Sorted(fc.Container.Procs())))
}

func writeIDs(w io.Writer, ids []TaskID) error {
	b := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

func readAgent(fc *FileContext, w io.Writer) error {
	_, err := io.WriteString(w, fc.Container.h.ReleaseAgent()+"\n")
	return err
}

func writeAgent(fc *FileContext, data []byte) error {
	p := StripSpace(string(data))
	fc.Container.h.agent.Store(&p)
	return nil
}
