package subsystemtest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/taskcontainers/containers"
)

// A Rule is one part of the contract between the framework and a
// Subsystem that the kit checks. Each rule has its own scenario, run on a
// new System with a new subsystem from the caller's constructor.
type Rule string

// The rules, in the order Check and Run take them. The package
// documentation describes what each one drives and checks.
const (
	RuleRegister      Rule = "register"       // New accepts the subsystem; its name is valid and stable
	RuleFiles         Rule = "files"          // unique valid file names, listed where and as they should be
	RuleRead          Rule = "read"           // every file is readable everywhere it appears
	RuleCreateDestroy Rule = "create-destroy" // Create and Destroy balance; Destroy undoes Create
	RuleAfterDestroy  Rule = "after-destroy"  // no callback after Destroy
	RuleAttach        Rule = "attach"         // Attach only after an accepted CanAttach; a refusal changes nothing
	RuleCancelAttach  Rule = "cancel-attach"  // CancelAttach exactly for those that agreed; it undoes CanAttach
	RuleForkExit      Rule = "fork-exit"      // Fork and Exit balance
	RuleClone         Rule = "clone"          // Clone: Create, PostClone, attach, all or nothing
	RuleWrite         Rule = "write"          // a write that fails changes nothing; no panic on any input
)

// Rules returns every rule, in the order Check and Run take them.
func Rules() []Rule {
	return []Rule{RuleRegister, RuleFiles, RuleRead, RuleCreateDestroy, RuleAfterDestroy,
		RuleAttach, RuleCancelAttach, RuleForkExit, RuleClone, RuleWrite}
}

// A Violation is one broken rule, as Check reports it (inside the
// errors.Join of all of them) and Run logs it.
type Violation struct {
	Rule Rule   // the rule whose scenario found it
	Msg  string // what happened, naming the container, file, task or callback
}

func (v *Violation) Error() string { return string(v.Rule) + ": " + v.Msg }

