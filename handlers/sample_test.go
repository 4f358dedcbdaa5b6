package handlers

import (
	"strings"
	"testing"
	"time"
)

// TestAnUnansweredTestAlarmNeverPages: a /dispatch test alarm left unanswered past
// DISPATCH_ESCALATE_AFTER pages nobody (any member could page on-call once a minute); its DM and
// issue say what a real alarm would have done, and its buttons stop, as a real one's do.
func TestAnUnansweredTestAlarmNeverPages(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, SampleAlarm("U1", w.now, w.r.cfg.TaskKeys))
	esc := w.tasks.Of(TaskEscalate)
	if len(esc) != 1 {
		t.Fatalf("escalations scheduled: %d, want 1", len(esc))
	}
	w.now = w.now.Add(31 * time.Minute)
	if err := w.r.RunTask(testCtx(t), esc[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(w.pager.Pages()); n != 0 {
		t.Errorf("the test alarm's deadline made %d pages, want none", n)
	}
	if s := w.chat.settled; len(s) != 1 || !strings.Contains(s[0], "would now have been escalated") || !strings.Contains(s[0], "nobody was paged") {
		t.Errorf("the DM says %q, want what a real alarm would have done", s)
	}
	is, err := w.issues.Get(testCtx(t), testRepo, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := w.issues.comments[w.issues.key(testRepo, 1)]
	if !is.HasLabel(LabelEscalated) || len(c) == 0 || !strings.Contains(c[len(c)-1].Body, "PagerDuty was not paged") {
		t.Errorf("issue labels %v, comments %+v: want dispatch:escalated and a comment that nobody was paged", is.Labels, c)
	}
	// Its buttons stop as a real alarm's do: a late No changes nothing and pages nobody.
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	if n := len(w.pager.Pages()); n != 0 {
		t.Errorf("a No after the deadline made %d pages", n)
	}
}
