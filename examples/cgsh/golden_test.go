package main

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/*.cgsh")

// goldenArgs are the flags every golden script runs with, so that its output
// does not depend on the machine, and goldenTopology the machine they give.
var (
	goldenArgs     = []string{"-cpus", "0-3", "-mems", "0"}
	goldenTopology = topology.Uniform(4, 1)
)

// setupTmp makes a directory for one script run with the release agent of
// testdata/agent.sh in it as "agent", and returns the directory.
func setupTmp(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	agent, err := os.ReadFile(filepath.Join("testdata", "agent.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "agent"), agent, 0o755); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// released returns what the agent in tmp recorded, sorted (agents run
// concurrently), as a section to append to an output, or "".
func released(t *testing.T, tmp string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tmp, "released"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	slices.Sort(lines)
	return "--- released\n" + strings.Join(lines, "\n") + "\n"
}

// runFile runs script (with @TMP@ replaced by a new temporary directory) as
// a script file through run with args, and returns its standard output with
// the directory replaced back by @TMP@, followed by what the release agent
// recorded.
func runFile(t *testing.T, script string, args ...string) string {
	t.Helper()
	tmp := setupTmp(t)
	path := filepath.Join(tmp, "script.cgsh")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(script, "@TMP@", tmp)), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	status := run(append(slices.Clone(args), path), strings.NewReader(""), &stdout, &stderr)
	if status != exitOK || stderr.Len() > 0 {
		t.Fatalf("run: status %d, stderr %q", status, stderr.String())
	}
	return strings.ReplaceAll(stdout.String(), tmp, "@TMP@") + released(t, tmp)
}

// transcript runs script line by line on a shell of its own and returns a
// transcript: each command line as "$ LINE" followed by what it printed
// (comments and blank lines as they are), then what the release agent
// recorded. It also returns the output alone, which run must print.
func transcript(t *testing.T, script string, topo topology.Topology) (trans, out string) {
	t.Helper()
	tmp := setupTmp(t)
	sys, err := containers.New(newSubsystems(&topo))
	if err != nil {
		t.Fatal(err)
	}
	var buf, all, tr bytes.Buffer
	w := bufio.NewWriter(&buf)
	sh := newShell(sys, w)
	for line := range strings.SplitSeq(strings.TrimSuffix(script, "\n"), "\n") {
		if c, ok := parseLine(line); ok && c.op == opNone {
			tr.WriteString(line + "\n")
			continue
		}
		tr.WriteString("$ " + line + "\n")
		sh.execLine(strings.ReplaceAll(line, "@TMP@", tmp))
		w.Flush()
		tr.Write(buf.Bytes())
		all.Write(buf.Bytes())
		buf.Reset()
	}
	shutdown(sys)
	rel := released(t, tmp)
	fix := func(s string) string { return strings.ReplaceAll(s, tmp, "@TMP@") }
	return fix(tr.String()) + rel, fix(all.String()) + rel
}

// TestGolden runs each testdata/*.cgsh and compares its transcript with the
// .golden file beside it (-update rewrites them), and checks that run, given
// the script as a file, prints the same output.
func TestGolden(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "*.cgsh"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".cgsh")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			trans, want := transcript(t, string(src), goldenTopology)
			if got := runFile(t, string(src), goldenArgs...); got != want {
				t.Errorf("run of the file differs from the line-by-line output (-want +got):\n%s", cmp.Diff(want, got))
			}
			golden := strings.TrimSuffix(script, ".cgsh") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(trans), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantTrans, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(wantTrans), trans); diff != "" {
				t.Errorf("transcript differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
