package subsystemtest_test

import (
	"fmt"
	"sync/atomic"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/subsystemtest"
	"golang.org/x/sys/unix"
)

// quota is a small subsystem with one file, quota.max in the root, that
// takes a number up to 1000. Its writer has a bug: it stores the value
// before checking it.
type quota struct{ max atomic.Uint64 }

type quotaState struct{ containers.CSS }

func (*quota) Name() string { return "quota" }
func (*quota) Create(*containers.Container) (containers.State, error) {
	return &quotaState{}, nil
}
func (*quota) Destroy(*containers.Container, containers.State) {}
func (q *quota) Files() []containers.File {
	return []containers.File{{
		Name:     "max",
		ReadUint: func(*containers.FileContext) uint64 { return q.max.Load() },
		WriteUint: func(_ *containers.FileContext, v uint64) error {
			q.max.Store(v) // the bug: this belongs after the check
			if v > 1000 {
				return unix.EINVAL
			}
			return nil
		},
		RootOnly: true,
	}}
}

func ExampleCheck() {
	err := subsystemtest.Check(func() containers.Subsystem { return &quota{} })
	vs := subsystemtest.Violations(err)
	fmt.Println(len(vs), "violations, the first:")
	fmt.Println(vs[0])
	// Output:
	// 4 violations, the first:
	// write: write of "65536" to quota.max in /, which failed, changed file / quota.max from "1\n" to "65536\n"
}
