package subsystemtest

import (
	"slices"

	"github.com/taskcontainers/containers"
)

// The checks of the recorded callback sequence. Most of what they check is promised by the framework; they catch a framework that
// breaks its promise as well as a subsystem that makes it (a state Create
// returns twice, say), and they tell the subsystem's author exactly which
// callbacks it got.

// eventsByOp returns the recorded events by operation.
func (e *env) eventsByOp() map[int][]event {
	out := map[int][]event{}
	for _, ev := range e.rec.snapshot() {
		out[ev.op] = append(out[ev.op], ev)
	}
	return out
}

// checkLifecycle checks that Create and Destroy balance (every state
// Create returned for a container is destroyed exactly once, with that
// container, when it is removed; never a root state) and that no callback
// or file handler names a container or state after its Destroy.
func (e *env) checkLifecycle() {
	type life struct {
		c         *containers.Container
		root      bool
		destroyed bool
	}
	states := map[containers.State]*life{}
	dead := map[*containers.Container]bool{}
	for _, ev := range e.rec.snapshot() {
		if ev.ss != e.name {
			continue
		}
		if ev.kind != evCreate && ev.kind != evDestroy {
			if ev.c != nil && dead[ev.c] {
				e.failRule(RuleAfterDestroy, "%s after the Destroy of %s", ev.String(), ev.c.Path())
			} else if l := states[ev.state]; ev.state != nil && l != nil && l.destroyed {
				e.failRule(RuleAfterDestroy, "%s with the state of %s after its Destroy", ev.String(), l.c.Path())
			}
		}
		switch ev.kind {
		case evCreate:
			if ev.err != nil || ev.state == nil {
				continue // New or Mkdir failed, and says so
			}
			if l := states[ev.state]; l != nil {
				e.failRule(RuleCreateDestroy, "Create(%s) returned the state it had returned for %s", describe(ev.c), describe(l.c))
				continue
			}
			states[ev.state] = &life{c: ev.c, root: ev.c.Parent() == nil}
		case evDestroy:
			l := states[ev.state]
			switch {
			case dead[ev.c]:
				e.failRule(RuleAfterDestroy, "second Destroy(%s)", ev.c.Path())
			case l == nil:
				e.failRule(RuleCreateDestroy, "Destroy(%s) with a state that Create did not return", ev.c.Path())
			case l.root:
				e.failRule(RuleCreateDestroy, "Destroy(%s) with the root state", ev.c.Path())
			case l.destroyed:
				e.failRule(RuleCreateDestroy, "second Destroy of the state of %s", l.c.Path())
			case l.c != ev.c:
				e.failRule(RuleCreateDestroy, "Destroy(%s) with the state of %s", ev.c.Path(), l.c.Path())
			}
			if l != nil {
				l.destroyed = true
			}
			dead[ev.c] = true
		}
	}
	for _, l := range states {
		if !l.root && !l.destroyed && l.c.Removed() {
			e.failRule(RuleCreateDestroy, "%s was removed but Destroy was not called for its state", l.c.Path())
		}
	}
}

// sameTasks reports whether a and b hold the same tasks, in any order.
func sameTasks(a, b []*containers.Task) bool {
	if len(a) != len(b) {
		return false
	}
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	return true
}

// checkArgs checks that an attach callback was told the right destination
// and tasks.
func (e *env) checkArgs(rule Rule, op *opInfo, ev event) {
	if ev.c != op.dst {
		e.failRule(rule, "%s: %s was given destination %s", op.what, ev.kind, describe(ev.c))
	}
	if !sameTasks(ev.tasks, op.moving) {
		e.failRule(rule, "%s: %s was given tasks %s, want %s", op.what, ev.kind, taskList(ev.tasks), taskList(op.moving))
	}
}

