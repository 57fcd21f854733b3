package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The supervisor starts copies of this binary as its workers.
	if ms := os.Getenv(workerEnv); ms != "" {
		work(ms)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestSupervisor runs the demo in its short mode on real processes.
func TestSupervisor(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, true); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		`(?m)^mounted hierarchy 1 \(cpuset,cpuacct,name=jobs\)`,
		`(?m)^started server   in /web `,
		`(?m)^started indexer  in /batch `,
		`(?m)^started reporter in /batch/report `,
		`(?m)^moved   indexer  to /web `,
		`(?m)^released /batch/report \(removed: true\)$`,
		`(?m)^/ +\S+ +0 +0 +\S+$`,
		`(?m)^  /batch +\S+ +0 +0 +\S+$`,
		`(?m)^  /web +\S+ +2 +[1-9][0-9]* +\S+$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^ +/batch/report `).Match(out.Bytes()) {
		t.Errorf("the released container is still in the tree")
	}
}
