// Command dispatch-demo runs the whole of dispatch on this machine with nothing to sign up for:
// an in-process SNS and SQS (goaws), stand-ins for Slack, GitHub, PagerDuty and Duo that speak
// their real wire protocols, and the real bot wired to them, plus a local web page that shows each
// person's Slack DMs with working buttons, the Duo pushes waiting with Approve and Deny, the GitHub
// issues, the PagerDuty incidents, and a form to publish alarms.
//
//	go run ./cmd/dispatch-demo            # then open the URL it prints
//	go run ./cmd/dispatch-demo -addr 127.0.0.1:0 -log-level debug
//
// It is a separate command, not a `dispatch demo` subcommand, so that the production binary
// carries no test fakes (and none of their code paths, dependencies or attack surface).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("dispatch-demo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8642", "address of the demo page (keep it on loopback: the page can publish alarms)")
	level := fs.String("log-level", "warn", "dispatch's log level on stderr: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dispatch-demo [flags]\n\nRuns dispatch against local stand-ins for SQS/SNS, Slack, GitHub, PagerDuty and Duo\nand serves a page to watch and drive it. Stop it with Ctrl-C.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, Options{Addr: *addr, Log: os.Stderr, LogLevel: *level}); err != nil {
		fmt.Fprintln(os.Stderr, "dispatch-demo:", err)
		os.Exit(1)
	}
}

// run starts the demo, prints its URL, and stops it cleanly when ctx ends.
func run(ctx context.Context, opts Options) error {
	d, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("dispatch demo: open %s (Ctrl-C to stop)\n", d.URL())
	var served error
	select {
	case <-ctx.Done():
	case served = <-d.Done():
	}
	closing, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := d.Close(closing); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	if served != nil {
		return fmt.Errorf("the page stopped serving: %w", served)
	}
	return nil
}