// checkAttachOps checks the callbacks of every attach: CanAttach once;
// after a refusal by the subsystem, neither Attach nor CancelAttach; after
// its agreement and a later subsystem's refusal, CancelAttach exactly
// once and no Attach; after a success, Attach exactly once; each told the
// destination and the tasks that move, in that order; and no callback at
// all when no task has to move.
func (e *env) checkAttachOps() {
	byOp := e.eventsByOp()
	for _, op := range e.ops {
		if !op.attach {
			continue
		}
		var can, cancel, att []event
		var canAt, lastCancel, lastAttach int
		refRefused := false
		for i, ev := range byOp[op.n] {
			if ev.ss == e.ref.name && ev.kind == evCanAttach && ev.err != nil {
				refRefused = true
			}
			if ev.ss != e.name {
				continue
			}
			switch ev.kind {
			case evCanAttach:
				can = append(can, ev)
				canAt = i
			case evCancelAttach:
				cancel = append(cancel, ev)
				lastCancel = i
			case evAttach:
				att = append(att, ev)
				lastAttach = i
			}
		}
		if len(op.moving) == 0 {
			if n := len(can) + len(cancel) + len(att); n > 0 {
				e.failRule(RuleAttach, "%s: no task had to move, yet the subsystem got %d attach callbacks", op.what, n)
			}
			continue
		}
		if len(can) != 1 {
			e.failRule(RuleAttach, "%s: CanAttach was called %d times, want once", op.what, len(can))
			continue
		}
		e.checkArgs(RuleAttach, op, can[0])
		if err := can[0].err; err != nil {
			if len(att) > 0 {
				e.failRule(RuleAttach, "%s: Attach was called although the subsystem's CanAttach refused (%v)", op.what, err)
			}
			if len(cancel) > 0 {
				e.failRule(RuleCancelAttach, "%s: CancelAttach was called although the subsystem's own CanAttach refused (%v); only those that agreed are cancelled", op.what, err)
			}
			if by := refusedBy(op.err); by != e.name && !panicked(err) {
				e.failRule(RuleAttach, "%s: the subsystem's CanAttach refused (%v), but the attach returned %v", op.what, err, op.err)
			}
			continue
		}
		if refRefused {
			if len(att) > 0 {
				e.failRule(RuleAttach, "%s: Attach was called although a later subsystem refused", op.what)
			}
			if len(cancel) != 1 {
				e.failRule(RuleCancelAttach, "%s: the subsystem agreed and a later subsystem refused, so CancelAttach is due once; it was called %d times", op.what, len(cancel))
				continue
			}
			e.checkArgs(RuleCancelAttach, op, cancel[0])
			if lastCancel < canAt {
				e.failRule(RuleCancelAttach, "%s: CancelAttach came before CanAttach", op.what)
			}
			continue
		}
		if len(cancel) > 0 && op.err == nil {
			e.failRule(RuleCancelAttach, "%s succeeded, yet CancelAttach was called", op.what)
		}
		if op.err != nil {
			if len(att) > 0 {
				e.failRule(RuleAttach, "%s failed (%v), yet Attach was called", op.what, op.err)
			}
			continue
		}
		if len(att) != 1 {
			e.failRule(RuleAttach, "%s succeeded: Attach is due once after the accepted CanAttach; it was called %d times", op.what, len(att))
			continue
		}
		e.checkArgs(RuleAttach, op, att[0])
		if lastAttach < canAt {
			e.failRule(RuleAttach, "%s: Attach came before CanAttach", op.what)
		}
	}
}

// checkForkExit checks that every task the kit made got exactly one Fork,
// every task it ended exactly one Exit after it, and no other task either.
func (e *env) checkForkExit() {
	forks := map[*containers.Task]int{}
	exits := map[*containers.Task]int{}
	var order []*containers.Task
	for _, ev := range e.rec.snapshot() {
		if ev.ss != e.name || (ev.kind != evFork && ev.kind != evExit) {
			continue
		}
		t := ev.tasks[0]
		if forks[t] == 0 && exits[t] == 0 {
			order = append(order, t)
		}
		if ev.kind == evFork {
			if exits[t] > 0 {
				e.failRule(RuleForkExit, "Fork(task %s) after its Exit", t)
			}
			forks[t]++
		} else {
			if forks[t] == 0 {
				e.failRule(RuleForkExit, "Exit(task %s) before any Fork of it", t)
			}
			exits[t]++
		}
	}
	for _, t := range e.tasks {
		if forks[t] != 1 {
			e.failRule(RuleForkExit, "task %s: Fork was called %d times, want once", t, forks[t])
		}
		want := 0
		if e.exited[t] {
			want = 1
		}
		if exits[t] != want {
			e.failRule(RuleForkExit, "task %s: Exit was called %d times, want %d", t, exits[t], want)
		}
	}
	for _, t := range order {
		if !slices.Contains(e.tasks, t) {
			e.failRule(RuleForkExit, "Fork or Exit of task %s, which the host never made", t)
		}
	}
}

// checkCloneOps checks the callbacks of every Clone: Create of the new
// container, then PostClone of it, then the attach (checked by
// checkAttachOps), and Destroy of it if the Clone failed. It also fills in
// the destination of each clone's attach for checkAttachOps.
func (e *env) checkCloneOps() {
	byOp := e.eventsByOp()
	for _, op := range e.ops {
		if !op.clone {
			continue
		}
		var sut []event
		for _, ev := range byOp[op.n] {
			if ev.ss == e.name {
				sut = append(sut, ev)
			}
		}
		if len(sut) == 0 {
			if op.err == nil && op.dst != nil {
				e.failRule(RuleClone, "%s: the subsystem got no callback", op.what)
			}
			continue
		}
		if sut[0].kind != evCreate {
			e.failRule(RuleClone, "%s: the first callback was %s, want Create", op.what, sut[0].kind)
			continue
		}
		if sut[0].err != nil {
			if len(sut) > 1 {
				e.failRule(RuleClone, "%s: callbacks after the subsystem's Create failed: %s", op.what, sut[1].String())
			}
			continue
		}
		c := sut[0].c
		kinds := make([]string, 0, len(sut))
		for _, ev := range sut {
			kinds = append(kinds, ev.kind)
			if ev.c != nil && ev.c != c {
				e.failRule(RuleClone, "%s: %s named %s, not the new container %s", op.what, ev.kind, describe(ev.c), c.Path())
			}
		}
		if len(kinds) < 3 || kinds[1] != evPostClone || kinds[2] != evCanAttach {
			e.failRule(RuleClone, "%s: callbacks %v, want Create, PostClone, CanAttach, ...", op.what, kinds)
			continue
		}
		destroys := 0
		for _, k := range kinds {
			if k == evDestroy {
				destroys++
			}
		}
		switch {
		case op.err == nil && destroys > 0:
			e.failRule(RuleClone, "%s succeeded, yet the new container was destroyed", op.what)
		case op.err != nil && (destroys != 1 || kinds[len(kinds)-1] != evDestroy):
			e.failRule(RuleClone, "%s failed (%v): the new container must be destroyed once, last; callbacks %v", op.what, op.err, kinds)
		}
		op.attach, op.dst = true, c
	}
}
