package handlers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/retry"
)

// modalChat is fakeChat that also opens reason modals.
type modalChat struct {
	*fakeChat
	mu     sync.Mutex
	opened []ReasonModal
}

func (c *modalChat) OpenReason(_ context.Context, _ string, m ReasonModal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened = append(c.opened, m)
	return nil
}

// noWithModal is a world where U1 answered No to an alarm and was shown the reason modal, whose
// metadata it returns.
func noWithModal(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t, "U1")
	mc := &modalChat{fakeChat: w.chat}
	w.r.chat = mc
	w.handle(t, selfService("req-1", "t", "b", []string{"U1"}, ""))
	if err := w.r.Answer(testCtx(t), Click{UserID: "U1", ActionID: ActionNo, Value: w.prompt(t, "U1"), Channel: "DU1", TriggerID: "tr-1"}); err != nil {
		t.Fatal(err)
	}
	return w, mc.opened[0].Metadata
}

// TestReasonRules: which answers ask for words, and which submissions change nothing.
func TestReasonRules(t *testing.T) {
	setup := func(t *testing.T, extra string, action string) (*world, *modalChat) {
		w := newWorld(t, "U1", "U2")
		mc := &modalChat{fakeChat: w.chat}
		w.r.chat = mc
		w.handle(t, selfService("req-1", "t", "b", []string{"U1"}, extra))
		v := w.prompt(t, "U1")
		if err := w.r.Answer(testCtx(t), Click{UserID: "U1", ActionID: action, Value: v, Channel: "DU1", TriggerID: "tr-1"}); err != nil {
			t.Fatal(err)
		}
		return w, mc
	}
	for _, tc := range []struct {
		extra, action string
		asks          bool
	}{
		{"", ActionNo, true}, {"", ActionYes, false},
		{`"reason":"yes",`, ActionYes, true}, {`"reason":"yes",`, ActionNo, false},
		{`"reason":"both",`, ActionYes, true}, {`"reason":"both",`, ActionNo, true},
		{`"reason":"none",`, ActionNo, false},
	} {
		_, mc := setup(t, tc.extra, tc.action)
		if got := len(mc.opened) == 1; got != tc.asks {
			t.Errorf("%s %s: modal opened %v, want %v", tc.extra, tc.action, got, tc.asks)
		}
	}

	w, mc := setup(t, "", ActionNo)
	md := mc.opened[0].Metadata
	pagesBefore := len(w.pager.Pages())
	submit := func(user, meta, text string) {
		if err := w.r.Reason(testCtx(t), Submission{UserID: user, Metadata: meta, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	submit("U2", md, "not mine")                // someone else's alarm
	submit("U1", md[:len(md)-2]+"xx", "forged") // altered metadata
	submit("U1", md, strings.Repeat("é", 5000)) // the real one, too long
	submit("U1", md, "a replay")                // a replay
	w.now = w.now.Add(2 * time.Hour)
	submit("U1", md, "too late")
	cs, _ := w.issues.Comments(testCtx(t), testRepo, 1)
	var reasons []string
	for _, c := range cs {
		if strings.Contains(c.Body, "**Reason**") {
			reasons = append(reasons, c.Body)
		}
	}
	if len(reasons) != 1 {
		t.Fatalf("%d reason comments, want 1: %q", len(reasons), reasons)
	}
	if n := strings.Count(reasons[0], "é"); n != MaxReasonRunes-1 {
		t.Errorf("reason kept %d runes, want it cut to %d", n, MaxReasonRunes-1)
	}
	if got := len(w.pager.Pages()) - pagesBefore; got != 1 {
		t.Errorf("%d pages for the reason, want 1 (same dedup key)", got)
	}
	if p := w.pager.Pages(); p[len(p)-1].DedupKey != p[0].DedupKey {
		t.Error("the reason went to another incident")
	}
}

// TestAReasonIsDurableBeforeItsAck: a submitted reason is a signed task on the queue before the
// ack (TakeReason), carrying the words cut to MaxReasonRunes; the run after the ack records it
// (the comment and the incident's event); the copy, coming round after the run, writes nothing
// more; after a crash right after the ack, the copy alone records it once, and its redelivery
// nothing more. Words that can't be made durable are refused before the ack.
func TestAReasonIsDurableBeforeItsAck(t *testing.T) {
	setup := func(t *testing.T) (*world, Submission) {
		w, metadata := noWithModal(t)
		w.tasks.Take(TaskAnswer) // the answer's own copy: not this test's
		return w, Submission{UserID: "U1", Metadata: metadata, Text: "I was asleep " + strings.Repeat("z", 3000)}
	}
	reasons := func(w *world) int { return strings.Count(w.comments(1), "**Reason**") }
	runCopies := func(t *testing.T, w *world, copies []Task) {
		t.Helper()
		for _, c := range copies {
			if err := w.r.RunTask(testCtx(t), c); err != nil {
				t.Fatalf("the reason's copy: %v", err)
			}
		}
	}
	t.Run("the copy after the run writes nothing more", func(t *testing.T) {
		w, sub := setup(t)
		pages, writes := len(w.pager.Pages()), len(w.issues.Writes())
		run, err := w.r.TakeReason(testCtx(t), sub)
		if err != nil {
			t.Fatal(err)
		}
		copies := w.tasks.Of(TaskReason)
		if len(copies) != 1 || copies[0].Reason.Ticket.User != "U1" || !strings.HasPrefix(copies[0].Reason.Text, "I was asleep") ||
			len([]rune(copies[0].Reason.Text)) != MaxReasonRunes {
			t.Fatalf("before the run (the ack), deferred %+v, want one reason task with the words cut to %d runes", copies, MaxReasonRunes)
		}
		if len(w.issues.Writes()) != writes || len(w.pager.Pages()) != pages {
			t.Fatal("the reason was written before its ack")
		}
		if err := run(); err != nil {
			t.Fatal(err)
		}
		if reasons(w) != 1 || len(w.pager.Pages()) != pages+1 {
			t.Fatalf("after the run: %d reason comments, %d pages for it, want 1 and 1", reasons(w), len(w.pager.Pages())-pages)
		}
		writes = len(w.issues.Writes())
		runCopies(t, w, w.tasks.Take(TaskReason))
		if got := w.issues.Writes(); len(got) != writes || len(w.pager.Pages()) != pages+1 {
			t.Errorf("the copy acted again: writes %q, %d pages", got[writes:], len(w.pager.Pages())-pages)
		}
	})
	t.Run("after a crash the copy alone records it once", func(t *testing.T) {
		w, sub := setup(t)
		pages := len(w.pager.Pages())
		if _, err := w.r.TakeReason(testCtx(t), sub); err != nil { // acked; the process dies before run
			t.Fatal(err)
		}
		copies := w.tasks.Take(TaskReason)
		runCopies(t, w, copies)
		runCopies(t, w, copies) // a redelivery
		if reasons(w) != 1 || len(w.pager.Pages()) != pages+1 {
			t.Errorf("%d reason comments, %d pages for it, want 1 and 1", reasons(w), len(w.pager.Pages())-pages)
		}
		if p := w.pager.Pages(); !strings.Contains(p[len(p)-1].Details, "I was asleep") || p[len(p)-1].DedupKey != p[0].DedupKey {
			t.Errorf("the reason's event %+v, want the words on the answer's incident", p[len(p)-1])
		}
	})
	t.Run("GitHub down: the event goes at once, the comment and the copy wait for GitHub", func(t *testing.T) {
		w, sub := setup(t)
		pages := len(w.pager.Pages())
		w.outage(ServiceGitHub)
		if err := w.r.Reason(testCtx(t), sub); err != nil {
			t.Fatal(err)
		}
		if len(w.pager.Pages()) != pages+1 || len(w.tasks.Of(TaskRecord)) != 1 {
			t.Fatalf("with GitHub down: %d events, %d record tasks, want 1 and 1", len(w.pager.Pages())-pages, len(w.tasks.Of(TaskRecord)))
		}
		copies := w.tasks.Take(TaskReason)
		if len(copies) != 1 || copies[0].Service() != ServiceGitHub {
			t.Fatalf("copies %+v, want one, admitted by GitHub", copies)
		}
		if err := w.r.RunTask(testCtx(t), copies[0]); err == nil || retry.IsPermanent(err) {
			t.Errorf("the copy while GitHub is down: %v, want a transient error (it comes round)", err)
		}
		w.back()
		w.runSteps(t)
		runCopies(t, w, copies)
		if reasons(w) != 1 || len(w.pager.Pages()) != pages+1 {
			t.Errorf("%d reason comments, %d events, want 1 and 1", reasons(w), len(w.pager.Pages())-pages)
		}
	})
	t.Run("PagerDuty down: the comment at once, the event follows once", func(t *testing.T) {
		w, sub := setup(t)
		pages := len(w.pager.Pages())
		w.outage(ServicePagerDuty)
		if err := w.r.Reason(testCtx(t), sub); err != nil {
			t.Fatal(err)
		}
		if reasons(w) != 1 || len(w.tasks.Of(TaskPage)) != 1 {
			t.Fatalf("with PagerDuty down: %d reason comments, %d page tasks, want 1 and 1", reasons(w), len(w.tasks.Of(TaskPage)))
		}
		runCopies(t, w, w.tasks.Take(TaskReason))
		w.back()
		dm := w.chat.DMs("U1")[0]
		pageTasks := w.tasks.Of(TaskPage)
		w.runSteps(t)
		runCopies(t, w, pageTasks) // a redelivered page task
		if len(w.pager.Pages()) != pages+1 || !strings.Contains(w.comments(1), "**Reason sent**") {
			t.Errorf("%d events for the reason, comments:\n%s\nwant one event, noted", len(w.pager.Pages())-pages, w.comments(1))
		}
		if now := w.chat.DMs("U1")[0]; now.Note != dm.Note || len(now.Buttons) != len(dm.Buttons) {
			t.Error("the reason's event changed the DM")
		}
	})
	t.Run("not durable: refused before the ack", func(t *testing.T) {
		w, sub := setup(t)
		w.tasks.down = errors.New("sqs: 503")
		if run, err := w.r.TakeReason(testCtx(t), sub); err == nil || run != nil {
			t.Errorf("TakeReason with the queue down: %v, want an error and no run", err)
		}
	})
}
