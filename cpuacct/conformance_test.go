package cpuacct_test

import (
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"github.com/taskcontainers/containers/subsystemtest"
	"github.com/taskcontainers/containers/topology"
)

func TestConformance(t *testing.T) {
	subsystemtest.Run(t, func(*testing.T) containers.Subsystem {
		return cpuacct.New(cpuacct.WithTopology(topology.Uniform(2, 1)))
	})
}

// TestConformanceHost runs the kit with the host's topology, the default.
func TestConformanceHost(t *testing.T) {
	if err := subsystemtest.Check(func() containers.Subsystem { return cpuacct.New() }); err != nil {
		for _, v := range subsystemtest.Violations(err) {
			t.Error(v)
		}
	}
}
