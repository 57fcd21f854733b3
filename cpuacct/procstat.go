package cpuacct

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// procStat is what the sampler needs from a /proc/<pid>/stat line (see
// proc_pid_stat(5); fields are numbered from 1).
type procStat struct {
	pid       int    // field 1
	comm      string // field 2, without the parentheses
	utime     uint64 // field 14, user time in clock ticks
	stime     uint64 // field 15, system time in clock ticks
	starttime uint64 // field 22, start time after boot in clock ticks
	processor int    // field 39, the CPU last run on; -1 if the line is shorter
}

// Fields of the stat line, counted from 1.
const (
	fieldUtime     = 14
	fieldStime     = 15
	fieldStarttime = 22
	fieldProcessor = 39
)

// parseStat parses a /proc/<pid>/stat line: "pid (comm) state ppid ...",
// with an optional trailing newline. The command name may hold any byte,
// spaces and parentheses included, so it runs from the first "(" to the last
// ")". At least 22 fields are needed; the processor field is optional. A line
// that does not parse gives EINVAL.
func parseStat(b []byte) (procStat, error) {
	var st procStat
	b = bytes.TrimSuffix(b, []byte("\n"))
	open := bytes.IndexByte(b, '(')
	shut := bytes.LastIndexByte(b, ')')
	if open < 2 || shut < open || b[open-1] != ' ' {
		return st, unix.EINVAL
	}
	pid, ok := parseDec(b[:open-1])
	if !ok || pid == 0 || pid > 1<<31-1 {
		return st, unix.EINVAL
	}
	st.pid = int(pid)
	st.comm = string(b[open+1 : shut])
	rest := b[shut+1:]
	if len(rest) < 2 || rest[0] != ' ' {
		return st, unix.EINVAL
	}
	rest = rest[1:]
	st.processor = -1
	// rest holds fields 3, 4, ...: single spaces between them.
	for n := 3; len(rest) > 0; n++ {
		f := rest
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			f, rest = rest[:i], rest[i+1:]
			if len(rest) == 0 { // a trailing space
				return st, unix.EINVAL
			}
		} else {
			rest = nil
		}
		if len(f) == 0 {
			return st, unix.EINVAL
		}
		var ok bool
		switch n {
		case fieldUtime:
			st.utime, ok = parseDec(f)
		case fieldStime:
			st.stime, ok = parseDec(f)
		case fieldStarttime:
			st.starttime, ok = parseDec(f)
		case fieldProcessor:
			var v uint64
			v, ok = parseDec(f)
			ok = ok && v <= 1<<31-1
			st.processor = int(v)
		default:
			ok = true
		}
		if !ok {
			return st, unix.EINVAL
		}
		if n < fieldStarttime && len(rest) == 0 {
			return st, unix.EINVAL
		}
	}
	return st, nil
}

// parseDec parses an unsigned decimal number as the kernel prints it: digits
// alone, no sign, no leading zeros except "0" itself.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}
