package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	want := `/        moves=0 tasks="1\n"
  /batch   moves=1 tasks="101\n"
  /web     moves=1 tasks="100\n"
released: /batch
rmdir /: rmdir /: device or resource busy
/        moves=0 tasks="1\n"
  /batch   moves=1 tasks=""
  /web     moves=1 tasks="100\n"
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
