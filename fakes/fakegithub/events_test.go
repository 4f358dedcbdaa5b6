package fakegithub

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-github/v60/github"
)

// TestIssueEvents: labels set at creation, added, removed, and a close and a reopen are events
// with their actor, listed oldest first through go-github; the closer is also closed_by on GET.
func TestIssueEvents(t *testing.T) {
	s := newFake(t, Options{})
	s.AddUserToken("ghp_carol", "carol")
	bot, carol := newClient(t, s, "ghp_testtoken"), newClient(t, s, "ghp_carol")
	ctx := context.Background()
	is := mustCreate(t, bot, "t", "", "dispatch")
	if _, _, err := carol.Issues.AddLabelsToIssue(ctx, "acme", "alarms", is.GetNumber(), []string{"dispatch:escalated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Issues.RemoveLabelForIssue(ctx, "acme", "alarms", is.GetNumber(), "dispatch:escalated"); err != nil {
		t.Fatal(err)
	}
	closed, open := "closed", "open"
	for _, st := range []*string{&closed, &open, &closed} {
		if _, _, err := carol.Issues.Edit(ctx, "acme", "alarms", is.GetNumber(), &github.IssueRequest{State: st}); err != nil {
			t.Fatal(err)
		}
	}
	events, _, err := bot.Issues.ListIssueEvents(ctx, "acme", "alarms", is.GetNumber(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.GetEvent()+":"+ev.GetLabel().GetName()+"@"+ev.GetActor().GetLogin())
	}
	want := []string{"labeled:dispatch@dispatch-bot", "labeled:dispatch:escalated@carol", "unlabeled:dispatch:escalated@carol",
		"closed:@carol", "reopened:@carol", "closed:@carol"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	full, _, err := bot.Issues.Get(ctx, "acme", "alarms", is.GetNumber())
	if err != nil || full.GetClosedBy().GetLogin() != "carol" {
		t.Errorf("closed_by %v (%v), want carol", full.GetClosedBy().GetLogin(), err)
	}
}
