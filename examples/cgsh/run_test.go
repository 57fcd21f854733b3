package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// runOut runs cgsh with args and stdin and returns its status and outputs.
func runOut(args []string, stdin string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	status := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

func TestRunStdin(t *testing.T) {
	in := "mount -t cgroup -o none,name=x cgroup /cg\nmkdir /cg/a\nrmdir /cg/a\nrmdir /cg/a\nbogus line \ncat /cg/a/tasks" // no final newline
	status, out, errOut := runOut(nil, in)
	want := "error: ENOENT\nerror: syntax: bogus line\nerror: ENOENT\n"
	if status != exitOK || out != want || errOut != "" {
		t.Errorf("run = %d, %q, %q; want %d, %q, \"\"", status, out, errOut, exitOK, want)
	}
}

func TestRunDashC(t *testing.T) {
	status, out, errOut := runOut([]string{"-c", "mount -t cgroup -o none,name=x cgroup /cg;mkdir /cg/a ;  ls /cg/a;; # note; nonsense here "}, "ls /ignored\n")
	want := "cgroup.clone_children\ncgroup.procs\nnotify_on_release\ntasks\nerror: syntax: nonsense here\n"
	if status != exitOK || out != want || errOut != "" {
		t.Errorf("run = %d, %q, %q; want %d, %q, \"\"", status, out, errOut, exitOK, want)
	}
	// An empty -c runs nothing and does not read standard input.
	if status, out, _ := runOut([]string{"-c", ""}, "bogus\n"); status != exitOK || out != "" {
		t.Errorf("run -c '' = %d, %q; want %d, \"\"", status, out, exitOK)
	}
}

func TestRunFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.cgsh")
	script := "# a script\nmount -t cgroup -o cpuset cgroup /cs\nmkdir /cs/a\ncat /cs/a/cpuset.cpus\necho 1-2 > /cs/a/cpuset.cpus\ncat /cs/a/cpuset.cpus\ncat /cs/cpuset.cpus\n"
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	status, out, errOut := runOut([]string{"-cpus", "0-2,5", "-mems", "0-1", path}, "")
	want := "\n1-2\n0-2,5\n"
	if status != exitOK || out != want || errOut != "" {
		t.Errorf("run = %d, %q, %q; want %d, %q, \"\"", status, out, errOut, exitOK, want)
	}
	// -cpus alone keeps the host's memory nodes.
	status, out, _ = runOut([]string{"-cpus", "3", "-c", "mount -t cgroup -o cpuset cgroup /cs; cat /cs/cpuset.cpus"}, "")
	if status != exitOK || out != "3\n" {
		t.Errorf("run -cpus 3 = %d, %q; want %d, \"3\\n\"", status, out, exitOK)
	}
}

// TestRunUsage checks that bad arguments and unreadable scripts give
// status 2, a message on standard error, and no output.
func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.cgsh")
	if err := os.WriteFile(file, []byte("ls /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-bogus"},
		{"-c"},
		{"-c", "ls /x", file},
		{file, file},
		{file, "-cpus", "0-3"}, // flags come before the file
		{filepath.Join(dir, "nosuch")},
		{dir}, // opens, but cannot be read
		{"-cpus", "x", file},
		{"-cpus", "", file},
		{"-cpus", "3-1", file},
		{"-mems", "0-", file},
		{"-mems", "99999", file},
		{"-mems", ",", file},
	} {
		status, out, errOut := runOut(args, "")
		if status != exitUsage || out != "" || errOut == "" {
			t.Errorf("run %q = %d, %q, %q; want %d, \"\", a message", args, status, out, errOut, exitUsage)
		}
	}
	if status, out, _ := runOut([]string{"-h"}, ""); status != exitOK || out != "" {
		t.Errorf("run -h = %d, %q; want %d, \"\"", status, out, exitOK)
	}
}

// TestRunStatusAfterErrors checks that failing commands do not change the
// exit status.
func TestRunStatusAfterErrors(t *testing.T) {
	status, out, _ := runOut(nil, "kill 1\nrmdir /\nnonsense\n")
	if want := "error: ESRCH\nerror: EBUSY\nerror: syntax: nonsense\n"; status != exitOK || out != want {
		t.Errorf("run = %d, %q; want %d, %q", status, out, exitOK, want)
	}
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestPrompt checks that the prompt is written when standard input is a
// terminal, and only then.
func TestPrompt(t *testing.T) {
	master, slave := openPTY(t)
	if !isTerminal(slave) {
		t.Fatal("isTerminal(pty) = false")
	}
	// The terminal holds the input until run reads it; ^D at the start of
	// a line is the end of the input.
	if _, err := master.WriteString("ls /x\nspawn 1\n\x04"); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run(nil, slave, &stdout, &stderr)
	want := "cgsh> error: ENOENT\ncgsh> cgsh> \n"
	if status != exitOK || stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("run on a terminal = %d, %q, %q; want %d, %q, \"\"", status, stdout.String(), stderr.String(), exitOK, want)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("ls /x\n")
	w.Close()
	if isTerminal(r) {
		t.Error("isTerminal(pipe) = true")
	}
	stdout.Reset()
	status = run(nil, r, &stdout, &stderr)
	out := stdout.String()
	if diff := cmp.Diff("error: ENOENT\n", out); status != exitOK || diff != "" {
		t.Errorf("run on a pipe: status %d, output (-want +got):\n%s", status, diff)
	}
}
