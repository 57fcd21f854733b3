// Package topology describes the CPUs and memory nodes that the cpuset and
// cpuacct subsystems work with: the host's, read through the kernel's sysfs
// files and golang.org/x/sys/unix, or one a host or test makes up (a 64-CPU,
// 4-node machine on a laptop).
package topology

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A Topology is a machine's CPUs and memory nodes.
type Topology struct {
	// PossibleCPUs is the number of possible CPU IDs: CPU numbers range
	// over [0, PossibleCPUs). Per-CPU files (cpuacct.usage_percpu) have
	// this many entries, and cpuset.cpus rejects larger numbers with ERANGE.
	PossibleCPUs int
	// OnlineCPUs are the CPUs that can run tasks, ascending.
	OnlineCPUs []int
	// PossibleNodes is the number of possible memory node IDs.
	PossibleNodes int
	// Nodes are the memory nodes that have memory, ascending.
	Nodes []int
}

// Uniform returns a machine with cpus CPUs and nodes memory nodes, all
// online.
func Uniform(cpus, nodes int) Topology {
	t := Topology{PossibleCPUs: cpus, PossibleNodes: nodes}
	for i := range cpus {
		t.OnlineCPUs = append(t.OnlineCPUs, i)
	}
	for i := range nodes {
		t.Nodes = append(t.Nodes, i)
	}
	return t
}

// Host returns the host's topology. CPUs come from
// /sys/devices/system/cpu/{possible,online}, or else from the scheduler
// affinity of this process (unix.SchedGetaffinity); memory nodes from
// /sys/devices/system/node/{possible,has_memory}, or else node 0 alone.
func Host() Topology {
	var t Topology
	if ids, ok := readList("/sys/devices/system/cpu/possible"); ok && len(ids) > 0 {
		t.PossibleCPUs = ids[len(ids)-1] + 1
	}
	if ids, ok := readList("/sys/devices/system/cpu/online"); ok && len(ids) > 0 {
		t.OnlineCPUs = ids
	} else {
		var set unix.CPUSet
		if unix.SchedGetaffinity(0, &set) == nil {
			for i := range len(set) * 64 {
				if set.IsSet(i) {
					t.OnlineCPUs = append(t.OnlineCPUs, i)
				}
			}
		}
	}
	if len(t.OnlineCPUs) == 0 {
		for i := range runtime.NumCPU() {
			t.OnlineCPUs = append(t.OnlineCPUs, i)
		}
	}
	if last := t.OnlineCPUs[len(t.OnlineCPUs)-1]; t.PossibleCPUs <= last {
		t.PossibleCPUs = last + 1
	}
	if ids, ok := readList("/sys/devices/system/node/has_memory"); ok && len(ids) > 0 {
		t.Nodes = ids
	} else {
		t.Nodes = []int{0}
	}
	if ids, ok := readList("/sys/devices/system/node/possible"); ok && len(ids) > 0 {
		t.PossibleNodes = ids[len(ids)-1] + 1
	}
	if last := t.Nodes[len(t.Nodes)-1]; t.PossibleNodes <= last {
		t.PossibleNodes = last + 1
	}
	return t
}

// readList reads a sysfs list file such as "0-3,5\n".
func readList(path string) ([]int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	return parseList(strings.TrimSpace(string(b)))
}

// parseList parses the plain list format of sysfs ("0-3,5"); it has no
// strides, so a full cpuset list parser is not needed here.
func parseList(s string) ([]int, bool) {
	var ids []int
	if s == "" {
		return nil, true
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, false
			}
		}
		for i := a; i <= b; i++ {
			ids = append(ids, i)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), true
}
