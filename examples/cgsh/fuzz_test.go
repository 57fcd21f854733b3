package main

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taskcontainers/containers"
)

// oneLine matches the output of a command other than ls and cat: nothing,
// or one error line.
var oneLine = regexp.MustCompile(`\A(error: (syntax: .*|[A-Z0-9]+)\n)?\z`)

// FuzzShell runs scripts on a shell and checks that nothing panics, that
// commands other than ls and cat print nothing or one error line, that ls
// prints names, and that the System closes cleanly. Scripts that mention
// release_agent are skipped: they could make the library run any program
// on the machine.
func FuzzShell(f *testing.F) {
	addScriptSeeds(f, true)
	f.Add("mount -t cgroup -o none,name=x cgroup /a\nmount -t cgroup -o none,name=y cgroup /a/..\nmkdir -p /a/b/../c\numount /a\nls /a")
	f.Fuzz(func(t *testing.T, script string) {
		if strings.Contains(script, "release_agent") || len(script) > 1<<14 {
			return
		}
		sys, err := containers.New(newSubsystems(&goldenTopology))
		if err != nil {
			t.Fatal(err)
		}
		defer shutdown(sys)
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		sh := newShell(sys, w)
		sh.sleep = func(time.Duration) {}
		for line := range strings.SplitSeq(script, "\n") {
			sh.execLine(line)
			w.Flush()
			out := buf.String()
			buf.Reset()
			c, ok := parseLine(line)
			switch {
			case ok && c.op == opCat:
			case ok && c.op == opLs:
				if !strings.HasPrefix(out, "error: ") && (strings.Contains(out, "\n\n") || strings.HasPrefix(out, "\n")) {
					t.Fatalf("%q printed an empty name: %q", line, out)
				}
			default:
				if !oneLine.MatchString(out) {
					t.Fatalf("%q printed %q", line, out)
				}
			}
		}
	})
}
