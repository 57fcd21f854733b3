package containers_test

// Side-by-side benchmarks: each operation that the live kernel's cgroup v1
// also has (writing a pid to tasks, mkdir and rmdir of a child, reading
// tasks) is measured on a real named hierarchy ("kernel", skipped unless
// root with cgroup v1) and on the library ("library") in the same run.
// BENCHMARKS.md gives the ratios.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/internal/kerneltest"
	"golang.org/x/sys/unix"
)

// benchThreadsEnv, when set to N in the environment of the test binary,
// makes it a helper process that holds N threads (see benchThreadsHelper)
// instead of running tests.
const benchThreadsEnv = "CONTAINERS_BENCH_THREADS_HELPER"

// benchReadTasks is the number of tasks in the container whose tasks file
// BenchmarkTasksRead reads.
const benchReadTasks = 1000

func init() {
	if v := os.Getenv(benchThreadsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			fmt.Fprintf(os.Stderr, "%s=%q: want a thread count from 1 to 10000\n", benchThreadsEnv, v)
			os.Exit(2)
		}
		benchThreadsHelper(n)
	}
}

// benchThreadCount returns the number of threads of the calling process.
func benchThreadCount() int {
	es, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(es)
}

// benchThreadsHelper is the body of the helper process: it starts
// goroutines locked to OS threads until the process has n threads (the
// runtime's own included), prints "ready", and exits when its standard
// input closes. It never returns.
func benchThreadsHelper(n int) {
	block := make(chan struct{})
	for {
		have := benchThreadCount()
		if have < 0 {
			fmt.Fprintln(os.Stderr, "cannot count threads")
			os.Exit(1)
		}
		if have >= n {
			break
		}
		ready := make(chan struct{}, n-have)
		for range n - have {
			go func() {
				runtime.LockOSThread() // the thread blocks with the goroutine
				ready <- struct{}{}
				<-block
			}()
		}
		for range n - have {
			<-ready
		}
	}
	fmt.Fprintln(os.Stdout, "ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// benchStartThreads starts the helper process with n threads and returns its
// pid. It is killed when the benchmark ends.
func benchStartThreads(b *testing.B, n int) int {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", benchThreadsEnv, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("thread helper: %q, %v", line, err)
	}
	return cmd.Process.Pid
}

// benchSleeper starts a process that sleeps until the benchmark ends, and
// returns its pid.
func benchSleeper(b *testing.B) int {
	b.Helper()
	cmd := exec.Command("sleep", "3600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// benchKernelHierarchy mounts a new named cgroup v1 hierarchy on a temporary
// directory, or skips the benchmark where that is impossible (not root, no
// cgroup v1). Cleanup moves every task left in a child back to the root,
// removes the children, deepest first, and unmounts the hierarchy.
func benchKernelHierarchy(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpuset/tasks"); err != nil {
		b.Skip("needs cgroup v1")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("tcbench%d_%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	dir := b.TempDir()
	if err := unix.Mount("cgroup", dir, "cgroup", 0, "none,name="+name); err != nil {
		b.Skipf("cannot mount a cgroup v1 hierarchy: %v", err)
	}
	b.Cleanup(func() {
		var dirs []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != dir {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(x, y string) int { return len(y) - len(x) })
		for _, d := range dirs {
			if data, err := os.ReadFile(filepath.Join(d, "tasks")); err == nil {
				for id := range strings.FieldsSeq(string(data)) {
					os.WriteFile(filepath.Join(dir, "tasks"), []byte(id), 0)
				}
			}
			if err := os.Remove(d); err != nil {
				b.Errorf("cleanup: %v", err)
			}
		}
		if err := unix.Unmount(dir, 0); err != nil {
			b.Errorf("cleanup: unmount %s: %v", dir, err)
		} else if err := kerneltest.Destroy(name); err != nil {
			b.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

// benchLibraryHierarchy returns a System without subsystems and a named
// hierarchy of it: the library's counterpart of benchKernelHierarchy.
func benchLibraryHierarchy(b *testing.B) (*containers.System, *containers.Hierarchy) {
	sys := must(containers.New(nil))
	b.Cleanup(func() { sys.Close(context.Background()) })
	return sys, must(sys.MountString("none,name=bench"))
}

// BenchmarkTasksWrite moves one task back and forth between two children of
// a named hierarchy by writing its ID to their tasks files: on the kernel
// with a real sleep process (a write(2) on a tasks file kept open), and on
// the library with Container.WriteFile("tasks"). Nothing else is in either
// child, so each move makes the destination's group and frees the other, on
// both sides.
func BenchmarkTasksWrite(b *testing.B) {
	b.Run("kernel", func(b *testing.B) {
		dir := benchKernelHierarchy(b)
		pid := benchSleeper(b)
		var fds [2]int
		for i, name := range []string{"a", "b"} {
			if err := unix.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				b.Fatal(err)
			}
			fd, err := unix.Open(filepath.Join(dir, name, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { unix.Close(fd) })
			fds[i] = fd
		}
		buf := []byte(strconv.Itoa(pid))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := unix.Pwrite(fds[i&1], buf, 0); err != nil {
				b.Fatal(err)
			}
			i++
		}
		data, err := os.ReadFile(filepath.Join(dir, []string{"a", "b"}[(i-1)&1], "tasks"))
		if err != nil || string(data) != string(buf)+"\n" {
			b.Fatalf("the task is not where it was moved last: %q, %v", data, err)
		}
	})
	b.Run("library", func(b *testing.B) {
		sys, h := benchLibraryHierarchy(b)
		cs := [2]*containers.Container{must(h.Root().Mkdir("a")), must(h.Root().Mkdir("b"))}
		t := must(sys.NewTask(4242))
		buf := []byte("4242")
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := cs[i&1].WriteFile("tasks", buf); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if got := t.Container(h); got != cs[(i-1)&1] {
			b.Fatalf("the task is in %v, not where it was moved last", got)
		}
	})
}

// BenchmarkMkdirRmdir makes and removes a child of the root of a named
// hierarchy: one op is a mkdir and an rmdir.
func BenchmarkMkdirRmdir(b *testing.B) {
	b.Run("kernel", func(b *testing.B) {
		p := filepath.Join(benchKernelHierarchy(b), "m")
		b.ReportAllocs()
		for b.Loop() {
			if err := unix.Mkdir(p, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := unix.Rmdir(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		_, h := benchLibraryHierarchy(b)
		root := h.Root()
		b.ReportAllocs()
		for b.Loop() {
			c, err := root.Mkdir("m")
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Rmdir(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchCountLines returns the number of lines of data.
func benchCountLines(data []byte) int { return bytes.Count(data, []byte("\n")) }

// BenchmarkTasksRead reads the tasks file of a child that holds about
// 1 000 tasks: on the kernel, the threads of one helper process moved
// there through cgroup.procs (cgroup v1 lists threads), read with open, read
// and close; on the library, a process of 1 000 threads (NewTask and
// ForkThread), read with Container.ReadFile("tasks"). The "tasks" metric is
// the number of lines read.
func BenchmarkTasksRead(b *testing.B) {
	b.Run("kernel", func(b *testing.B) {
		dir := benchKernelHierarchy(b)
		child := filepath.Join(dir, "r")
		if err := unix.Mkdir(child, 0o755); err != nil {
			b.Fatal(err)
		}
		pid := benchStartThreads(b, benchReadTasks)
		if err := os.WriteFile(filepath.Join(child, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(child, "tasks")
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			n = benchCountLines(data)
		}
		if n < benchReadTasks {
			b.Fatalf("read %d tasks, want at least %d", n, benchReadTasks)
		}
		b.ReportMetric(float64(n), "tasks")
	})
	b.Run("library", func(b *testing.B) {
		sys, h := benchLibraryHierarchy(b)
		child := must(h.Root().Mkdir("r"))
		leader := must(sys.NewTask(5000))
		for i := 1; i < benchReadTasks; i++ {
			must(sys.ForkThread(leader, containers.TaskID(5000+i)))
		}
		if err := child.AttachProcess(leader); err != nil {
			b.Fatal(err)
		}
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			data, err := child.ReadFile("tasks")
			if err != nil {
				b.Fatal(err)
			}
			n = benchCountLines(data)
		}
		if n != benchReadTasks {
			b.Fatalf("read %d tasks, want %d", n, benchReadTasks)
		}
		b.ReportMetric(float64(n), "tasks")
	})
}
