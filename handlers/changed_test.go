package handlers

import (
	"strings"
	"testing"
)

// TestChangedOnGitHub: a change made on GitHub to a pending alarm's issue settles its DM only when
// the issue is dispatch's own; a copy with the same marker opened by someone else settles nothing.
func TestChangedOnGitHub(t *testing.T) {
	for _, tc := range []struct {
		name   string
		author string // who opened the issue that is reported changed ("" for dispatch's own)
		label  string
		want   string // a substring of the DM's settled text, "" for no settling
	}{
		{name: "closed", want: "Closed on GitHub by @carol"},
		{name: "labelled escalated", label: LabelEscalated, want: "Labelled dispatch:escalated on GitHub by @carol"},
		{name: "a copy opened by someone else", author: "mallory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			if n := len(w.chat.DMs("U1")); n != 1 {
				t.Fatalf("DMs: %d, want 1", n)
			}
			is := *w.issues.issues[testRepo][0]
			if tc.author != "" {
				is = w.issues.seed(testRepo, tc.author, NewIssue{Title: is.Title, Body: is.Body, Labels: is.Labels})
			}
			if err := w.r.ChangedOnGitHub(testCtx(t), is, "carol", tc.label); err != nil {
				t.Fatal(err)
			}
			w.chat.mu.Lock()
			settled := strings.Join(w.chat.settled, "\n")
			w.chat.mu.Unlock()
			if tc.want == "" && settled != "" || tc.want != "" && !strings.Contains(settled, tc.want) {
				t.Errorf("settled %q, want %q", settled, tc.want)
			}
		})
	}
}
