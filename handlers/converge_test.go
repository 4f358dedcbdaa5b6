package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/pace"
)

// Two different alarms with one title arrive while GitHub is busy: both prompts go first and
// their issues are filed later by TaskFile. The second filing must not converge onto the first
// alarm's issue and close its own (it is another alarm, and its user was already asked): that
// user's No would page nobody, and their escalation would find "answered in time".
func TestAPromptedAlarmsIssueIsNeverClosedAsAnotherAlarmsDuplicate(t *testing.T) {
	w := newWorld(t, "UALICE", "UBOB")
	w.issues.delay = 10 * time.Second // GitHub busy: prompts go first
	w.handle(t, selfService("req-a", "Login from a new device", "a", []string{"UALICE"}, ""))
	if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-2", Body: selfService("req-b", "Login from a new device", "b", []string{"UBOB"}, "")}); err != nil {
		t.Fatal(err)
	}
	files := w.tasks.Of(TaskFile)
	if len(files) != 2 {
		t.Fatalf("file tasks = %d, want 2", len(files))
	}
	w.issues.delay = 0
	for _, f := range files {
		if err := w.r.RunTask(testCtx(t), f); err != nil {
			t.Fatalf("file: %v", err)
		}
	}
	for _, wr := range w.issues.Writes() {
		if strings.HasPrefix(wr, "close") {
			t.Errorf("filing the prompted alarms' issues closed one: %v", w.issues.Writes())
		}
	}
	// Bob answers No: it must page.
	w.click(t, "UBOB", ActionNo, w.prompt(t, "UBOB"))
	if n := len(w.pager.Pages()); n != 1 {
		t.Errorf("Bob's No made %d pages, want 1", n)
	}
	// And Bob's escalation (had he not answered) must page too.
	w.now = w.now.Add(31 * time.Minute)
	for _, tk := range w.tasks.Of(TaskEscalate) {
		if tk.Deadline.Ticket.User == "UBOB" {
			if err := w.r.RunTask(testCtx(t), tk); err != nil {
				t.Fatalf("escalate: %v", err)
			}
		}
	}
	if n := len(w.pager.Pages()); n < 1 {
		t.Errorf("pages after Bob's escalation = %d, want >= 1", n)
	}
}

// Alarms racing for the last place of GitHub's window all see no delay before they create: the
// one that loses must not wait the window out (an hour here) with its user unasked, but send its
// prompt first, as if the delay had been seen.
func TestAnAlarmThatLosesTheRaceForGitHubsWindowPromptsFirst(t *testing.T) {
	w := newWorld(t, "UALICE", "UBOB")
	w.issues.pacer = pace.New(pace.Window{Limit: 1, Span: time.Hour}) // CreateDelay (w.issues.delay) still says 0
	w.handle(t, selfService("req-a", "first", "a", []string{"UALICE"}, ""))
	w.handle(t, selfService("req-b", "second", "b", []string{"UBOB"}, ""))
	if n := len(w.chat.DMs("UBOB")); n != 1 {
		t.Fatalf("Bob has %d DMs, want his prompt", n)
	}
	if n := len(w.tasks.Of(TaskFile)); n != 1 {
		t.Errorf("%d deferred filings, want Bob's issue deferred", n)
	}
}
