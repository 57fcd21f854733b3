package main

import (
	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/cpuacct"
	"github.com/taskcontainers/containers/cpuset"
	"github.com/taskcontainers/containers/debugsub"
	"github.com/taskcontainers/containers/topology"
)

// newSubsystems returns the subsystems of cgsh's System, in ID order:
// cpuset, cpuacct and debug. They model the machine topo, or the host if
// topo is nil (cpuset then also takes the host kernel's limits).
func newSubsystems(topo *topology.Topology) []containers.Subsystem {
	var csOpts []cpuset.Option
	var caOpts []cpuacct.Option
	if topo != nil {
		csOpts = append(csOpts, cpuset.WithTopology(*topo))
		caOpts = append(caOpts, cpuacct.WithTopology(*topo))
	}
	return []containers.Subsystem{
		cpuset.New(csOpts...),
		cpuacct.New(caOpts...),
		debugsub.New(),
	}
}

// parseIDList parses the argument of -cpus or -mems, a list in the kernel's
// format ("0-3,5"), into ascending IDs; an empty list is an error.
func parseIDList(s string) ([]int, error) {
	set, err := cpuset.ParseList(s)
	if err != nil {
		return nil, err
	}
	if set.IsEmpty() {
		return nil, errEmptyList
	}
	return set.IDs(), nil
}
