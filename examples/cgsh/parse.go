package main

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/taskcontainers/containers"
)

// op is a command of the language.
type op int

const (
	opNone   op = iota // a blank line or a comment: nothing to do
	opMount            // mount -t TYPE [-o OPTS] SOURCE DIR
	opUmount           // umount DIR
	opMkdir            // mkdir [-p] DIR
	opRmdir            // rmdir DIR
	opLs               // ls DIR
	opCat              // cat FILE
	opEcho             // echo [-n] WORDS > FILE
	opSpawn            // spawn ID
	opFork             // fork PARENT CHILD
	opKill             // kill ID
	opSleep            // sleep MS
)

// A command is one parsed line. Which fields are set depends on op.
type command struct {
	op      op
	path    string // the DIR or FILE argument, absolute
	fstype  string // mount: the -t argument
	opts    string // mount: the -o argument ("" when left out)
	hasOpts bool   // mount: -o was given
	parents bool   // mkdir -p
	data    string // echo: the bytes to write
	id      containers.TaskID
	child   containers.TaskID // fork: the new task
	delay   time.Duration     // sleep
}

// maxSleep is the longest sleep the language accepts, so that MS
// milliseconds fit a time.Duration.
const maxSleep = math.MaxInt64 / int64(time.Millisecond)

// parseLine parses one line of the language. It returns ok false for a
// line that is not a command; a blank line or a comment gives opNone.
func parseLine(line string) (command, bool) {
	words := strings.FieldsFunc(line, isBlank)
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return command{op: opNone}, true
	}
	args := words[1:]
	switch words[0] {
	case "mount":
		return parseMount(args)
	case "umount":
		return pathCommand(opUmount, args)
	case "mkdir":
		if len(args) == 2 && args[0] == "-p" {
			c, ok := pathCommand(opMkdir, args[1:])
			c.parents = true
			return c, ok
		}
		return pathCommand(opMkdir, args)
	case "rmdir":
		return pathCommand(opRmdir, args)
	case "ls":
		return pathCommand(opLs, args)
	case "cat":
		return pathCommand(opCat, args)
	case "echo":
		return parseEcho(args)
	case "spawn", "kill":
		if len(args) != 1 {
			return command{}, false
		}
		id, ok := parseID(args[0])
		o := opSpawn
		if words[0] == "kill" {
			o = opKill
		}
		return command{op: o, id: id}, ok
	case "fork":
		if len(args) != 2 {
			return command{}, false
		}
		parent, ok1 := parseID(args[0])
		child, ok2 := parseID(args[1])
		return command{op: opFork, id: parent, child: child}, ok1 && ok2
	case "sleep":
		if len(args) != 1 || !isDigits(args[0]) {
			return command{}, false
		}
		ms, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || ms > maxSleep {
			return command{}, false
		}
		return command{op: opSleep, delay: time.Duration(ms) * time.Millisecond}, true
	}
	return command{}, false
}

// isBlank reports whether r separates words: a space or a tab.
func isBlank(r rune) bool { return r == ' ' || r == '\t' }

// trimBlanks removes the spaces and tabs around s.
func trimBlanks(s string) string { return strings.TrimFunc(s, isBlank) }

// pathCommand parses the single absolute path argument of o.
func pathCommand(o op, args []string) (command, bool) {
	if len(args) != 1 || !strings.HasPrefix(args[0], "/") {
		return command{}, false
	}
	return command{op: o, path: args[0]}, true
}

// parseMount parses "-t TYPE [-o OPTS] SOURCE DIR"; -t and -o may come in
// either order, each once.
func parseMount(args []string) (command, bool) {
	c := command{op: opMount}
	hasType := false
	for len(args) >= 2 && (args[0] == "-t" || args[0] == "-o") {
		switch args[0] {
		case "-t":
			if hasType {
				return command{}, false
			}
			hasType, c.fstype = true, args[1]
		case "-o":
			if c.hasOpts {
				return command{}, false
			}
			c.hasOpts, c.opts = true, args[1]
		}
		args = args[2:]
	}
	if !hasType || len(args) != 2 || !strings.HasPrefix(args[1], "/") {
		return command{}, false
	}
	c.path = args[1] // args[0], the source, is ignored as the kernel does
	return c, true
}

// parseEcho parses "[-n] WORDS > FILE": WORDS are the words up to the first
// ">", which must be the last but one word.
func parseEcho(args []string) (command, bool) {
	gt := -1
	for i, w := range args {
		if w == ">" {
			gt = i
			break
		}
	}
	if gt < 0 || gt != len(args)-2 || !strings.HasPrefix(args[gt+1], "/") {
		return command{}, false
	}
	words, newline := args[:gt], "\n"
	if len(words) > 0 && words[0] == "-n" {
		words, newline = words[1:], ""
	}
	return command{op: opEcho, path: args[gt+1], data: strings.Join(words, " ") + newline}, true
}

// parseID parses a task ID: decimal digits whose value fits a TaskID.
func parseID(s string) (containers.TaskID, bool) {
	if !isDigits(s) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return containers.TaskID(v), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitCommands splits the argument of -c into lines at each ";".
func splitCommands(s string) []string {
	return strings.Split(s, ";")
}
