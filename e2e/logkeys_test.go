package e2e

import (
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// TestNoLogLineHasAKeyTwice runs the paths that build loggers in layers (an alarm, a click
// answered No that pages, a slash command, reminders and escalation, an alarm with a misspelt key,
// an invalid one) and parses every line of the log: a line with the same key twice (say the
// socket loop's "user" and the answer's) is ambiguous, and most JSON tools keep only one of them.
func TestNoLogLineHasAKeyTwice(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.Send(`{"type":"self-service","users":[{"slack":"alice","github":"alice"}],"body":{"github":{"title":"log keys"},"slack":{"message":"was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, stack.Buttons(t, dm)[1].ActionID)
	e.Eventually("the No to page", wait, func() bool { return len(e.PD.Events()) == 1 })
	e.Slash("U0ALICE", "list")
	e.Send(`{"type":"self-service","remindAfter":"1s","escalateAfter":"2s","users":[{"slack":"bob"}],"body":{"github":{"title":"unanswered"},"slack":{"message":"m"}}}`)
	e.Send(`{"type":"high","body":{"pagerduty":{"titel":"misspelt","title":"t"}}}`)
	e.Send(`{"type":"low"}`)
	e.Eventually("the escalation and the misspelt alarm's page", wait, func() bool { return len(e.PD.Events()) == 3 })
	e.Eventually("the invalid alarm's notice", wait, func() bool { return len(e.Slack.Messages(fallbackChannel)) == 1 })
	if len(e.LogLines("did you mean `title`?")) != 1 {
		t.Error("the accepted alarm's unknown key was not logged with its warning")
	}

	lines := strings.Split(strings.TrimSpace(e.Logs.String()), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d log lines", len(lines))
	}
	for _, line := range lines {
		if dup, err := stack.DuplicateKey(line); err != nil {
			t.Errorf("not a JSON object (%v): %s", err, line)
		} else if dup != "" {
			t.Errorf("key %q twice: %s", dup, line)
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	for line, want := range map[string]string{
		`{"a":1,"b":{"a":2},"c":[{"x":1},{"x":2}]}`: "",
		`{"user":"U1","level":"info","user":"U1"}`:  "user",
		`{"a":{"b":1,"b":2}}`:                       "b",
		`{"a":[{"k":1,"k":1}]}`:                     "k",
		`{"s":"{\"a\":1,\"a\":2}"}`:                 "",
	} {
		if got, err := stack.DuplicateKey(line); err != nil || got != want {
			t.Errorf("stack.DuplicateKey(%s) = %q, %v; want %q", line, got, err, want)
		}
	}
	if _, err := stack.DuplicateKey(`{"a":1} {"b":2}`); err == nil {
		t.Error("two objects on one line taken for one")
	}
}
