package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit codes, the same for every subcommand (see the usage text and README.md).
const (
	exitOK      = 0 // done, or --help
	exitFailure = 1 // the command ran and failed: an invalid alarm, a failed check, a send refused
	exitUsage   = 2 // a wrong command line or configuration: nothing was done
)

const exitCodesText = "Exit codes: 0 ok, 1 failure, 2 usage or configuration error."

// command is one subcommand: its help texts, and its flags and what runs it.
type command struct {
	name        string
	args        string // the synopsis after the name, e.g. "[--strict] FILE|-"
	summary     string // one line for the general usage
	description string // paragraphs for `dispatch help NAME`
	exits       string // what each exit code means for this command ("" for exitCodesText)
	// flags declares the command's flags on fs and returns what runs the command once they are
	// parsed. It must do nothing else: `NAME --help` calls it and then only prints.
	flags func(fs *flagSet) runner
}

// flagSet is the standard library's, so commands declare flags the way Go users expect.
type flagSet = flag.FlagSet

// runner runs a command whose flags have been parsed; it returns the exit code.
type runner func(inv *invocation) int

// invocation is one run of a command: its parsed flags (the arguments left are inv.fs.Args()) and
// its standard streams.
type invocation struct {
	cmd      *command
	commands []*command // all of them, for help
	fs       *flagSet
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
}

// usageError reports a wrong command line and returns exitUsage.
func (inv *invocation) usageError(msg string) int {
	fmt.Fprintf(inv.stderr, "dispatch %s: %s\n\n", inv.cmd.name, msg)
	inv.cmd.printUsage(inv.stderr)
	return exitUsage
}

// newFlagSet declares the command's flags; errors and help are printed by the caller.
func (c *command) newFlagSet() (*flagSet, runner) {
	fs := flag.NewFlagSet("dispatch "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	r := c.flags(fs)
	return fs, r
}

// printUsage prints the command's synopsis, description, flags and exit codes.
func (c *command) printUsage(w io.Writer) {
	fs, _ := c.newFlagSet()
	var flags bytes.Buffer
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	synopsis := "dispatch " + c.name + " " + c.args
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace(synopsis), c.description)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	}
	exits := exitCodesText
	if c.exits != "" {
		exits = "Exit codes: " + c.exits + "."
	}
	fmt.Fprintf(w, "\n%s\n", exits)
}

// lookup finds a command of list by name.
func lookup(list []*command, name string) *command {
	for _, c := range list {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run runs the command line args (without the program name) and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := "run"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "--help", "-help", "-h":
		printGeneralUsage(stdout, commands)
		return exitOK
	case "--version", "-version", "-v":
		name = "version"
	}
	c := lookup(commands, name)
	if c == nil {
		fmt.Fprintf(stderr, "dispatch: unknown command %q\n\n", name)
		printGeneralUsage(stderr, commands)
		return exitUsage
	}
	fs, r := c.newFlagSet()
	inv := &invocation{cmd: c, commands: commands, fs: fs, stdin: stdin, stdout: stdout, stderr: stderr}
	if err := parseAnywhere(fs, args); errors.Is(err, flag.ErrHelp) {
		c.printUsage(stdout)
		return exitOK
	} else if err != nil {
		return inv.usageError(err.Error())
	}
	return r(inv)
}

// parseAnywhere parses flags wherever they are on the line, before or after the arguments
// (`validate *.json --strict`), as most command-line tools do; Go's flag package alone stops at the
// first argument. "--" ends the flags: what follows is arguments, even if it starts with "-".
// Afterwards fs.Args() is the arguments, in order.
func parseAnywhere(fs *flagSet, args []string) error {
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append(append([]string{"--"}, positional...), rest...))
}

func printGeneralUsage(w io.Writer, commands []*command) {
	fmt.Fprint(w, "dispatch routes alarms from SQS to Slack, GitHub and PagerDuty.\n\nUsage:\n  dispatch COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nWith no command, dispatch runs the bot. \"dispatch help COMMAND\" or \"dispatch COMMAND --help\"\nprints a command's usage. The configuration comes from the environment: see README.md.\n\n%s\n", exitCodesText)
}

var helpCommand = &command{
	name:        "help",
	args:        "[COMMAND]",
	summary:     "print the usage of dispatch, or of one command",
	description: "Prints the usage of COMMAND, or with no COMMAND the list of commands.",
	flags: func(*flagSet) runner {
		return func(inv *invocation) int {
			switch inv.fs.NArg() {
			case 0:
				printGeneralUsage(inv.stdout, inv.commands)
				return exitOK
			case 1:
				c := lookup(inv.commands, inv.fs.Arg(0))
				if c == nil {
					return inv.usageError(fmt.Sprintf("unknown command %q", inv.fs.Arg(0)))
				}
				c.printUsage(inv.stdout)
				return exitOK
			}
			return inv.usageError("help takes at most one COMMAND")
		}
	},
}
