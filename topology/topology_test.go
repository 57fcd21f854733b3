package topology

import (
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"", nil, true},
		{"0", []int{0}, true},
		{"0-3,5", []int{0, 1, 2, 3, 5}, true},
		{"5,0-1", []int{0, 1, 5}, true},
		{"3-1", nil, false},
		{"a", nil, false},
		{"-1", nil, false},
	} {
		got, ok := parseList(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseList(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestHost(t *testing.T) {
	h := Host()
	if len(h.OnlineCPUs) == 0 || h.PossibleCPUs <= h.OnlineCPUs[len(h.OnlineCPUs)-1] {
		t.Errorf("host CPUs: %+v", h)
	}
	if len(h.Nodes) == 0 || h.PossibleNodes <= h.Nodes[len(h.Nodes)-1] {
		t.Errorf("host nodes: %+v", h)
	}
}

func TestUniform(t *testing.T) {
	u := Uniform(64, 4)
	if u.PossibleCPUs != 64 || len(u.OnlineCPUs) != 64 || u.OnlineCPUs[63] != 63 || len(u.Nodes) != 4 || u.PossibleNodes != 4 {
		t.Errorf("Uniform(64, 4) = %+v", u)
	}
}
