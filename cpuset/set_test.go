package cpuset_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcontainers/containers/cpuset"
	"golang.org/x/sys/unix"
)

// parseCases were checked against cpuset.cpus of a 2-CPU machine (nbits 2)
// running Linux 6.18; want is the set read back, or the errno.
var parseCases = []struct {
	in   string
	want string
	err  error
}{
	{in: "", want: ""},
	{in: "\n", want: ""},
	{in: ",", want: ""},
	{in: "0", want: "0"},
	{in: "0\n1", want: "0"}, // a newline after a plain region ends the list
	{in: "0-1\n3", want: "0-1"},
	{in: "0\x001", want: "0"}, // NUL ends the string
	{in: "1\x000", want: "1"},
	{in: "all", want: "0-1"},
	{in: "ALL", want: "0-1"},
	{in: "N", want: "1"},
	{in: "0-N", want: "0-1"},
	{in: "N-N", want: "1"},
	{in: "n", err: unix.EINVAL},
	{in: "al", err: unix.EINVAL},
	{in: "allx", err: unix.EINVAL},
	{in: "all:1/2", want: "0"},
	{in: "0-1:1/2", want: "0"},
	{in: "0-1:1/2\n1", want: "0-1"}, // after a stride the newline is a separator
	{in: "0-1:0/2", want: ""},
	{in: "0-1:3/2", err: unix.EINVAL},
	{in: "0-1:1/0", err: unix.EINVAL},
	{in: "0-1:1", err: unix.EINVAL},
	{in: "0-1:N/N", want: "0-1"},
	{in: "0-1:2/2", want: "0-1"},
	{in: "0:1/2", err: unix.EINVAL},
	{in: "1:1/1", err: unix.EINVAL},
	{in: "0-1:1/2x", err: unix.EINVAL},
	{in: "0-1:1/21", want: "0"},
	{in: "0-1:1/2,1", want: "0-1"},
	{in: "01", want: "1"},
	{in: "00", want: "0"},
	{in: "+0", err: unix.EINVAL},
	{in: "-1", err: unix.EINVAL},
	{in: "0x1", err: unix.EINVAL},
	{in: "1-0", err: unix.EINVAL},
	{in: "5-3", err: unix.EINVAL},
	{in: "N-0", err: unix.EINVAL},
	{in: "0 - 1", err: unix.EINVAL},
	{in: "0-", err: unix.EINVAL},
	{in: "a", err: unix.EINVAL},
	{in: "2", err: unix.ERANGE},
	{in: "64", err: unix.ERANGE},
	{in: "100000", err: unix.ERANGE},
	{in: "all,5", err: unix.ERANGE},
	{in: "99999999999", err: unix.EOVERFLOW},
	{in: "4294967296", err: unix.EOVERFLOW},
	{in: "99999999999999999999999", err: unix.EOVERFLOW},
	{in: "4294967295", err: unix.EINVAL}, // end+1 wraps to a zero group
	{in: "0,,1", want: "0-1"},
	{in: "  0 1  ", want: "0-1"},
	{in: "0\t1", want: "0-1"},
	{in: " \n 0", want: "0"},
	{in: "\v0", want: "0"},
	{in: "0\r", want: "0"},
	{in: "\xa00", want: "0"}, // the kernel's isspace counts Latin-1 NBSP
	{in: "0\xa01", want: "0-1"},
	{in: "\x850", err: unix.EINVAL},
	{in: "\x1c0", err: unix.EINVAL},
	{in: "0-0", want: "0"},
	{in: "1,0", want: "0-1"},
	{in: "0,0", want: "0"},
	{in: "1-1:1/4294967295", want: "0-1"}, // the group wraps start around 2^32
	{in: "1-1:1/4294967294", want: "1"},
	{in: "0-1:1/4294967295", want: "0"},
	{in: "N-N:1/4294967295", want: "0-1"},
	{in: "1-1:4294967295/4294967295", want: "0-1"},
}

