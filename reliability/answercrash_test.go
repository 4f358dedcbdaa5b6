package reliability

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/slackapi"
)

// An acknowledged answer is never lost (docs/RELIABILITY.md, section 0): the binary, SIGKILLed at
// each point between a No's ack and its effects while PagerDuty fails; a new process finishes the
// answer from its durable copy, and each effect happens once: one page, one answer on the issue,
// the DM settled.
func TestAnAnswerSurvivesASIGKILLAfterItsAck(t *testing.T) {
	t.Parallel()
	const alarm = `{"type":"self-service","requestId":"crash-answer","escalateAfter":"10s","users":[{"slack":"alice"}],"body":{"github":{"title":"killed after the ack"},"slack":{"message":"Was this you?"}}}`
	for _, tc := range []struct {
		name string
		// killAt waits for the point to kill at, after the click's ack.
		killAt func(e *stack.Env)
	}{
		{name: "at once after the ack", killAt: func(*stack.Env) {}},
		{name: "while the page is being retried", killAt: func(e *stack.Env) {
			e.Eventually("the page's first failure", time.Minute, func() bool {
				return len(e.LogLines("pagerduty trigger", "call failed, retrying")) > 0
			})
		}},
		{name: "once its steps were done or deferred", killAt: func(e *stack.Env) {
			e.Eventually("the answer taken, its page deferred", 2*time.Minute, func() bool {
				return len(e.LogLines("answer taken", `"page_deferred":true`)) > 0
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := stack.New(t, stack.Options{})
			p := e.StartProcess()
			e.PublishRaw(alarm)
			dm := e.DM("U0ALICE", 1)
			// PagerDuty fails for longer than the inline retries and the answer's copy take.
			e.PD.SetFailFor(50*time.Second, http.StatusInternalServerError)
			e.Click("U0ALICE", dm, stack.Buttons(t, dm)[1].ActionID) // No, acked
			tc.killAt(e)
			p.Kill()
			e.StartProcess()
			e.Eventually("the page", 3*time.Minute, func() bool { return len(e.PD.Events()) == 1 })
			e.Eventually("the answer on the issue and in the DM", time.Minute, func() bool {
				is, _ := e.GitHub.Issue(stack.Repo, 1)
				return slices.Contains(is.Labels, "dispatch:escalated") && answers(is.Comments) == 1 &&
					strings.Contains(string(e.Current(dm).Blocks), "You answered *No*")
			})
			e.QueueEmpty(time.Minute)
			is, _ := e.GitHub.Issue(stack.Repo, 1)
			if n := answers(is.Comments); n != 1 {
				t.Errorf("the answer is on the issue %d times, want once", n)
			}
			if n := len(e.PD.Events()); n != 1 {
				t.Errorf("%d PagerDuty events, want 1", n)
			}
			t.Logf("answer killed %s: paged once, recorded once", tc.name)
		})
	}
}

// answers counts the answer comments among an issue's comments.
func answers(cs []fakegithub.Comment) int {
	n := 0
	for _, c := range cs {
		if strings.Contains(c.Body, "said this was **not** them") {
			n++
		}
	}
	return n
}

// A submitted reason is never lost either (docs/RELIABILITY.md, section 0): the binary SIGKILLed
// the instant the submission's ack arrives, PagerDuty failing, so the run after the ack can't have
// finished; the next process records the words from their durable copy, once on the issue and once
// on the incident.
func TestAReasonSurvivesASIGKILLAfterItsAck(t *testing.T) {
	t.Parallel()
	const alarm = `{"type":"self-service","requestId":"crash-reason","users":[{"slack":"alice"}],"body":{"github":{"title":"reason killed after the ack"},"slack":{"message":"Was this you?"}}}`
	e := stack.New(t, stack.Options{})
	p := e.StartProcess()
	e.PublishRaw(alarm)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, stack.Buttons(t, dm)[1].ActionID) // No: pages, opens the modal
	e.Eventually("the No's page and the modal", time.Minute, func() bool {
		return len(e.PD.Events()) == 1 && len(e.Slack.Modals("U0ALICE")) == 1
	})
	e.PD.SetFailFor(20*time.Second, http.StatusInternalServerError)
	const words = "I was asleep, this was not me"
	id, err := e.Slack.SubmitView("U0ALICE", e.Slack.Modals("U0ALICE")[0].ID,
		map[string]map[string]string{slackapi.ReasonBlockID: {slackapi.ReasonActionID: words}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	e.StartProcess()
	reasonEvents := func() int {
		n := 0
		for _, ev := range e.PD.Events() {
			if strings.Contains(string(ev.CustomDetails), words) {
				n++
			}
		}
		return n
	}
	reasons := func() int {
		is, _ := e.GitHub.Issue(stack.Repo, 1)
		n := 0
		for _, c := range is.Comments {
			if strings.Contains(c.Body, words) {
				n++
			}
		}
		return n
	}
	e.Eventually("the words on the issue and the incident", 2*time.Minute, func() bool { return reasons() == 1 && reasonEvents() == 1 })
	e.QueueEmpty(time.Minute)
	if n, m := reasons(), reasonEvents(); n != 1 || m != 1 {
		t.Errorf("the words are on the issue %d times and reached PagerDuty %d times, want once each", n, m)
	}
}
