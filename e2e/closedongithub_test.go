package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// TestIssueClosedOnGitHubSettlesThePrompt: someone closes a pending alarm's issue on GitHub; the
// bot's index sees it (a conditional refresh), the DM says who closed it and loses its buttons,
// and the reminder and escalation, when they come due, do nothing.
func TestIssueClosedOnGitHubSettlesThePrompt(t *testing.T) {
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) { c.GitHubWatch = 200 * time.Millisecond }})
	e.StartBot()
	e.PublishRaw(deadlineAlarm) // reminded after 1s, escalated after 3s
	dm := e.DM("U0ALICE", 1)

	e.GitHub.AddUserToken("ghp_carol", "carol")
	gh := github.NewClient(&http.Client{Timeout: 10 * time.Second}).WithAuthToken("ghp_carol")
	gh.BaseURL, _ = url.Parse(e.GitHub.URL())
	closed := "closed"
	if _, _, err := gh.Issues.Edit(context.Background(), "acme", "alarms", 1, &github.IssueRequest{State: &closed}); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the DM to say the issue was closed on GitHub", wait, func() bool {
		return strings.Contains(string(e.Current(dm).Blocks), "Closed on GitHub by @carol")
	})
	if n := len(stack.Buttons(t, e.Current(dm))); n != 0 {
		t.Errorf("the DM still has %d buttons", n)
	}
	e.QueueEmpty(wait) // the reminder and the escalation came due and were handled
	if n := len(e.ThreadReplies(dm)); n != 0 {
		t.Errorf("%d reminders after the issue was closed, want 0", n)
	}
	if n := len(e.PD.Events()); n != 0 {
		t.Errorf("%d PagerDuty events after the issue was closed, want 0", n)
	}
	if calls := e.GitHub.Calls(); calls["GET /search/issues"] != 0 {
		t.Errorf("%d searches, want 0", calls["GET /search/issues"])
	}
}
