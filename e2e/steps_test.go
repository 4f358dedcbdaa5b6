package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Each effect waits only for its own service (docs/RELIABILITY.md, section 0): one service down at
// a time, through the real bot, on a clock stepScale times faster (retries, redelivery delays, the
// outage probe).
const stepScale = 10

// stepAlarm is a self-service alarm to alice that escalates after 4 s.
const stepAlarm = `{"type":"self-service","requestId":"step-1","escalateAfter":"4s","users":[{"slack":"alice"}],"body":{"github":{"title":"a step at a time"},"slack":{"message":"Was this you?"}}}`

// GitHub down: the user is asked during the outage, their No pages during it, and the audit trail
// (the issue, its link, the label and the answer) catches up once after.
func TestGitHubDownTheUserIsAskedAndANoPagesAtOnce(t *testing.T) {
	e := stack.New(t, stack.Options{TimeScale: stepScale})
	e.StartBot()
	e.GitHub.SetFailFor(time.Hour, http.StatusBadGateway)
	e.PublishRaw(strings.Replace(stepAlarm, `"4s"`, `"6s"`, 1))
	dm := e.DM("U0ALICE", 1)
	if !strings.Contains(string(dm.Blocks), "GitHub is unavailable") {
		t.Errorf("the prompt doesn't say its issue follows: %s", dm.Blocks)
	}
	e.Click("U0ALICE", dm, stack.Buttons(t, dm)[1].ActionID) // No
	e.Eventually("the page, while GitHub is down", wait, func() bool { return len(e.PD.Events()) == 1 })
	e.Eventually("the DM to show the No", wait, func() bool { return strings.Contains(string(e.Current(dm).Blocks), "You answered *No*") })
	if n := len(e.Issues(repo)); n != 0 {
		t.Fatalf("%d issues while GitHub answers 502", n)
	}

	e.GitHub.SetFailFor(0, 0)
	e.Eventually("the issue, labelled, with the answer", time.Minute, func() bool {
		is, ok := e.GitHub.Issue(repo, 1)
		return ok && slices.Contains(is.Labels, "dispatch:escalated") && commentsWith(e, "said this was **not** them") == 1
	})
	e.Eventually("the issue's link in the DM's thread", wait, func() bool {
		for _, r := range e.ThreadReplies(dm) {
			if strings.Contains(string(r.Blocks), "/issues/1") {
				return true
			}
		}
		return false
	})
	e.QueueEmpty(time.Minute)
	if n := len(e.Issues(repo)); n != 1 {
		t.Errorf("%d issues, want 1", n)
	}
	if n := commentsWith(e, "said this was **not** them"); n != 1 {
		t.Errorf("the answer is on the issue %d times, want once", n)
	}
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
}

// Slack's Web API down: the deadline escalates on time, saying alice could not be asked; when Slack
// is back, her DM goes out saying the alarm was already escalated.
func TestSlackDownTheDeadlineEscalatesOnTime(t *testing.T) {
	e := stack.New(t, stack.Options{TimeScale: stepScale})
	e.StartBot()
	outage := 20 * time.Second
	e.Slack.FailFor("chat.postMessage", outage, http.StatusServiceUnavailable)
	published := time.Now()
	e.PublishRaw(stepAlarm)
	e.Eventually("the escalation", 15*time.Second, func() bool { return len(e.PD.Incidents()) == 1 })
	if late := time.Since(published); late > 12*time.Second {
		t.Errorf("escalated %s after the alarm, want about 4 s (escalateAfter)", late)
	}
	if len(e.Prompts("U0ALICE")) != 0 {
		t.Fatal("a DM went out while chat.postMessage answers 503")
	}
	if s := e.PD.Incidents()[0].Summary; !strings.Contains(s, "Slack was unavailable: alice (U0ALICE) could not be asked") {
		t.Errorf("the incident doesn't say why: %q", s)
	}
	dm := e.DM("U0ALICE", 1)
	if !strings.Contains(string(dm.Blocks), "already escalated") || len(stack.Buttons(t, dm)) != 0 {
		t.Errorf("the late DM should say the alarm was already escalated, without buttons: %s", dm.Blocks)
	}
	e.QueueEmpty(time.Minute)
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
	if n := commentsWith(e, "**Escalated**"); n != 1 {
		t.Errorf("the escalation is on the issue %d times, want once", n)
	}
}