// Violations returns the violations inside an error returned by Check, in
// order.
func Violations(err error) []*Violation {
	var out []*Violation
	var walk func(error)
	walk = func(err error) {
		if v, ok := err.(*Violation); ok {
			out = append(out, v)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// Options adapt the kit to a subsystem. The zero value is ready to use.
type Options struct {
	// Setup, if set, is called on every container the kit makes with
	// Mkdir, right after it is made and before any task is moved into it,
	// to make it attachable: a cpuset, whose CanAttach refuses a container
	// with empty cpus or mems, writes them here. It runs without any lock
	// of the System and may read and write control files. An error is
	// reported as a violation of the rule being checked. Without Setup (or
	// when a container refuses anyway), a refused attach is accepted as
	// legitimate behaviour: the kit then checks that nothing changed and
	// that no Attach followed.
	Setup func(c *containers.Container) error

	// Volatile names files (without the "<subsystem>." prefix) whose
	// content may change as a side effect of operations that should
	// otherwise change nothing, such as a lifetime counter of forks. The
	// kit does not compare them. A file whose content differs between two
	// reads in a row is treated as volatile without being named here.
	Volatile []string
}

// Check checks the subsystems that newSubsystem returns against every rule
// and returns the errors.Join of every violation found, each a
// *Violation, or nil. It calls newSubsystem once per rule (each rule runs
// on a new System) and works outside go test. It is Options{}.Check.
func Check(newSubsystem func() containers.Subsystem) error {
	return Options{}.Check(newSubsystem)
}

// Run is Options{}.Run.
func Run(t *testing.T, newSubsystem func(*testing.T) containers.Subsystem) {
	t.Helper()
	Options{}.Run(t, newSubsystem)
}

// Check is the package-level Check with these options. It is safe for
// concurrent use.
func (o Options) Check(newSubsystem func() containers.Subsystem) error {
	var errs []error
	seen := make(map[string]bool)
	for _, rule := range Rules() {
		res := runRule(rule, o, newSubsystem())
		for _, v := range res.violations {
			if !seen[v.Error()] { // a panic in a shared path shows up in several steps
				seen[v.Error()] = true
				errs = append(errs, v)
			}
		}
		if rule == RuleRegister && len(res.violations) > 0 {
			break // nothing else can run
		}
	}
	return errors.Join(errs...)
}

// Run checks the subsystems that newSubsystem returns against every rule,
// one subtest per rule named after it, each with a new subsystem and a new
// System; every violation fails the subtest with t.Error. newSubsystem is
// called with the subtest's t, so it may use t.Cleanup or t.Fatal. Run logs
// the optional interfaces it detected and, per rule, any part of the
// contract that the subsystem's behaviour left unexercised (for example
// Attach when every attach was refused).
func (o Options) Run(t *testing.T, newSubsystem func(*testing.T) containers.Subsystem) {
	t.Helper()
	registered := true
	for _, rule := range Rules() {
		t.Run(string(rule), func(t *testing.T) {
			if !registered {
				t.Skip("skipped: the subsystem cannot be registered")
			}
			ss := newSubsystem(t)
			if rule == RuleRegister {
				t.Logf("optional interfaces: %s", strings.Join(Interfaces(ss), ", "))
			}
			res := runRule(rule, o, ss)
			for _, n := range res.notes {
				t.Log(n)
			}
			for _, v := range res.violations {
				t.Error(v)
			}
			if rule == RuleRegister && len(res.violations) > 0 {
				registered = false
			}
		})
	}
}

// Interfaces returns the names of the optional interfaces of the
// containers package that ss implements, in the order CanAttacher,
// AttachCanceler, Attacher, Forker, Exiter, PostCloner, Binder,
// FileProvider; the framework detects them the same way, by type
// assertion, once at New.
func Interfaces(ss containers.Subsystem) []string {
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	_, ok := ss.(containers.CanAttacher)
	add(ok, "CanAttacher")
	_, ok = ss.(containers.AttachCanceler)
	add(ok, "AttachCanceler")
	_, ok = ss.(containers.Attacher)
	add(ok, "Attacher")
	_, ok = ss.(containers.Forker)
	add(ok, "Forker")
	_, ok = ss.(containers.Exiter)
	add(ok, "Exiter")
	_, ok = ss.(containers.PostCloner)
	add(ok, "PostCloner")
	_, ok = ss.(containers.Binder)
	add(ok, "Binder")
	_, ok = ss.(containers.FileProvider)
	add(ok, "FileProvider")
	return out
}

// result is what one rule's scenario found.
type result struct {
	violations []*Violation
	notes      []string
}

// runRule runs one rule's scenario on ss.
func runRule(rule Rule, o Options, ss containers.Subsystem) result {
	e := newEnv(rule, o, ss)
	defer e.close()
	if e.start() {
		runScenario(e)
	}
	e.finish()
	return result{violations: e.vs, notes: e.notes}
}

// runScenario runs the scenario of e's rule and returns the violations
// found so far.
func runScenario(e *env) []*Violation {
	switch e.rule {
	case RuleRegister:
		e.ruleRegister()
	case RuleFiles:
		e.ruleFiles()
	case RuleRead:
		e.ruleRead()
	case RuleCreateDestroy:
		e.ruleCreateDestroy()
	case RuleAfterDestroy:
		e.ruleAfterDestroy()
	case RuleAttach:
		e.ruleAttach()
	case RuleCancelAttach:
		e.ruleCancelAttach()
	case RuleForkExit:
		e.ruleForkExit()
	case RuleClone:
		e.ruleClone()
	case RuleWrite:
		e.ruleWrite()
	}
	return e.vs
}

// isComparable reports whether ss can be compared with ==, as the framework
// requires.
func isComparable(ss containers.Subsystem) bool {
	return ss != nil && reflect.TypeOf(ss).Comparable()
}

// coreFiles are the framework's own files, which a subsystem's files must
// not shadow.
var coreFiles = []string{"tasks", "cgroup.procs", "notify_on_release", "cgroup.clone_children",
	"release_agent", "cgroup.sane_behavior"}

func isCoreFile(name string) bool { return slices.Contains(coreFiles, name) }
