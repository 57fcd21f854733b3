package cpuacct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// appendStat renders st as the kernel would, with zeros in the fields the
// sampler does not use and nfields fields in all (at least 22). Tests use it
// to build lines and to check that parsing round-trips.
func appendStat(b []byte, st procStat, nfields int) []byte {
	b = strconv.AppendInt(b, int64(st.pid), 10)
	b = append(b, " ("...)
	b = append(b, st.comm...)
	b = append(b, ") S"...)
	for n := 4; n <= nfields; n++ {
		b = append(b, ' ')
		switch n {
		case fieldUtime:
			b = strconv.AppendUint(b, st.utime, 10)
		case fieldStime:
			b = strconv.AppendUint(b, st.stime, 10)
		case fieldStarttime:
			b = strconv.AppendUint(b, st.starttime, 10)
		case fieldProcessor:
			b = strconv.AppendInt(b, int64(st.processor), 10)
		default:
			b = append(b, '0')
		}
	}
	return append(b, '\n')
}

// A line as Linux 6.x prints it for a shell (52 fields).
const realLine = "4242 (bash) S 4241 4242 4242 34816 4250 4194304 1251 5632 0 1 3 5 17 9 20 0 1 0 861 8728576 1234 18446744073709551615 1 1 0 0 0 0 65536 3686404 1266761467 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want procStat
	}{
		{realLine, procStat{pid: 4242, comm: "bash", utime: 3, stime: 5, starttime: 861, processor: 1}},
		{strings.TrimSuffix(realLine, "\n"), procStat{pid: 4242, comm: "bash", utime: 3, stime: 5, starttime: 861, processor: 1}},
		{line(procStat{pid: 1, comm: "a) (b c)", utime: 7, stime: 8, starttime: 9, processor: 3}, 52),
			procStat{pid: 1, comm: "a) (b c)", utime: 7, stime: 8, starttime: 9, processor: 3}},
		{line(procStat{pid: 2, comm: "", utime: 18446744073709551615, processor: 0}, 39),
			procStat{pid: 2, comm: "", utime: 18446744073709551615, processor: 0}},
		{line(procStat{pid: 3, comm: "new\nline", stime: 4}, 22),
			procStat{pid: 3, comm: "new\nline", stime: 4, processor: -1}},
		{line(procStat{pid: 3, comm: "((", starttime: 1, processor: -1}, 38),
			procStat{pid: 3, comm: "((", starttime: 1, processor: -1}},
		{"5 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 -1 -2 -3 -4 5 6 7\n",
			procStat{pid: 5, comm: "x", utime: 11, stime: 12, starttime: 7, processor: -1}},
	} {
		got, err := parseStat([]byte(tc.line))
		if err != nil {
			t.Errorf("parseStat(%q): %v", tc.line, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(procStat{})); diff != "" {
			t.Errorf("parseStat(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

func line(st procStat, nfields int) string { return string(appendStat(nil, st, nfields)) }

func TestParseStatErrors(t *testing.T) {
	ok := line(procStat{pid: 9, comm: "ok", processor: 1}, 52)
	for _, in := range []string{
		"",
		"\n",
		"9",
		"9 ok S",
		"(ok) S" + ok[6:],
		" 9 (ok)" + ok[6:],
		"9(ok)" + ok[6:],
		"0 (ok)" + ok[6:],
		"-9 (ok)" + ok[6:],
		"09 (ok)" + ok[6:],
		"2147483648 (ok)" + ok[6:],
		"9 (ok" + ok[6:],
		"9 (ok)",
		"9 (ok) ",
		"9 (ok)S" + ok[7:],
		strings.Replace(ok, " ", "  ", 3),
		strings.TrimSuffix(ok, "\n") + " \n",
		line(procStat{pid: 9, comm: "ok"}, 21),
		fieldSet(ok, fieldUtime, "x"),
		fieldSet(ok, fieldUtime, "-1"),
		fieldSet(ok, fieldUtime, "+1"),
		fieldSet(ok, fieldUtime, "01"),
		fieldSet(ok, fieldStime, "18446744073709551616"),
		fieldSet(ok, fieldStarttime, ""),
		fieldSet(ok, fieldProcessor, "-1"),
		fieldSet(ok, fieldProcessor, "2147483648"),
	} {
		if st, err := parseStat([]byte(in)); !errors.Is(err, unix.EINVAL) {
			t.Errorf("parseStat(%q) = %+v, %v; want EINVAL", in, st, err)
		}
	}
}

// fieldSet replaces field n (from 1) of a line whose comm has no space.
func fieldSet(l string, n int, v string) string {
	f := strings.Split(strings.TrimSuffix(l, "\n"), " ")
	f[n-1] = v
	return strings.Join(f, " ") + "\n"
}

// TestParseStatLive parses this process's stat file, and a thread's whose
// name holds spaces and parentheses.
func TestParseStatLive(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no procfs:", err)
	}
	st, err := parseStat(b)
	if err != nil {
		t.Fatalf("parseStat(%q): %v", b, err)
	}
	if st.pid != os.Getpid() || st.processor < 0 || st.starttime == 0 {
		t.Errorf("parsed %+v from %q", st, b)
	}
	type result struct {
		st  procStat
		tid int
		err error
	}
	done := make(chan result)
	go func() {
		// The thread keeps its odd name until it ends: it is never unlocked,
		// so it exits with the goroutine.
		runtime.LockOSThread()
		name := []byte("w) (x y)\x00")
		err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0, 0, 0)
		runtime.KeepAlive(name)
		if err != nil {
			done <- result{err: err}
			return
		}
		tid := unix.Gettid()
		st, err := readProcStat(fmt.Sprintf("/proc/%d/task/%d/stat", os.Getpid(), tid))
		done <- result{st, tid, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.pid != r.tid || r.st.comm != "w) (x y)" {
		t.Errorf("thread stat parsed as %+v, want pid %d comm %q", r.st, r.tid, "w) (x y)")
	}
}

func TestReadProcStat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := readProcStat(filepath.Join(dir, "missing")); !errors.Is(err, unix.ESRCH) {
		t.Errorf("missing file: %v, want ESRCH", err)
	}
	if _, err := readProcStat(write("long", strings.Repeat("1", 1024))); !errors.Is(err, unix.EINVAL) {
		t.Errorf("long file: %v, want EINVAL", err)
	}
	if _, err := readProcStat(write("junk", "junk\n")); !errors.Is(err, unix.EINVAL) {
		t.Errorf("junk file: %v, want EINVAL", err)
	}
	if _, err := readProcStat(write("empty", "")); err == nil {
		t.Errorf("empty file: no error")
	}
	if _, err := readProcStat(dir); err == nil || errors.Is(err, unix.ESRCH) {
		t.Errorf("directory: %v, want an error other than ESRCH", err)
	}
	want := procStat{pid: 12, comm: "c", utime: 1, stime: 2, starttime: 3, processor: 4}
	got, err := readProcStat(write("good", line(want, 52)))
	if err != nil || got != want {
		t.Errorf("good file: %+v, %v", got, err)
	}
}

// FuzzParseStat: any input parses or gives EINVAL, never panics; what parses
// renders back to a line that parses to the same values.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte(realLine))
	f.Add([]byte(line(procStat{pid: 1, comm: "a) (b", processor: 1}, 52)))
	f.Add([]byte(line(procStat{pid: 1, comm: "x"}, 22)))
	f.Add([]byte("1 () S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"))
	f.Add([]byte("1 (a)b) S"))
	f.Add([]byte("))(( 1 ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err != nil {
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("parseStat(%q): %v, want EINVAL", b, err)
			}
			return
		}
		n := 52
		if st.processor < 0 {
			n = 22
		}
		again, err := parseStat(appendStat(nil, st, n))
		if err != nil || again != st {
			t.Fatalf("parseStat(%q) = %+v, which renders to a line that parses to %+v, %v", b, st, again, err)
		}
	})
}

// FuzzParseStatComm: whatever the command name, the numbers around it are
// read exactly.
func FuzzParseStatComm(f *testing.F) {
	f.Add("bash", uint64(3), uint64(5), uint64(861), uint16(1))
	f.Add(") (", uint64(0), uint64(1<<63), uint64(1), uint16(0))
	f.Add("a b c) 1 2 3 (", uint64(12345), uint64(0), uint64(0), uint16(255))
	f.Add("\n)\n", uint64(1), uint64(2), uint64(3), uint16(4))
	f.Fuzz(func(t *testing.T, comm string, utime, stime, start uint64, cpu uint16) {
		want := procStat{pid: 77, comm: comm, utime: utime, stime: stime, starttime: start, processor: int(cpu)}
		l := appendStat(nil, want, 52)
		got, err := parseStat(l)
		if err != nil || got != want {
			t.Fatalf("parseStat(%q) = %+v, %v; want %+v", l, got, err, want)
		}
	})
}
