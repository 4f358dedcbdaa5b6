package e2e

import (
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

func TestAppHomeShowsAndClearsAPendingAlarm(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"pending on the home tab"},"slack":{"message":"Was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	if _, err := e.Slack.OpenAppHome("U0ALICE"); err != nil {
		t.Fatal(err)
	}
	var home string
	e.Eventually("the home tab to list the alarm", wait, func() bool {
		v, ok := e.Slack.HomeView("U0ALICE")
		home = string(v)
		return ok && strings.Contains(home, "pending on the home tab") && strings.Contains(home, "dispatch_yes")
	})
	if !strings.Contains(home, "Waiting for your answer") {
		t.Errorf("home = %s", home)
	}
	id, err := e.Slack.ClickHomeButton("U0ALICE", "dispatch_yes", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the issue to close", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return is.State == "closed" })
	e.Eventually("the DM to show the answer", wait, func() bool { return strings.Contains(string(e.Current(dm).Blocks), "You answered *Yes*") })
	e.Eventually("the home tab to clear", wait, func() bool {
		v, _ := e.Slack.HomeView("U0ALICE")
		return strings.Contains(string(v), "Nothing waits for your answer") && strings.Contains(string(v), "pending on the home tab") && !strings.Contains(string(v), "dispatch_yes")
	})
	if n := len(stack.Buttons(t, e.Current(dm))); n != 0 {
		t.Errorf("the DM still has %d buttons", n)
	}
}
