package reliability

import (
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// crashStack is a stack whose messages come back 5 s after a crash.
func crashStack(t *testing.T) *stack.Env {
	e := stack.New(t, stack.Options{
		SlackScale:      slackScale,
		Users:           crowd,
		QueueVisibility: 5 * time.Second,
		Configure: func(c *bot.Config) {
			c.Visibility = 5 * time.Second
			c.LogLevel = "info"
		},
	})
	return e
}

func burst(scenario string, n int) (ids, bodies []string) {
	for i := range n {
		id, body := selfService(scenario, i)
		ids, bodies = append(ids, id), append(bodies, body)
	}
	return ids, bodies
}

// prompts counts the crowd's DMs.
func prompts(e *stack.Env) int {
	n := 0
	for _, u := range crowd {
		n += len(e.Prompts(u.ID))
	}
	return n
}

// Promise 1 and 2: SIGKILL, twice, in the middle of a 300-alarm burst.
func TestSIGKILLTwiceDuringABurst(t *testing.T) {
	start := time.Now()
	e := crashStack(t)
	ids, bodies := burst("sigkill", 300)
	sendAll(t, e, bodies)
	p := e.StartProcess()
	e.Eventually("a third of the burst", time.Minute, func() bool { return prompts(e) >= 100 })
	p.Kill()
	p = e.StartProcess()
	e.Eventually("two thirds of the burst", time.Minute, func() bool { return prompts(e) >= 200 })
	p.Kill()
	e.StartProcess()
	c := settle(t, e, ids, 2*time.Minute)
	report(t, "SIGKILL twice during a 300-alarm burst", c, time.Since(start), "")
}

// Promise 5: SIGTERM stops receiving, finishes or releases what is in flight, exits 0.
func TestSIGTERMStopsGracefully(t *testing.T) {
	start := time.Now()
	e := crashStack(t)
	ids, bodies := burst("sigterm", 100)
	sendAll(t, e, bodies)
	p := e.StartProcess()
	e.Eventually("part of the burst", time.Minute, func() bool { return prompts(e) >= 30 })
	bound := e.Config.ShutdownTimeout + 5*time.Second
	if code := p.Terminate(bound); code != 0 {
		t.Fatalf("SIGTERM: exit code %d (−1: not within %s)", code, bound)
	}
	if !strings.Contains(e.Logs.String(), "dispatch stopped") {
		t.Error("no 'dispatch stopped' in the log")
	}
	e.StartProcess()
	c := settle(t, e, ids, 2*time.Minute)
	report(t, "SIGTERM mid-burst, then a new process", c, time.Since(start), "")
}
