package cpuset_test

import (
	"testing"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/subsystemtest"
	"github.com/taskcontainers/containers/topology"
)

// TestConformance checks the framework's contract with the conformance
// kit, on a 64-CPU machine, once with the containers made attachable and
// once as they are made (every attach into a new cpuset is then refused).
func TestConformance(t *testing.T) {
	newSS := func(*testing.T) containers.Subsystem {
		return cpuset.New(cpuset.WithTopology(topology.Uniform(64, 4)))
	}
	t.Run("prepared", func(t *testing.T) {
		subsystemtest.Options{
			Setup: func(c *containers.Container) error {
				if err := c.WriteFile("cpuset.cpus", []byte("0-3")); err != nil {
					return err
				}
				return c.WriteFile("cpuset.mems", []byte("0"))
			},
		}.Run(t, newSS)
	})
	t.Run("empty", func(t *testing.T) {
		subsystemtest.Run(t, newSS)
	})
}
