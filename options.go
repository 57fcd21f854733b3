package containers

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Options are the mount options of a hierarchy, as the kernel's cgroup v1
// filesystem takes them ("cpuset,noprefix,release_agent=/sbin/agent").
// ParseOptions reads the kernel's text form and String writes it.
type Options struct {
	// Subsystems names the subsystems to bind. With neither Subsystems,
	// All, None nor Name, every subsystem is meant, as the kernel does
	// for an empty option string.
	Subsystems []string
	All        bool   // every subsystem ("all"); not with Subsystems
	None       bool   // no subsystem ("none"); requires Name
	Name       string // "name=": 1 to 63 bytes of [A-Za-z0-9._-]

	NoPrefix      bool // control files without "<subsystem>."; only for {cpuset} or none
	Xattr         bool // accepted and shown, as the kernel's "xattr"
	CPUSetV2Mode  bool // accepted and shown, as "cpuset_v2_mode"; requires cpuset
	CloneChildren bool // the root's cgroup.clone_children starts at 1

	// ReleaseAgent is the path of the program run when a container with
	// notify_on_release becomes empty. Empty means "not given": a remount
	// without it keeps the current path.
	ReleaseAgent string
}

// maxNameLen is the longest hierarchy name (MAX_CGROUP_ROOT_NAMELEN - 1).
const maxNameLen = 63

// maxAgentLen is the longest release agent path (PATH_MAX - 1).
const maxAgentLen = 4095

// ParseOptions parses the kernel's comma-separated mount option string:
// subsystem names, "all", "none", "name=N", "noprefix", "xattr",
// "cpuset_v2_mode", "clone_children" and "release_agent=P". Empty tokens are
// ignored. A repeated name= or release_agent=, a bad name, or an unknown
// key=value gives EINVAL; whether the subsystem names exist is checked by
// Mount. Errors are *fs.PathError with Op "parse".
func ParseOptions(s string) (Options, error) {
	var o Options
	seenName, seenAgent := false, false
	for tok := range strings.SplitSeq(s, ",") {
		switch {
		case tok == "":
		case tok == "all":
			o.All = true
		case tok == "none":
			o.None = true
		case tok == "noprefix":
			o.NoPrefix = true
		case tok == "xattr":
			o.Xattr = true
		case tok == "cpuset_v2_mode":
			o.CPUSetV2Mode = true
		case tok == "clone_children":
			o.CloneChildren = true
		case strings.HasPrefix(tok, "release_agent="):
			if seenAgent {
				return Options{}, pathError("parse", s, unix.EINVAL)
			}
			seenAgent = true
			o.ReleaseAgent = tok[len("release_agent="):]
		case strings.HasPrefix(tok, "name="):
			if seenName {
				return Options{}, pathError("parse", s, unix.EINVAL)
			}
			seenName = true
			o.Name = tok[len("name="):]
			if !validHierarchyName(o.Name) {
				return Options{}, pathError("parse", s, unix.EINVAL)
			}
		case strings.Contains(tok, "="):
			return Options{}, pathError("parse", s, unix.EINVAL)
		default:
			o.Subsystems = append(o.Subsystems, tok)
		}
	}
	return o, nil
}

func validHierarchyName(n string) bool {
	if n == "" || len(n) > maxNameLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// String returns the options in the kernel's text form and order:
// subsystems, noprefix, xattr, cpuset_v2_mode, release_agent=, clone_children,
// name=. "all" and "none" are written as given.
func (o Options) String() string {
	var parts []string
	if o.All {
		parts = append(parts, "all")
	}
	if o.None {
		parts = append(parts, "none")
	}
	parts = append(parts, o.Subsystems...)
	if o.NoPrefix {
		parts = append(parts, "noprefix")
	}
	if o.Xattr {
		parts = append(parts, "xattr")
	}
	if o.CPUSetV2Mode {
		parts = append(parts, "cpuset_v2_mode")
	}
	if o.ReleaseAgent != "" {
		parts = append(parts, "release_agent="+o.ReleaseAgent)
	}
	if o.CloneChildren {
		parts = append(parts, "clone_children")
	}
	if o.Name != "" {
		parts = append(parts, "name="+o.Name)
	}
	return strings.Join(parts, ",")
}

// resolved is a validated mount request.
type resolved struct {
	mask  uint64 // subsystem IDs
	none  bool
	name  string
	flags hierFlags
	clone bool
	agent string
}

// hierFlags are the options that must match on remount.
type hierFlags struct {
	noprefix, xattr, cpusetV2 bool
}

// resolve checks o against the System's subsystems with the kernel's rules
// (check_cgroupfs_options).
func (sys *System) resolve(o Options) (resolved, error) {
	r := resolved{
		none:  o.None,
		name:  o.Name,
		flags: hierFlags{o.NoPrefix, o.Xattr, o.CPUSetV2Mode},
		clone: o.CloneChildren,
		agent: o.ReleaseAgent,
	}
	if o.Name != "" && !validHierarchyName(o.Name) {
		return r, unix.EINVAL
	}
	if len(o.ReleaseAgent) > maxAgentLen || strings.ContainsRune(o.ReleaseAgent, 0) {
		return r, unix.EINVAL
	}
	for _, n := range o.Subsystems {
		e := sys.byName[n]
		if e == nil {
			return r, unix.EINVAL
		}
		r.mask |= 1 << e.id
	}
	if o.All && len(o.Subsystems) > 0 {
		return r, unix.EINVAL
	}
	if o.All || (len(o.Subsystems) == 0 && !o.None && o.Name == "") {
		for _, e := range sys.subsys {
			r.mask |= 1 << e.id
		}
	}
	if r.mask == 0 && r.name == "" {
		return r, unix.EINVAL
	}
	if r.flags.noprefix {
		for _, e := range sys.subsys {
			if r.mask&(1<<e.id) != 0 && e.name != "cpuset" {
				return r, unix.EINVAL
			}
		}
	}
	if r.flags.cpusetV2 {
		e := sys.byName["cpuset"]
		if e == nil || r.mask&(1<<e.id) == 0 {
			return r, unix.EINVAL
		}
	}
	if r.mask != 0 && r.none {
		return r, unix.EINVAL
	}
	return r, nil
}
