package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want command
		ok   bool
	}{
		{"", command{op: opNone}, true},
		{" \t ", command{op: opNone}, true},
		{"  # comment", command{op: opNone}, true},
		{"#", command{op: opNone}, true},
		{"mount -t cgroup -o none,name=x cgroup /cg", command{op: opMount, path: "/cg", fstype: "cgroup", opts: "none,name=x", hasOpts: true}, true},
		{"mount -o a -t cgroup src /cg", command{op: opMount, path: "/cg", fstype: "cgroup", opts: "a", hasOpts: true}, true},
		{"mount -t cgroup cgroup /cg", command{op: opMount, path: "/cg", fstype: "cgroup"}, true},
		{"mount -t cgroup -o '' cgroup /cg", command{op: opMount, path: "/cg", fstype: "cgroup", opts: "''", hasOpts: true}, true},
		{"umount /cg", command{op: opUmount, path: "/cg"}, true},
		{"mkdir /cg/a", command{op: opMkdir, path: "/cg/a"}, true},
		{"mkdir -p /cg/a", command{op: opMkdir, path: "/cg/a", parents: true}, true},
		{"mkdir -p", command{}, false},
		{"mkdir /cg/a -p", command{}, false},
		{"rmdir\t/cg/a", command{op: opRmdir, path: "/cg/a"}, true},
		{"ls /", command{op: opLs, path: "/"}, true},
		{"cat /cg/tasks", command{op: opCat, path: "/cg/tasks"}, true},
		{"echo 1 > /cg/tasks", command{op: opEcho, path: "/cg/tasks", data: "1\n"}, true},
		{"echo  a\tb  > /f", command{op: opEcho, path: "/f", data: "a b\n"}, true},
		{"echo > /f", command{op: opEcho, path: "/f", data: "\n"}, true},
		{"echo -n > /f", command{op: opEcho, path: "/f", data: ""}, true},
		{"echo -n 1 > /f", command{op: opEcho, path: "/f", data: "1"}, true},
		{"echo -n -n > /f", command{op: opEcho, path: "/f", data: "-n"}, true},
		{"echo 1 -n > /f", command{op: opEcho, path: "/f", data: "1 -n\n"}, true},
		{"echo -e a\\n > /f", command{op: opEcho, path: "/f", data: "-e a\\n\n"}, true},
		{"echo 1 >/f", command{}, false},
		{"echo 1 > f", command{}, false},
		{"echo 1 > /f /g", command{}, false},
		{"echo 1 > /f > /g", command{}, false},
		{"echo 1", command{}, false},
		{"spawn 1", command{op: opSpawn, id: 1}, true},
		{"spawn 0", command{op: opSpawn, id: 0}, true},
		{"spawn 007", command{op: opSpawn, id: 7}, true},
		{"spawn 2147483647", command{op: opSpawn, id: 2147483647}, true},
		{"spawn 2147483648", command{}, false},
		{"spawn -1", command{}, false},
		{"kill 3", command{op: opKill, id: 3}, true},
		{"fork 1 2", command{op: opFork, id: 1, child: 2}, true},
		{"fork 1", command{}, false},
		{"sleep 250", command{op: opSleep, delay: 250 * time.Millisecond}, true},
		{"sleep 9223372036854", command{op: opSleep, delay: 9223372036854 * time.Millisecond}, true},
		{"sleep 9223372036855", command{}, false},
		{"sleep 1s", command{}, false},
		{"Ls /", command{}, false},
		{"ls / # not a comment here", command{}, false},
	} {
		got, ok := parseLine(tc.line)
		if ok != tc.ok {
			t.Errorf("parseLine(%q) ok = %v, want %v", tc.line, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(command{})); diff != "" {
			t.Errorf("parseLine(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

// addScriptSeeds adds every line of the scripts in testdata, and each
// script whole if whole is set, to the corpus of f.
func addScriptSeeds(f *testing.F, whole bool) {
	scripts, _ := filepath.Glob(filepath.Join("testdata", "*.cgsh"))
	kernel, _ := filepath.Glob(filepath.Join("testdata", "kernel", "*.cgsh"))
	for _, p := range append(scripts, kernel...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if whole {
			f.Add(string(data))
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			f.Add(line)
		}
	}
}

// FuzzParseLine checks that parseLine never panics and that its result
// depends only on the words of the line.
func FuzzParseLine(f *testing.F) {
	addScriptSeeds(f, false)
	f.Add("echo -n  > /a/b")
	f.Add("mount -o x -t cgroup s /d")
	f.Fuzz(func(t *testing.T, line string) {
		c, ok := parseLine(line)
		if !ok {
			return
		}
		// The same words with other blanks between them parse the same.
		again, ok2 := parseLine("\t" + strings.Join(strings.FieldsFunc(line, isBlank), " \t") + " ")
		if !ok2 || again != c {
			t.Fatalf("parseLine(%q) = %+v, but with other blanks %+v, %v", line, c, again, ok2)
		}
		switch c.op {
		case opNone:
		case opMount, opUmount, opMkdir, opRmdir, opLs, opCat, opEcho:
			if !strings.HasPrefix(c.path, "/") {
				t.Fatalf("parseLine(%q): path %q is not absolute", line, c.path)
			}
		case opSpawn, opFork, opKill:
			if c.id < 0 || c.child < 0 {
				t.Fatalf("parseLine(%q): negative ID", line)
			}
		case opSleep:
			if c.delay < 0 {
				t.Fatalf("parseLine(%q): negative sleep", line)
			}
		default:
			t.Fatalf("parseLine(%q): op %d", line, c.op)
		}
		if c.op == opEcho && (strings.ContainsRune(c.data, '\t') || strings.Contains(c.data, "  ")) {
			t.Fatalf("parseLine(%q): echo data %q has a double blank", line, c.data)
		}
	})
}
