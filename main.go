// Command dispatch routes alarms from an SQS queue (fed by SNS) to Slack, GitHub issues and
// PagerDuty. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/bot"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// commands is every subcommand, in the order the general usage lists them. A new subcommand is a
// *command value in a file of its own and one line here.
var commands = []*command{
	runCommand,
	checkCommand,
	validateCommand,
	publishCommand,
	healthcheckCommand,
	versionCommand,
	helpCommand,
}

var runCommand = &command{
	name:    "run",
	summary: "run the bot until SIGINT/SIGTERM (the default command)",
	description: `Runs the bot: long-polls the SQS queue, routes each alarm to Slack, GitHub and PagerDuty,
and answers Slack over Socket Mode, until SIGINT or SIGTERM; then it finishes what is in flight
and exits 0. The configuration comes from the environment (see the Configuration section of
README.md); a configuration with problems lists every one of them and exits 2 before any
connection is made.`,
	exits: "0 stopped by a signal, 1 the bot could not start or failed, 2 usage or configuration error",
	flags: func(*flagSet) runner { return runBot },
}

func runBot(inv *invocation) int {
	if inv.fs.NArg() > 0 {
		return inv.usageError("run takes no arguments")
	}
	cfg, err := bot.LoadConfig(os.Getenv)
	if err != nil {
		printConfigError(inv.stderr, os.Getenv("LOG_FORMAT"), err)
		return exitUsage
	}
	// The filter also learns the credentials minted while running; the AWS ones from the
	// environment are known from the start.
	secrets := bot.NewSecrets(append(cfg.Secrets(), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))...)
	log := bot.NewLogger(secrets.Filter(inv.stderr), cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := bot.New(ctx, cfg, bot.Options{Secrets: secrets}, log)
	if err == nil {
		err = b.Run(ctx)
	}
	if err != nil {
		// One line, its problems an array: errors.Join's newlines would split a JSON line.
		log.Error().Errs("errors", problems(err)).Msg("dispatch could not start")
		return exitFailure
	}
	return exitOK
}

// problems lists the errors joined in err (errors.Join), or err itself.
func problems(err error) []error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var list []error
	for _, e := range joined.Unwrap() {
		list = append(list, problems(e)...)
	}
	return list
}

// printConfigError reports a configuration that stops start-up. A log pipeline reading stderr
// expects JSON lines (LOG_FORMAT json, the default), so there it is one JSON line with every problem
// in an array; a person at a terminal, or LOG_FORMAT=console, gets the list as text.
func printConfigError(w io.Writer, format string, err error) {
	var ce *bot.ConfigError
	isConfig := errors.As(err, &ce)
	if f := strings.TrimSpace(format); f != "console" && !bot.IsTerminal(w) {
		list := []string{err.Error()}
		if isConfig {
			list = ce.Problems
		}
		log := bot.NewLogger(w, "info", "json")
		log.Error().Strs("problems", list).
			Msg("dispatch: the configuration has problems; see the Configuration section of README.md")
		return
	}
	if isConfig {
		fmt.Fprintln(w, "dispatch: the configuration has problems:")
		for _, p := range ce.Problems {
			fmt.Fprintln(w, "  -", p)
		}
		fmt.Fprintln(w, "See the Configuration section of README.md.")
		return
	}
	fmt.Fprintln(w, "dispatch:", err)
}

// readInput reads FILE, or standard input for "-".
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(stdin, alerts.MaxMessageBytes+1))
	}
	return os.ReadFile(name)
}