func TestParseListLimit(t *testing.T) {
	for _, tc := range parseCases {
		got, err := cpuset.ParseListLimit(tc.in, 2)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseListLimit(%q, 2) = %v, %v; want error %v", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseListLimit(%q, 2) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseListStrides(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0-7:2/4", []int{0, 1, 4, 5}},
		{"0-1023:2/256", []int{0, 1, 256, 257, 512, 513, 768, 769}},
		{"1-9:1/3", []int{1, 4, 7}},
		{"3-4:2/8", []int{3, 4}},
		{"0-10:3/5", []int{0, 1, 2, 5, 6, 7, 10}},
	} {
		got, err := cpuset.ParseList(tc.in)
		if err != nil {
			t.Errorf("ParseList(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got.IDs()); diff != "" {
			t.Errorf("ParseList(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseListLimits(t *testing.T) {
	all, err := cpuset.ParseList("all")
	if err != nil || all.Count() != cpuset.MaxBits || all.Max() != cpuset.MaxBits-1 {
		t.Errorf("ParseList(all) = %d members up to %d, %v", all.Count(), all.Max(), err)
	}
	if _, err := cpuset.ParseList("8192"); !errors.Is(err, unix.ERANGE) {
		t.Errorf("ParseList(8192) = %v, want ERANGE", err)
	}
	// A bitmap of no bits takes no number; nbits is clamped to MaxBits.
	if _, err := cpuset.ParseListLimit("0", 0); !errors.Is(err, unix.ERANGE) {
		t.Errorf("ParseListLimit(0, 0) = %v, want ERANGE", err)
	}
	if s, err := cpuset.ParseListLimit(" , ", -5); err != nil || !s.IsEmpty() {
		t.Errorf("ParseListLimit(\" , \", -5) = %v, %v", s, err)
	}
	if s, err := cpuset.ParseListLimit("N", 1<<40); err != nil || s.String() != "8191" {
		t.Errorf("ParseListLimit(N, 1<<40) = %v, %v", s, err)
	}
}

func TestSetOps(t *testing.T) {
	a := cpuset.Of(0, 1, 2, 64, 200, -1, cpuset.MaxBits)
	b := cpuset.Range(1, 70)
	for _, tc := range []struct {
		name string
		got  cpuset.Set
		want string
	}{
		{"Of", a, "0-2,64,200"},
		{"Range", b, "1-70"},
		{"Union", a.Union(b), "0-70,200"},
		{"Intersect", a.Intersect(b), "1-2,64"},
		{"Difference", a.Difference(b), "0,200"},
		{"Difference empties", b.Difference(b), ""},
		{"Range reversed", cpuset.Range(5, 4), ""},
		{"Range clipped", cpuset.Range(-3, 1), "0-1"},
		{"Range top", cpuset.Range(cpuset.MaxBits-2, 1<<20), "8190-8191"},
		{"zero", cpuset.Set{}, ""},
		{"Intersect trims", cpuset.Of(1, 300).Intersect(cpuset.Of(1, 301)), "1"},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, s, tc.want)
		}
	}
	if !a.Intersect(b).Equal(cpuset.Of(1, 2, 64)) {
		t.Error("Equal: trimmed sets differ")
	}
	if a.Equal(b) || !a.Equal(a) || !(cpuset.Set{}).Equal(b.Difference(b)) {
		t.Error("Equal is wrong")
	}
	if !cpuset.Of(1, 2).SubsetOf(b) || a.SubsetOf(b) || !(cpuset.Set{}).SubsetOf(cpuset.Set{}) || cpuset.Of(300).SubsetOf(b) {
		t.Error("SubsetOf is wrong")
	}
	if !a.Intersects(b) || cpuset.Of(0).Intersects(b) || (cpuset.Set{}).Intersects(a) {
		t.Error("Intersects is wrong")
	}
	if a.Count() != 5 || a.Max() != 200 || (cpuset.Set{}).Max() != -1 || !(cpuset.Set{}).IsEmpty() || a.IsEmpty() {
		t.Errorf("Count/Max/IsEmpty: %d %d", a.Count(), a.Max())
	}
	if !a.Contains(64) || a.Contains(65) || a.Contains(-1) || a.Contains(100000) {
		t.Error("Contains is wrong")
	}
	if diff := cmp.Diff([]int{0, 1, 2, 64, 200}, a.IDs()); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
	var first []int
	for id := range a.All() {
		first = append(first, id)
		if len(first) == 2 {
			break
		}
	}
	if !slices.Equal(first, []int{0, 1}) {
		t.Errorf("All stopped early = %v", first)
	}
}

func TestCPUSetConversion(t *testing.T) {
	s := cpuset.Of(0, 3, 63, 64, 1023)
	cs, err := s.CPUSet()
	if err != nil {
		t.Fatal(err)
	}
	if cs.Count() != 5 || !cs.IsSet(1023) || !cs.IsSet(64) || cs.IsSet(1) {
		t.Errorf("CPUSet() = %v", cs)
	}
	if back := cpuset.FromCPUSet(&cs); !back.Equal(s) {
		t.Errorf("FromCPUSet(CPUSet()) = %v, want %v", back, s)
	}
	if _, err := cpuset.Of(1024).CPUSet(); !errors.Is(err, unix.ERANGE) {
		t.Errorf("CPUSet of CPU 1024 = %v, want ERANGE", err)
	}
	var empty unix.CPUSet
	if !cpuset.FromCPUSet(&empty).IsEmpty() {
		t.Error("FromCPUSet(empty) is not empty")
	}
}

func FuzzParseList(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in, uint16(2))
	}
	f.Add("0-3,5,7-9", uint16(64))
	f.Add("0-1023:2/256", uint16(1024))
	f.Add("all:1/3,N", uint16(8192))
	f.Fuzz(func(t *testing.T, in string, nbits uint16) {
		s, err := cpuset.ParseListLimit(in, int(nbits))
		if err != nil {
			var errno unix.Errno
			if !errors.As(err, &errno) || (errno != unix.EINVAL && errno != unix.ERANGE && errno != unix.EOVERFLOW) {
				t.Fatalf("ParseListLimit(%q, %d) error %v is not EINVAL, ERANGE or EOVERFLOW", in, nbits, err)
			}
			return
		}
		if s.Max() >= max(int(nbits), 0) && !s.IsEmpty() {
			t.Fatalf("ParseListLimit(%q, %d) = %v, beyond nbits", in, nbits, s)
		}
		back, err := cpuset.ParseList(s.String())
		if err != nil || !back.Equal(s) {
			t.Fatalf("%q parses to %v, which does not round-trip: %v, %v", in, s, back, err)
		}
		if back.String() != s.String() || len(s.IDs()) != s.Count() {
			t.Fatalf("%v: String or IDs disagree", s)
		}
	})
}
