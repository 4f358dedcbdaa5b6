package e2e

import (
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/slackapi"
)

func submitReason(t *testing.T, e *stack.Env, user, viewID, text string) {
	t.Helper()
	id, err := e.Slack.SubmitView(user, viewID, map[string]map[string]string{slackapi.ReasonBlockID: {slackapi.ReasonActionID: text}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatal(err)
	}
}

// TestNoOpensTheReasonModalPagesAtTheClickAndTheReasonReachesIssueAndIncident: No pages at once and
// opens "What happened?" with the click's trigger_id (which the fake honours only within 3 s, once);
// the submitted words reach the issue (made inert) and the incident; a replay, or bob submitting
// alice's modal, changes nothing.
func TestNoOpensTheReasonModalPagesAtTheClickAndTheReasonReachesIssueAndIncident(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartProcess()
	e.PublishRaw(selfServiceTo("U0ALICE", "reason alarm"))
	m := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", m, handlers.ActionNo)
	e.Eventually("the modal", wait, func() bool { return len(e.Slack.Modals("U0ALICE")) == 1 })
	e.Eventually("the page, before any reason", wait, func() bool { return len(e.PD.Incidents()) == 1 })
	modal := e.Slack.Modals("U0ALICE")[0]
	if !strings.Contains(string(modal.View), "What happened?") {
		t.Fatalf("modal %s", modal.View)
	}
	n := issueNumber(t, e, "reason alarm")

	submitReason(t, e, "U0BOB", modal.ID, "bob was here")
	reason := "I was asleep <!-- dispatch answer alarm=x user=y --> @security-team"
	submitReason(t, e, "U0ALICE", modal.ID, reason)
	e.Eventually("the reason on the issue", wait, func() bool { return strings.Contains(comments(e, n), "I was asleep") })
	e.Eventually("the reason on the incident", wait, func() bool {
		for _, ev := range e.PD.Events() {
			if strings.Contains(string(ev.CustomDetails), "I was asleep") {
				return true
			}
		}
		return false
	})
	submitReason(t, e, "U0ALICE", modal.ID, reason) // a replay
	e.Eventually("the replay and bob's submission refused", wait, func() bool {
		return len(e.LogLines("a replay")) == 1 && len(e.LogLines("someone the alarm wasn't addressed to")) == 1
	})
	c := comments(e, n)
	if strings.Count(c, "I was asleep") != 1 || strings.Contains(c, "bob was here") {
		t.Fatalf("comments after a replay and someone else's submission:\n%s", c)
	}
	if strings.Contains(c, "<!-- dispatch answer alarm=x") || strings.Contains(c, " @security-team") {
		t.Errorf("the reason was not made inert:\n%s", c)
	}
	if len(e.PD.Incidents()) != 1 {
		t.Errorf("%d incidents, want 1", len(e.PD.Incidents()))
	}
}

// TestNotAboutMeRecordsAnnouncesAndPagesAsAWarning: the third button, shown when the alarm names
// actions.wrong, records the answer, announces it in the fallback channel, pages as a warning and
// opens the reason modal.
func TestNotAboutMeRecordsAnnouncesAndPagesAsAWarning(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartProcess()
	e.PublishRaw(`{"type":"self-service","users":[{"slackId":"U0BOB"}],"body":{"github":{"title":"wrong alarm"},"slack":{"message":"Was this you?","actions":{"wrong":"Not about me"}}}}`)
	m := e.DM("U0BOB", 1)
	if bs := stack.Buttons(t, m); len(bs) != 3 || bs[2].Text != "Not about me" {
		t.Fatalf("buttons %+v", bs)
	}
	e.Click("U0BOB", m, handlers.ActionWrong)
	e.Eventually("a page", wait, func() bool { return len(e.PD.Events()) == 1 })
	ev := e.PD.Events()[0]
	if ev.Severity != "warning" || !strings.Contains(ev.Summary, "bobby (U0BOB) says this alarm is not about them") {
		t.Errorf("page %q severity %s", ev.Summary, ev.Severity)
	}
	n := issueNumber(t, e, "wrong alarm")
	e.Eventually("the issue records it", wait, func() bool { return strings.Contains(comments(e, n), "not about them") })
	e.Eventually("the fallback channel told", wait, func() bool {
		for _, msg := range e.Slack.Messages(stack.FallbackChannel) {
			if strings.Contains(string(msg.Blocks)+msg.Text, "not about them") {
				return true
			}
		}
		return false
	})
	e.Eventually("the reason modal", wait, func() bool { return len(e.Slack.Modals("U0BOB")) == 1 })
}
