package handlers

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
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
