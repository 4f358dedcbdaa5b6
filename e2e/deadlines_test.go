package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

const deadlineAlarm = `{"type":"self-service","remindAfter":"1s","escalateAfter":"3s","users":[{"slack":"alice"}],"body":{"github":{"title":"nobody answers"},"slack":{"message":"Was this you?"}}}`

func TestUnansweredAlarmIsRemindedThenEscalatedOnce(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(deadlineAlarm)
	dm := e.DM("U0ALICE", 1)
	e.Eventually("a reminder in the DM thread", wait, func() bool { return len(e.ThreadReplies(dm)) == 1 })
	if len(e.PD.Events()) != 0 {
		t.Fatal("paged before the escalation deadline")
	}
	e.Eventually("the escalation", wait, func() bool { return len(e.PD.Events()) == 1 })
	e.Eventually("the DM to say so", wait, func() bool { return strings.Contains(string(e.Current(dm).Blocks), "escalated to PagerDuty") })
	is, _ := e.GitHub.Issue(repo, 1)
	if !slices.Contains(is.Labels, "dispatch:escalated") || is.State != "open" {
		t.Errorf("issue labels %v state %s", is.Labels, is.State)
	}
	var texts []string
	for _, c := range is.Comments {
		texts = append(texts, c.Body)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "Reminded") || !strings.Contains(all, "Escalated") {
		t.Errorf("the issue doesn't record the reminder and the escalation:\n%s", all)
	}
	if len(stack.Buttons(t, e.Current(dm))) != 0 {
		t.Error("buttons still live after the escalation")
	}
	links := e.PD.Incidents()[0].Links
	if len(links) < 2 || !strings.Contains(links[0].Href, "/issues/1") || !strings.Contains(links[1].Href, "slack") {
		t.Errorf("the incident should link the issue and the DM: %+v", links)
	}
	e.QueueEmpty(wait)
	if n := len(e.ThreadReplies(dm)); n != 1 {
		t.Errorf("%d reminders, want 1", n)
	}
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
}

func TestAnAnswerBeforeTheDeadlineCancelsTheEscalation(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(deadlineAlarm)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, stack.Buttons(t, dm)[0].ActionID)
	e.Eventually("the issue to close", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return is.State == "closed" })
	e.Eventually("the reminder and the escalation to come due and find the answer", wait, func() bool {
		return len(e.LogLines("answered in time: nothing to do")) == 2
	})
	if len(e.PD.Events()) != 0 || len(e.ThreadReplies(dm)) != 0 {
		t.Errorf("answered in time, yet %d pages and %d reminders", len(e.PD.Events()), len(e.ThreadReplies(dm)))
	}
}

func TestARestartBetweenReminderAndDeadlineStillEscalatesOnce(t *testing.T) {
	e := stack.New(t, stack.Options{})
	first := e.StartBot()
	e.PublishRaw(strings.Replace(deadlineAlarm, `"3s"`, `"5s"`, 1))
	dm := e.DM("U0ALICE", 1)
	e.Eventually("a reminder", wait, func() bool { return len(e.ThreadReplies(dm)) == 1 })
	if err := first.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	e.StartBot()
	e.Eventually("the escalation after the restart", wait, func() bool { return len(e.PD.Events()) == 1 })
	e.QueueEmpty(wait)
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
}

func TestTwoReplicasEscalateOnce(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.StartBot()
	for range 3 {
		e.PublishRaw(strings.Replace(deadlineAlarm, "nobody answers", "nobody answers "+time.Now().Format(time.RFC3339Nano), 1))
	}
	e.Eventually("three escalations", wait, func() bool { return len(e.PD.Incidents()) == 3 })
	e.QueueEmpty(wait)
	for _, in := range e.PD.Incidents() {
		if in.Events != 1 {
			t.Errorf("incident %s got %d events", in.DedupKey, in.Events)
		}
	}
	if n := len(e.Prompts("U0ALICE")); n != 3 {
		t.Errorf("%d prompts, want 3", n)
	}
}
