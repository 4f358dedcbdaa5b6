package handlers

import (
	"testing"
	"time"
)

// TestADecoyCannotTakeARealEscalationsIncident: the requestId and user of a pending alarm are in its
// issue's marker. A decoy alarm with both and a short escalateAfter escalates first; the real No must
// open an incident of its own, not join the decoy's (which on-call may have resolved as noise).
func TestADecoyCannotTakeARealEscalationsIncident(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "Login from a new device", "details", []string{"U1"}, ""))
	w.handle(t, selfService("req-1", "nothing to see", "decoy", []string{"U1"}, `"escalateAfter":"1m",`))
	var decoy []Task
	for _, tk := range w.tasks.Of(TaskEscalate) {
		if tk.Deadline.After == time.Minute {
			decoy = append(decoy, tk)
		}
	}
	if len(decoy) != 1 {
		t.Fatalf("the decoy's escalations: %d, want 1", len(decoy))
	}
	w.now = w.now.Add(2 * time.Minute)
	if err := w.r.RunTask(testCtx(t), decoy[0]); err != nil {
		t.Fatal(err)
	}
	dms := w.chat.DMs("U1")
	if len(dms) != 2 || len(dms[0].Buttons) == 0 {
		t.Fatalf("DMs to U1: %d, want the real prompt and the decoy's", len(dms))
	}
	w.click(t, "U1", ActionNo, dms[0].Buttons[1].Value) // the real alarm's No
	pages := w.pager.Pages()
	if len(pages) != 2 {
		t.Fatalf("pages: %d, want the decoy's and the real No's", len(pages))
	}
	if pages[0].DedupKey == pages[1].DedupKey {
		t.Errorf("the real No joined the decoy's incident (dedup key %s)", pages[1].DedupKey)
	}
}

// TestADecoyUnderTheSameTitleCannotSteerTheEscalation: a decoy with the pending alarm's requestId,
// user and title is taken for a redelivery of it; its own pagerDutyServiceId must not be where the
// real alarm's escalation goes.
func TestADecoyUnderTheSameTitleCannotSteerTheEscalation(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "Login from a new device", "details", []string{"U1"}, ""))
	w.handle(t, selfService("req-1", "Login from a new device", "decoy", []string{"U1"}, `"escalateAfter":"1m","pagerDutyServiceId":"PDECOY",`))
	w.now = w.now.Add(2 * time.Minute)
	for _, tk := range w.tasks.Of(TaskEscalate) {
		if tk.Deadline.After == time.Minute {
			if err := w.r.RunTask(testCtx(t), tk); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	pages := w.pager.Pages()
	if len(pages) == 0 {
		t.Fatal("nobody was paged")
	}
	for _, p := range pages {
		if p.ServiceID != "" {
			t.Errorf("paged service %q, the decoy's, not the real alarm's default service", p.ServiceID)
		}
	}
}
