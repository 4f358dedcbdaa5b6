package handlers

import (
	"testing"
	"time"
)

// TestDuoATestAlarmsApprovalIsNotReused: whoever holds a stolen Slack session can send
// /dispatch test at will and press its Yes: the user's phone shows a push for a "dispatch test
// alarm", harmless to approve, it seems. Recorded as an approval, it let every Yes of the next
// DUO_REUSE_WINDOW (1 h by default), the real alarm's included, count without a push. A test
// alarm's push shows the loop works and lends its approval to nothing.
func TestDuoATestAlarmsApprovalIsNotReused(t *testing.T) {
	w, duo := duoWorld(t, MFAConfig{Default: true, ReuseWindow: time.Hour})
	duo.user("u1@example.com", pushAllow)
	w.handle(t, SampleAlarm("U1", w.now, w.r.cfg.TaskKeys))
	w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
	if n := len(duo.Pushes()); n != 1 {
		t.Fatalf("%d pushes for the test alarm's Yes, want 1 (it shows the loop)", n)
	}
	w.now = w.now.Add(time.Minute)
	duo.user("u1@example.com", pushDeny) // the real user, asked about the real alarm, says no
	w.handle(t, selfService("req-2", "Console login from Lisbon", "b", []string{"U1"}, ""))
	w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
	if n := len(duo.Pushes()); n != 2 {
		t.Fatalf("%d pushes, want 2: the real alarm's Yes must push, not reuse the test's approval", n)
	}
	is, err := w.issues.Get(testCtx(t), testRepo, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !is.HasLabel(LabelEscalated) {
		t.Errorf("real alarm open=%v labels=%v: want it escalated on the denied push", is.Open, is.Labels)
	}
}
