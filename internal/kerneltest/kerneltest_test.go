package kerneltest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestErrnoName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{unix.EBUSY, "EBUSY"},
		{&fs.PathError{Op: "rmdir", Path: "/x", Err: unix.ENOENT}, "ENOENT"},
		{fs.ErrClosed, "non-errno: file already closed"},
	} {
		if got := ErrnoName(tc.err); got != tc.want {
			t.Errorf("ErrnoName(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("x"), UniqueName("x")
	if a == b || !strings.HasPrefix(a, "x") {
		t.Errorf("UniqueName gave %q and %q", a, b)
	}
}

// TestRemoveTree removes a plain directory tree (cgroup trees behave the
// same for rmdir once empty).
func TestRemoveTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	if err := os.MkdirAll(filepath.Join(dir, "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	RemoveTree(t, dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
}

func TestSleeper(t *testing.T) {
	pid := Sleeper(t)
	if err := unix.Kill(pid, 0); err != nil {
		t.Errorf("sleeper %d: %v", pid, err)
	}
}
