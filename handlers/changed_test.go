package handlers

import (
	"errors"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/retry"
)

// TestChangedOnGitHub: a change made on GitHub to a pending alarm's issue settles its DM only when
// the issue is dispatch's own; a copy with the same marker opened by someone else settles nothing,
// nor does a change to an alarm already answered. A removed dispatch label changes nothing, and a
// DM Slack will never open again is given up without an error to retry.
func TestChangedOnGitHub(t *testing.T) {
	for _, tc := range []struct {
		name    string
		author  string // who opened the issue that is reported changed ("" for dispatch's own)
		label   string
		arrange func(t *testing.T, w *world)
		want    string // a substring of the DM's settled text, "" for no settling
	}{
		{name: "closed", want: "Closed on GitHub by @carol"},
		{name: "labelled escalated", label: LabelEscalated, want: "Labelled dispatch:escalated on GitHub by @carol"},
		{name: "a copy opened by someone else", author: "mallory"},
		{name: "closed after a triager removed the dispatch label", want: "Closed on GitHub by @carol",
			arrange: func(t *testing.T, w *world) { w.issues.unlabel(testRepo, 1, LabelDispatch) }},
		{name: "closed after the user answered No",
			arrange: func(t *testing.T, w *world) { w.click(t, "U1", ActionNo, w.prompt(t, "U1")) }},
		{name: "reopened and closed after the user answered Yes",
			arrange: func(t *testing.T, w *world) { w.click(t, "U1", ActionYes, w.prompt(t, "U1")) }},
		{name: "the user can't be DMed any more (deactivated)",
			arrange: func(t *testing.T, w *world) {
				w.chat.sentErr = retry.Permanent(errors.New("slack conversations.open: user_disabled"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			if n := len(w.chat.DMs("U1")); n != 1 {
				t.Fatalf("DMs: %d, want 1", n)
			}
			if tc.arrange != nil {
				tc.arrange(t, w)
			}
			is, _ := w.issues.Get(testCtx(t), testRepo, 1)
			if tc.author != "" {
				is = w.issues.seed(testRepo, tc.author, NewIssue{Title: is.Title, Body: is.Body, Labels: is.Labels})
			}
			w.chat.mu.Lock()
			before := len(w.chat.settled)
			w.chat.mu.Unlock()
			if err := w.r.ChangedOnGitHub(testCtx(t), is, "carol", tc.label); err != nil {
				t.Fatal(err)
			}
			w.chat.mu.Lock()
			settled := strings.Join(w.chat.settled[before:], "\n")
			w.chat.mu.Unlock()
			if tc.want == "" && settled != "" || tc.want != "" && !strings.Contains(settled, tc.want) {
				t.Errorf("settled %q, want %q", settled, tc.want)
			}
		})
	}
}