// PagerDuty down: a No is recorded at once, the DM says the page is on its way, the fallback
// channel says paging is delayed (once), and the page arrives once after PagerDuty is back.
func TestPagerDutyDownThePageArrivesOnceAfter(t *testing.T) {
	e := stack.New(t, stack.Options{TimeScale: stepScale})
	e.StartBot()
	e.PublishRaw(strings.Replace(stepAlarm, `"4s"`, `"6s"`, 1))
	dm := e.DM("U0ALICE", 1)
	e.PD.SetFailFor(time.Hour, http.StatusInternalServerError)
	e.Click("U0ALICE", dm, stack.Buttons(t, dm)[1].ActionID) // No
	e.Eventually("the DM to say the page is on its way", wait, func() bool {
		return strings.Contains(string(e.Current(dm).Blocks), "page is on its way")
	})
	e.Eventually("the answer on the issue", wait, func() bool { return commentsWith(e, "said this was **not** them") == 1 })
	e.Eventually("the fallback channel to say paging is delayed", wait, func() bool {
		for _, m := range e.Slack.Messages(fallbackChannel) {
			if strings.Contains(m.Text+string(m.Blocks), "paging is delayed") {
				return true
			}
		}
		return false
	})
	if n := len(e.PD.Events()); n != 0 {
		t.Fatalf("%d PagerDuty events while it answers 500", n)
	}
	e.PD.SetFailFor(0, 0)
	e.Eventually("the page after PagerDuty is back", time.Minute, func() bool { return len(e.PD.Events()) == 1 })
	e.Eventually("the DM to say the page went", wait, func() bool {
		b := string(e.Current(dm).Blocks)
		return strings.Contains(b, "You answered *No*") && !strings.Contains(b, "on its way")
	})
	e.QueueEmpty(time.Minute)
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events, want 1", n)
	}
	delayed := 0
	for _, m := range e.Slack.Messages(fallbackChannel) {
		if strings.Contains(m.Text+string(m.Blocks), "paging is delayed") {
			delayed++
		}
	}
	if delayed != 1 {
		t.Errorf("%d notices that paging is delayed, want 1", delayed)
	}
}

// GitHub down: a broadcast's and two nags' DMs go out during the outage, saying the audit issue
// follows; once GitHub is back each gets its issue once (the nags one between them) and every DM
// its link, once.
func TestGitHubDownBroadcastAndNagDMsGoOutTheIssueFollows(t *testing.T) {
	e := stack.New(t, stack.Options{TimeScale: stepScale})
	e.StartBot()
	e.GitHub.SetFailFor(time.Hour, http.StatusBadGateway)
	e.PublishRaw(`{"type":"broadcast","requestId":"bc-1","users":[{"slack":"alice"},{"slackId":"U0BOB"}],"body":{"github":{"title":"deploy freeze"},"slack":{"message":"No deploys today."}}}`)
	nag := `{"type":"nag","users":[{"slack":"alice"}],"body":{"github":{"title":"rotate your keys"},"slack":{"message":"Please rotate your access keys."}}}`
	e.PublishRaw(nag)
	e.PublishRaw(nag)
	dms := []fakeslack.Message{e.DM("U0ALICE", 3), e.DM("U0BOB", 1)}
	dms = append(dms, e.Prompts("U0ALICE")[:2]...)
	for _, dm := range dms {
		if !strings.Contains(string(dm.Blocks), "the audit issue follows in this thread") {
			t.Errorf("the DM doesn't say its issue follows: %s", dm.Blocks)
		}
	}
	if n := len(e.Issues(repo)); n != 0 {
		t.Fatalf("%d issues while GitHub answers 502", n)
	}

	e.GitHub.SetFailFor(0, 0)
	e.Eventually("each DM's link", time.Minute, func() bool {
		for _, dm := range dms {
			if len(e.ThreadReplies(dm)) == 0 {
				return false
			}
		}
		return true
	})
	e.QueueEmpty(time.Minute)
	titles := map[string]int{}
	for _, is := range e.Issues(repo) {
		titles[is.Title]++
	}
	if len(titles) != 2 || titles["deploy freeze"] != 1 || titles["rotate your keys"] != 1 {
		t.Errorf("issues by title %v, want one broadcast's and one nag's", titles)
	}
	if n, m := len(e.Prompts("U0ALICE")), len(e.Prompts("U0BOB")); n != 3 || m != 1 {
		t.Errorf("DMs: alice %d, bob %d; want 3 and 1", n, m)
	}
	for _, dm := range dms {
		if r := e.ThreadReplies(dm); len(r) != 1 || !strings.Contains(string(r[0].Blocks), "/issues/") {
			t.Errorf("the DM's thread %v, want its issue's link once", r)
		}
	}
}
