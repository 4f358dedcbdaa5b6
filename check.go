package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dispatch-oss/dispatch/bot"
)

var checkCommand = &command{
	name:    "check",
	args:    "[--timeout 10s]",
	summary: "check the configuration and reach every service",
	description: `Checks the configuration (from the environment, as for run), then reaches every service with
it, one after another, printing a line for each as it goes: Slack (both tokens), the SQS queue
and its dead-letter queue, the GitHub repository, and PagerDuty. A failure says whether the host
name did not resolve, the connection was refused, no answer came in time or the credentials
were rejected, and how to fix that. PagerDuty's Events API accepts any well-formed routing key,
so the routing keys can only be checked for their format.`,
	exits: "0 every check passed, 1 a check failed, 2 usage or configuration error",
	flags: func(fs *flagSet) runner {
		timeout := fs.Duration("timeout", bot.DefaultCheckTimeout, "how long each check may take")
		return func(inv *invocation) int {
			if inv.fs.NArg() > 0 {
				return inv.usageError("check takes no arguments")
			}
			if *timeout <= 0 {
				return inv.usageError("--timeout must be positive")
			}
			return check(bot.CheckOptions{Timeout: *timeout}, inv.stdout, inv.stderr)
		}
	},
}

// check validates the configuration and reaches every service, printing what works and what to
// fix as it goes. It returns exitFailure on any failure.
func check(opts bot.CheckOptions, stdout, stderr io.Writer) int {
	cfg, err := bot.LoadConfig(os.Getenv)
	if err != nil {
		printConfigError(stderr, "console", err) // check is read by a person: text, whatever LOG_FORMAT says
		return exitUsage
	}
	log := bot.NewLogger(io.Discard, "error", "json")
	b, err := bot.New(context.Background(), cfg, bot.Options{}, log)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch check:", err)
		return exitFailure
	}
	opts.Started = func(name string) { fmt.Fprintf(stdout, "%s … ", name) }
	opts.Done = func(r bot.CheckResult) {
		mark := "ok"
		if !r.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(stdout, "%s: %s\n", mark, r.Detail)
	}
	failed := 0
	for _, r := range b.CheckAll(context.Background(), opts) {
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "\n%d check(s) failed.\n", failed)
		return exitFailure
	}
	fmt.Fprintln(stdout, "\nAll checks passed.")
	return exitOK
}
