package handlers

import (
	"strings"
	"testing"
	"time"
)

// hangingName, as a fakeChat name, makes Name wait until its context ends: Slack not answering.
const hangingName = "\x00hang"

// hostileName is a profile name written to mislead: markup, a mention, another user's ID, a
// right-to-left override and an HTML comment opener.
const hostileName = "**Boss** <img src=x onerror=alert(1)> [x](https://evil.example) @acme/security (U2)\u202e<!-- `x`\nline"

// TestPeopleAreNamedWhereHumansRead: the incident summary, the issue comments and the fallback
// notice name the person who answered (or didn't) by the name their workspace shows, with the ID
// beside it; a name that can't be had leaves the ID alone and stops nothing; a hostile name is
// neutralised like alarm text.
func TestPeopleAreNamedWhereHumansRead(t *testing.T) {
	for _, tc := range []struct {
		name, profile string
		summary       string   // the page's summary starts with it
		comment       []string // the last comment holds each
		notInComment  []string
	}{
		{name: "named", profile: "Alice Liddell", summary: "Alice Liddell (U1) answered No: login",
			comment: []string{"Slack user Alice Liddell (`U1`) said this was **not** them"}},
		{name: "no name: the ID", profile: "", summary: "U1 answered No: login",
			comment: []string{"Slack user `U1` said this was"}},
		{name: "Slack not answering: the ID, in bounded time", profile: hangingName, summary: "U1 answered No: login",
			comment: []string{"Slack user `U1` said this was"}},
		{name: "a hostile name is inert", profile: hostileName,
			summary:      "**Boss** <img src=x onerror=alert 1 > x https://evil.example @acme/security U2 <!-- `x` line (U1) answered No",
			comment:      []string{`\*\*Boss\*\* \<img src\=x onerror\=alert`, "@\u200dacme", " (`U1`) said"},
			notInComment: []string{" <img", " <!--", "](https", "\u202e", "(U2)", "line\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			if tc.profile != "" {
				w.chat.names["U1"] = tc.profile
			}
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
			pages := w.pager.Pages()
			if len(pages) != 1 || !strings.HasPrefix(pages[0].Summary, tc.summary) {
				t.Fatalf("pages %+v, want one whose summary starts %q", pages, tc.summary)
			}
			if strings.ContainsAny(pages[0].Summary, "\u202e\n") || strings.Contains(pages[0].Summary, "(U2)") {
				t.Errorf("the summary keeps a control character or a forged ID: %q", pages[0].Summary)
			}
			comments := w.issues.comments[w.issues.key(testRepo, 1)]
			if len(comments) == 0 {
				t.Fatal("no answer comment")
			}
			last := comments[len(comments)-1].Body
			for _, want := range tc.comment {
				if !strings.Contains(last, want) {
					t.Errorf("the comment %q lacks %q", last, want)
				}
			}
			for _, bad := range tc.notInComment {
				if strings.Contains(last, bad) {
					t.Errorf("the comment %q holds %q", last, bad)
				}
			}
		})
	}
}

// TestDeadlinesAndNoticesNameThePerson: the escalation of an unanswered alarm and the notice of an
// answer that could not be recorded name the person too.
func TestDeadlinesAndNoticesNameThePerson(t *testing.T) {
	w := newWorld(t, "U1")
	w.chat.names["U1"] = "Alice Liddell"
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	esc := w.tasks.Of(TaskEscalate)
	if len(esc) != 1 {
		t.Fatalf("escalations scheduled: %d", len(esc))
	}
	w.now = w.now.Add(31 * time.Minute)
	if err := w.r.RunTask(testCtx(t), esc[0]); err != nil {
		t.Fatal(err)
	}
	if pages := w.pager.Pages(); len(pages) != 1 || !strings.HasPrefix(pages[0].Summary, "no answer from Alice Liddell (U1) after 30m0s") {
		t.Errorf("pages %+v, want the escalation naming Alice", pages)
	}
	comments := w.issues.comments[w.issues.key(testRepo, 1)]
	if len(comments) == 0 || !strings.Contains(comments[len(comments)-1].Body, "no answer from Slack user Alice Liddell (`U1`)") {
		t.Errorf("comments %+v, want the escalation naming Alice", comments)
	}

	w = newWorld(t, "U1")
	w.chat.names["U1"] = "Alice Liddell"
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	v := w.prompt(t, "U1")
	w.issues.issues[testRepo][0] = nil // the issue is gone: the answer can't be recorded
	w.click(t, "U1", ActionYes, v)
	w.flushNotices(t)
	var bodies []string
	for _, p := range w.chat.Posts() {
		bodies = append(bodies, p.Body)
	}
	if all := strings.Join(bodies, "\n"); !strings.Contains(all, "Alice Liddell (U1) answered Yes to alarm req-1") {
		t.Errorf("notices %q, want one naming Alice", all)
	}
}
