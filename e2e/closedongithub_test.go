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

// TestIssueChangedOnGitHubSettlesThePrompt: someone closes a pending alarm's issue on GitHub, or
// labels it dispatch:escalated; the bot's index sees it (a conditional refresh), the DM says who did
// it and loses its buttons, and the reminder and escalation, when they come due, do nothing.
func TestIssueChangedOnGitHubSettlesThePrompt(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		change     func(ctx context.Context, gh *github.Client) error
	}{
		{"closed", "Closed on GitHub by @carol", func(ctx context.Context, gh *github.Client) error {
			closed := "closed"
			_, _, err := gh.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{State: &closed})
			return err
		}},
		{"labelled", "Labelled dispatch:escalated on GitHub by @carol", func(ctx context.Context, gh *github.Client) error {
			_, _, err := gh.Issues.AddLabelsToIssue(ctx, "acme", "alarms", 1, []string{"dispatch:escalated"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stack.New(t, stack.Options{Configure: func(c *bot.Config) { c.GitHubWatch = 200 * time.Millisecond }})
			e.StartBot()
			e.PublishRaw(deadlineAlarm) // reminded after 1s, escalated after 3s
			dm := e.DM("U0ALICE", 1)

			e.GitHub.AddUserToken("ghp_carol", "carol")
			gh := github.NewClient(&http.Client{Timeout: 10 * time.Second}).WithAuthToken("ghp_carol")
			gh.BaseURL, _ = url.Parse(e.GitHub.URL())
			if err := tc.change(context.Background(), gh); err != nil {
				t.Fatal(err)
			}
			e.Eventually("the DM to say what was done on GitHub", wait, func() bool {
				return strings.Contains(string(e.Current(dm).Blocks), tc.want)
			})
			if n := len(stack.Buttons(t, e.Current(dm))); n != 0 {
				t.Errorf("the DM still has %d buttons", n)
			}
			e.QueueEmpty(wait) // the reminder and the escalation came due and were handled
			if n := len(e.ThreadReplies(dm)); n != 0 {
				t.Errorf("%d reminders after the change, want 0", n)
			}
			if n := len(e.PD.Events()); n != 0 {
				t.Errorf("%d PagerDuty events after the change, want 0", n)
			}
			if calls := e.GitHub.Calls(); calls["GET /search/issues"] != 0 {
				t.Errorf("%d searches, want 0", calls["GET /search/issues"])
			}
		})
	}
}

// TestAnAnswerIsNotMistakenForAChangeOnGitHub: dispatch's own close (a Yes) and escalation label
// (a No) are not reported as someone's change on GitHub: the DM keeps the answer.
func TestAnAnswerIsNotMistakenForAChangeOnGitHub(t *testing.T) {
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) { c.GitHubWatch = 100 * time.Millisecond }})
	e.StartBot()
	e.StartBot() // the replica that didn't answer sees the answer's change in a listing
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"answered yes"},"slack":{"message":"Was this you?"}}}`)
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"bob"}],"body":{"github":{"title":"answered no"},"slack":{"message":"Was this you?"}}}`)
	yes, no := e.DM("U0ALICE", 1), e.DM("U0BOB", 1)
	e.Click("U0ALICE", yes, stack.Buttons(t, yes)[0].ActionID)
	e.Click("U0BOB", no, stack.Buttons(t, no)[1].ActionID)
	e.Eventually("both answers in their DMs", wait, func() bool {
		return strings.Contains(string(e.Current(yes).Blocks), "You answered *Yes*") && strings.Contains(string(e.Current(no).Blocks), "You answered *No*")
	})
	// Let both replicas' watches see the changes: a few of their intervals, then the DMs again.
	listings := e.GitHub.Calls()["GET /repos/{owner}/{repo}/issues"]
	e.Eventually("a few refreshes after the answers", wait, func() bool {
		return e.GitHub.Calls()["GET /repos/{owner}/{repo}/issues"] >= listings+6
	})
	for _, dm := range []struct{ m, want string }{{string(e.Current(yes).Blocks), "You answered *Yes*"}, {string(e.Current(no).Blocks), "You answered *No*"}} {
		if !strings.Contains(dm.m, dm.want) || strings.Contains(dm.m, "on GitHub by") {
			t.Errorf("DM became %s", dm.m)
		}
	}
}
