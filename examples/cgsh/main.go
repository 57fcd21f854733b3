package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/taskcontainers/containers"
	"github.com/taskcontainers/containers/topology"
	"golang.org/x/sys/unix"
)

// Exit statuses.
const (
	exitOK    = 0 // the input was read to the end, whatever the commands did
	exitUsage = 2 // bad flags or arguments, or an unreadable script
)

var errEmptyList = errors.New("empty list")

// drainTimeout bounds how long cgsh waits, when the input is done, for the
// release agents that the script set off to be run and to exit.
const drainTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: cgsh [-cpus LIST -mems LIST] [-c 'LINE; LINE' | FILE]

Runs cgsh commands from FILE, from -c, or from standard input.
`

// run is the whole program: it parses args, runs the commands and returns
// the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cgsh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	lines := fs.String("c", "", "run the `lines` given, separated by ';'")
	cpus := fs.String("cpus", "", "the CPUs of the machine, as a `LIST` such as 0-3 (default: the host's)")
	mems := fs.String("mems", "", "the memory nodes of the machine, as a `LIST` such as 0 (default: the host's)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 1 || (set["c"] && fs.NArg() > 0) {
		fmt.Fprintln(stderr, "cgsh: give either -c or one script file")
		fs.Usage()
		return exitUsage
	}
	var topo *topology.Topology
	if set["cpus"] || set["mems"] {
		host := topology.Host()
		topo = &host
	}
	if set["cpus"] {
		ids, err := parseIDList(*cpus)
		if err != nil {
			fmt.Fprintf(stderr, "cgsh: -cpus %q: %v\n", *cpus, err)
			return exitUsage
		}
		topo.OnlineCPUs, topo.PossibleCPUs = ids, ids[len(ids)-1]+1
	}
	if set["mems"] {
		ids, err := parseIDList(*mems)
		if err != nil {
			fmt.Fprintf(stderr, "cgsh: -mems %q: %v\n", *mems, err)
			return exitUsage
		}
		topo.Nodes, topo.PossibleNodes = ids, ids[len(ids)-1]+1
	}

	var in *bufio.Reader
	prompt := false
	switch {
	case set["c"]:
		in = bufio.NewReader(strings.NewReader(strings.Join(splitCommands(*lines), "\n")))
	case fs.NArg() == 1:
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "cgsh:", err)
			return exitUsage
		}
		defer f.Close()
		in = bufio.NewReader(f)
	default:
		in = bufio.NewReader(stdin)
		prompt = isTerminal(stdin)
	}

	sys, err := containers.New(newSubsystems(topo))
	if err != nil {
		fmt.Fprintln(stderr, "cgsh:", err)
		return exitUsage
	}
	defer shutdown(sys)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	return newShell(sys, out).runInput(in, prompt, stderr)
}

// shutdown waits, within drainTimeout, for the release agents that were set
// off to run and exit, as they would on the kernel after the script, and
// then closes sys.
func shutdown(sys *containers.System) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	sys.Flush(ctx)
	sys.Close(ctx)
}

// runInput runs the lines of in until its end, writing a prompt before each
// one if prompt is set. A read error ends it with exitUsage.
func (s *shell) runInput(in *bufio.Reader, prompt bool, stderr io.Writer) int {
	for {
		if prompt {
			s.out.WriteString("cgsh> ")
			s.out.Flush()
		}
		line, err := in.ReadString('\n')
		if line != "" {
			s.execLine(strings.TrimSuffix(line, "\n"))
			s.out.Flush()
		}
		if errors.Is(err, io.EOF) {
			if prompt {
				s.out.WriteString("\n")
			}
			return exitOK
		}
		if err != nil {
			s.out.Flush()
			fmt.Fprintln(stderr, "cgsh:", err)
			return exitUsage
		}
	}
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
