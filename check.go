package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/dispatch-oss/dispatch/bot"
)

// check validates the configuration and reaches every service, printing a table of what works and
// what to fix. It exits non-zero on any failure.
func check(stdout, stderr io.Writer) int {
	cfg, err := bot.LoadConfig(os.Getenv)
	if err != nil {
		printConfigError(stderr, err)
		return 2
	}
	log := bot.NewLogger(io.Discard, "error", "json")
	b, err := bot.New(context.Background(), cfg, bot.Options{}, log)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch check:", err)
		return 1
	}
	results := b.CheckAll(context.Background())
	return printChecks(stdout, results)
}

func printChecks(w io.Writer, results []bot.CheckResult) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	failed := 0
	for _, r := range results {
		mark := "ok"
		if !r.OK {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, r.Name, r.Detail)
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintf(w, "\n%d check(s) failed.\n", failed)
		return 1
	}
	fmt.Fprintln(w, "\nAll checks passed.")
	return 0
}
