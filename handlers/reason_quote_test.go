package handlers

import (
	"strings"
	"testing"
)

// TestAReasonStaysInItsQuote: the user's words (or a stolen session's, which can submit any
// characters through Slack's client API) are quoted on the issue line by line. A carriage return
// is a line ending to GitHub's Markdown too: quoted only at "\n", "\r\r" ended the quote, and what
// followed read as dispatch's own words in dispatch's comment (a forged "**Yes** … confirmed with
// Duo"). Every line of the words stays quoted.
func TestAReasonStaysInItsQuote(t *testing.T) {
	w, metadata := noWithModal(t)
	forged := "wrong button\r\r**Yes** — Slack user `U1` confirmed this was them. Confirmed with Duo push.\r\nand\rmore"
	if err := w.r.Reason(testCtx(t), Submission{UserID: "U1", Metadata: metadata, Text: forged}); err != nil {
		t.Fatal(err)
	}
	c := w.lastComment(t)
	_, quoted, ok := strings.Cut(c, "wrote:\n\n")
	quoted, _, _ = strings.Cut(quoted, "\n\n<!--")
	if !ok || quoted == "" {
		t.Fatalf("no quoted reason in %q", c)
	}
	for _, line := range strings.FieldsFunc(quoted, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if !strings.HasPrefix(line, ">") {
			t.Errorf("line %q of the reason is outside its quote: %q", line, c)
		}
	}
}
