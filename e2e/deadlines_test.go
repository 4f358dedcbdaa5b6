package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
)

const deadlineAlarm = `{"type":"self-service","remindAfter":"1s","escalateAfter":"3s","users":[{"slack":"alice"}],"body":{"github":{"title":"nobody answers"},"slack":{"message":"Was this you?"}}}`

// threadReplies are the replies in a DM's thread.
func (e *env) threadReplies(dm fakeslack.Message) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range e.slack.Messages(dm.Channel) {
		if m.ThreadTS == dm.TS && m.TS != dm.TS {
			out = append(out, m)
		}
	}
	return out
}

func TestUnansweredAlarmIsRemindedThenEscalatedOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(deadlineAlarm)
	dm := e.dm("U0ALICE", 1)
	e.eventually("a reminder in the DM thread", wait, func() bool { return len(e.threadReplies(dm)) == 1 })
	if len(e.pd.Events()) != 0 {
		t.Fatal("paged before the escalation deadline")
	}
	e.eventually("the escalation", wait, func() bool { return len(e.pd.Events()) == 1 })
	e.eventually("the DM to say so", wait, func() bool { return strings.Contains(string(e.current(dm).Blocks), "escalated to PagerDuty") })
	is, _ := e.github.Issue(repo, 1)
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
	if len(buttonsOf(t, e.current(dm))) != 0 {
		t.Error("buttons still live after the escalation")
	}
	links := e.pd.Incidents()[0].Links
	if len(links) < 2 || !strings.Contains(links[0].Href, "/issues/1") || !strings.Contains(links[1].Href, "slack") {
		t.Errorf("the incident should link the issue and the DM: %+v", links)
	}
	e.queueEmpty(wait)
	if n := len(e.threadReplies(dm)); n != 1 {
		t.Errorf("%d reminders, want 1", n)
	}
	if n := len(e.pd.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
}

func TestAnAnswerBeforeTheDeadlineCancelsTheEscalation(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(deadlineAlarm)
	dm := e.dm("U0ALICE", 1)
	e.click("U0ALICE", dm, buttonsOf(t, dm)[0].ActionID)
	e.eventually("the issue to close", wait, func() bool { is, _ := e.github.Issue(repo, 1); return is.State == "closed" })
	e.eventually("the reminder and the escalation to come due and find the answer", wait, func() bool {
		return len(e.logLines("answered in time: nothing to do")) == 2
	})
	if len(e.pd.Events()) != 0 || len(e.threadReplies(dm)) != 0 {
		t.Errorf("answered in time, yet %d pages and %d reminders", len(e.pd.Events()), len(e.threadReplies(dm)))
	}
}

func TestARestartBetweenReminderAndDeadlineStillEscalatesOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	first := e.startBot()
	e.publishRaw(strings.Replace(deadlineAlarm, `"3s"`, `"5s"`, 1))
	dm := e.dm("U0ALICE", 1)
	e.eventually("a reminder", wait, func() bool { return len(e.threadReplies(dm)) == 1 })
	if err := first.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	e.startBot()
	e.eventually("the escalation after the restart", wait, func() bool { return len(e.pd.Events()) == 1 })
	e.queueEmpty(wait)
	if n := len(e.pd.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
}

func TestTwoReplicasEscalateOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.startBot()
	for range 3 {
		e.publishRaw(strings.Replace(deadlineAlarm, "nobody answers", "nobody answers "+time.Now().Format(time.RFC3339Nano), 1))
	}
	e.eventually("three escalations", wait, func() bool { return len(e.pd.Incidents()) == 3 })
	e.queueEmpty(wait)
	for _, in := range e.pd.Incidents() {
		if in.Events != 1 {
			t.Errorf("incident %s got %d events", in.DedupKey, in.Events)
		}
	}
	prompts := 0
	for _, m := range e.slack.DMs("U0ALICE") {
		if m.ThreadTS == "" {
			prompts++
		}
	}
	if prompts != 3 {
		t.Errorf("%d prompts, want 3", prompts)
	}
}
