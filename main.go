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
	"syscall"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/bot"
)

const usage = `dispatch routes alarms from SQS to Slack, GitHub and PagerDuty.

Usage:
  dispatch [run]                     run the bot until SIGINT/SIGTERM (configuration: environment, see README)
  dispatch validate FILE|-           check an alarm message against the spec
  dispatch publish (--topic-arn ARN | --queue-url URL) FILE|-
                                     validate, then send an alarm
  dispatch check                     check the configuration and reach every service
  dispatch version                   print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runBot(stderr)
	case "validate":
		return validate(args, stdin, stdout, stderr)
	case "publish":
		return publish(args, stdin, stdout, stderr)
	case "check":
		return check(stdout, stderr)
	case "healthcheck":
		return healthcheckMain(stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "dispatch", bot.Version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "dispatch: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func runBot(stderr io.Writer) int {
	cfg, err := bot.LoadConfig(os.Getenv)
	if err != nil {
		printConfigError(stderr, err)
		return 2
	}
	log := bot.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.Secrets()...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := bot.New(ctx, cfg, bot.Options{}, log)
	if err != nil {
		log.Error().Err(err).Msg("dispatch could not start")
		return 1
	}
	if err := b.Run(ctx); err != nil {
		log.Error().Err(err).Msg("dispatch could not start")
		return 1
	}
	return 0
}

func printConfigError(w io.Writer, err error) {
	var ce *bot.ConfigError
	if errors.As(err, &ce) {
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

func validate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, "usage: dispatch validate FILE|-\n")
		return 2
	}
	data, err := readInput(args[0], stdin)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch validate:", err)
		return 2
	}
	return report(data, stdout, stderr)
}

// report validates a message and prints the verdict; it returns the exit code.
func report(data []byte, stdout, stderr io.Writer) int {
	a, warnings, err := alerts.Decode(data)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	var inv *alerts.InvalidError
	if errors.As(err, &inv) {
		fmt.Fprintf(stderr, "invalid: %d problem(s):\n", len(inv.Problems))
		for _, p := range inv.Problems {
			fmt.Fprintln(stderr, "  -", p.String())
		}
		return 1
	}
	fmt.Fprintf(stdout, "valid %s alarm\n", a.Type)
	return 0
}
