package handlers

import (
	"strings"
	"testing"
)

// TestAButtonFromBeforeAKeyRotationSaysWhy: a prompt lives as long as its escalateAfter, or for
// ever, so its buttons can outlive the key that signed them. Clicked after that key was dropped,
// the DM's button tells the user it did nothing and why; the App Home's, which has no channel to
// answer in, is redrawn with why its buttons are gone. Nothing is written either way.
func TestAButtonFromBeforeAKeyRotationSaysWhy(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "Login from a new device", "details", []string{"U1"}, ""))
	value := w.prompt(t, "U1")
	w.r.cfg.TaskKeys = [][]byte{[]byte("a-new-key-a-new-key-a-new-key-32")} // the old keys dropped

	w.click(t, "U1", ActionNo, value)
	if told := w.chat.Told(); len(told) != 1 || !strings.Contains(told[0], "key dispatch no longer has") {
		t.Errorf("a DM click told %q, want why the button did nothing", told)
	}

	if err := w.r.Answer(testCtx(t), Click{UserID: "U1", ActionID: ActionNo, Value: value}); err != nil { // the App Home
		t.Fatal(err)
	}
	home := w.chat.LastHome()
	if len(home.Pending) != 1 || len(home.Pending[0].Buttons) != 0 || !strings.Contains(home.Pending[0].Status, "no longer work") {
		t.Errorf("the App Home after a click on a dead button: %+v, want the alarm without buttons, saying why", home.Pending)
	}
	if n := len(w.pager.Pages()); n != 0 {
		t.Errorf("pages: %d, want none", n)
	}
	if is, _ := w.issues.Get(testCtx(t), testRepo, 1); !is.Open || is.HasLabel(LabelEscalated) {
		t.Errorf("the issue changed: open %v, labels %v", is.Open, is.Labels)
	}
}
