package cpuset

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/taskcontainers/containers/topology"
)

// DefaultMaxNodes is the kernel's MAX_NUMNODES assumed for a made-up
// machine: 1024, as on x86-64 kernels built with NODES_SHIFT=10.
const DefaultMaxNodes = 1024

// Limits are build-time limits of the kernel that the subsystem models.
// They decide which writes are too long (E2BIG) and which numbers are out
// of range (ERANGE) rather than merely absent (EINVAL).
type Limits struct {
	// NRCPUs is the kernel's NR_CPUS: cpuset.cpus takes writes of at most
	// 100 + 6 × NRCPUs bytes. Zero means Topology.PossibleCPUs (or the
	// host's value, /sys/devices/system/cpu/kernel_max + 1, for the host's
	// topology). It is never below PossibleCPUs.
	NRCPUs int

	// MaxNodes is the kernel's MAX_NUMNODES: memory node numbers at or
	// above it give ERANGE, and cpuset.mems takes writes of at most
	// 100 + 6 × MaxNodes bytes. Zero means DefaultMaxNodes (or the host's
	// value, the width of Mems_allowed in /proc/self/status, for the
	// host's topology). At most MaxBits.
	MaxNodes int

	// MaxRelaxDomainLevel is the largest value sched_relax_domain_level
	// takes: the kernel's sched_domain_level_max + 1, which depends on the
	// scheduler domains the machine has. Zero means a guess from the
	// topology: 1 for a single CPU (one domain level), 2 for several CPUs
	// on one memory node (two levels), 3 for several nodes. The kernel's
	// documentation lists levels up to 5.
	MaxRelaxDomainLevel int
}

// withDefaults fills in zero fields for t.
func (l Limits) withDefaults(t topology.Topology) Limits {
	l.NRCPUs = max(l.NRCPUs, t.PossibleCPUs)
	if l.MaxNodes <= 0 {
		l.MaxNodes = max(DefaultMaxNodes, t.PossibleNodes)
	}
	l.MaxNodes = min(max(l.MaxNodes, t.PossibleNodes), MaxBits)
	if l.MaxRelaxDomainLevel <= 0 {
		switch {
		case len(t.OnlineCPUs) <= 1:
			l.MaxRelaxDomainLevel = 1
		case len(t.Nodes) <= 1:
			l.MaxRelaxDomainLevel = 2
		default:
			l.MaxRelaxDomainLevel = 3
		}
	}
	return l
}

// HostLimits returns the limits of the running kernel that it shows:
// NR_CPUS from /sys/devices/system/cpu/kernel_max and MAX_NUMNODES from the
// width of the Mems_allowed mask in /proc/self/status. Fields it cannot read
// are zero. MaxRelaxDomainLevel is always zero: the kernel does not show it
// without debugfs.
func HostLimits() Limits {
	var l Limits
	if b, err := os.ReadFile("/sys/devices/system/cpu/kernel_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < MaxBits {
			l.NRCPUs = n + 1
		}
	}
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Mems_allowed:"); ok {
				hex := strings.ReplaceAll(strings.TrimSpace(v), ",", "")
				if hex != "" && strings.Trim(hex, "0123456789abcdefABCDEF") == "" {
					l.MaxNodes = min(4*len(hex), MaxBits)
				}
				break
			}
		}
	}
	return l
}
