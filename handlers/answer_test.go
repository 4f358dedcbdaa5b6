package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/retry"
)

// TestAnswerRules drives one self-service alarm to U1 and then a click, one row per rule of who may
// answer what, and what a forged, altered or misdirected button must not do.
func TestAnswerRules(t *testing.T) {
	tests := []struct {
		name string
		// click returns the user and button value to click, after arranging the world.
		click func(t *testing.T, w *world, value string) (user, v string)
		// closed: U1's issue (#1) ends closed; written: the final click wrote to GitHub.
		closed, written bool
		told            string // a substring of what the clicker is told, "" for nothing
	}{
		{name: "the addressed user's Yes closes the issue", closed: true, written: true,
			click: func(t *testing.T, w *world, v string) (string, string) { return "U1", v }},
		{name: "someone else's click changes nothing", told: "sent to someone else",
			click: func(t *testing.T, w *world, v string) (string, string) { return "U2", v }},
		{name: "a second click changes nothing more", closed: true, told: "already answered",
			click: func(t *testing.T, w *world, v string) (string, string) {
				w.click(t, "U1", ActionYes, v)
				return "U1", v
			}},
		{name: "a forged ticket is refused", told: "wasn't made by dispatch",
			click: func(t *testing.T, w *world, v string) (string, string) {
				tk := Ticket{Alarm: "req-1", User: "U1", Key: "u1", Repo: testRepo, Issue: 1}
				return "U1", tk.Encode([][]byte{[]byte("not-the-key-not-the-key-not-the!")})
			}},
		{name: "an unsigned ticket (as on main) is refused", told: "wasn't made by dispatch",
			click: func(t *testing.T, w *world, v string) (string, string) {
				payload, _, _ := strings.Cut(v, ".")
				return "U1", payload
			}},
		{name: "an altered ticket (another user, signature kept) is refused", told: "wasn't made by dispatch",
			click: func(t *testing.T, w *world, v string) (string, string) {
				payload, sig, _ := strings.Cut(v, ".")
				raw, _ := base64.RawURLEncoding.DecodeString(payload)
				raw = []byte(strings.Replace(string(raw), `"u":"U1"`, `"u":"U2"`, 1))
				return "U2", base64.RawURLEncoding.EncodeToString(raw) + "." + sig
			}},
		{name: "a ticket signed with the previous key still works", closed: true, written: true,
			click: func(t *testing.T, w *world, v string) (string, string) {
				tk, err := DecodeTicket(v, [][]byte{testKey})
				if err != nil {
					t.Fatal(err)
				}
				return "U1", tk.Encode([][]byte{oldTestKey})
			}},
		{name: "a signed ticket naming an issue dispatch didn't open is refused", told: "doesn't match",
			click: func(t *testing.T, w *world, v string) (string, string) {
				// Someone with triage rights copies dispatch's issue, marker and label included.
				is, _ := w.issues.Get(testCtx(t), testRepo, 1)
				fake := w.issues.seed(testRepo, "mallory", NewIssue{Title: is.Title, Body: is.Body, Labels: is.Labels})
				tk, _ := DecodeTicket(v, [][]byte{testKey})
				tk.Issue = fake.Number
				return "U1", tk.Encode([][]byte{testKey})
			}},
		{name: "a signed ticket naming dispatch's issue for another user of the alarm is refused", told: "doesn't match",
			click: func(t *testing.T, w *world, v string) (string, string) {
				is, _ := w.issues.Get(testCtx(t), testRepo, 1)
				body := strings.Replace(is.Body, "user=u1 slack=U1", "user=u2 slack=U2", 1)
				if body == is.Body {
					t.Fatalf("no marker for U1 in %q", is.Body)
				}
				other := w.issues.seed(testRepo, dispatchLogin, NewIssue{Title: is.Title, Body: body, Labels: is.Labels})
				tk, _ := DecodeTicket(v, [][]byte{testKey})
				tk.Issue = other.Number
				return "U1", tk.Encode([][]byte{testKey})
			}},
		{name: "the answer counts on an issue whose dispatch label a triager removed", closed: true, written: true,
			click: func(t *testing.T, w *world, v string) (string, string) {
				w.issues.unlabel(testRepo, 1, LabelDispatch)
				return "U1", v
			}},
		{name: "a signed ticket naming another alarm's issue is refused", told: "doesn't match",
			click: func(t *testing.T, w *world, v string) (string, string) {
				w.handle(t, selfService("req-2", "other alarm", "x", []string{"U2"}, ""))
				tk, _ := DecodeTicket(v, [][]byte{testKey})
				tk.Issue = 2
				return "U1", tk.Encode([][]byte{testKey})
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1", "U2")
			w.handle(t, selfService("req-1", "login from a new place", "details", []string{"U1"}, ""))
			user, value := tc.click(t, w, w.prompt(t, "U1"))
			before := len(w.issues.Writes())
			w.click(t, user, ActionYes, value)
			is, _ := w.issues.Get(testCtx(t), testRepo, 1)
			if is.Open == tc.closed {
				t.Errorf("issue #1 open = %v, want %v", is.Open, !tc.closed)
			}
			if got := len(w.issues.Writes()) > before; got != tc.written {
				t.Errorf("writes after the alarm: %v, want written=%v", w.issues.Writes()[before:], tc.written)
			}
			if tc.told != "" {
				told := w.chat.Told()
				if len(told) == 0 || !strings.Contains(told[len(told)-1], tc.told) {
					t.Errorf("told %q, want it to say %q", told, tc.told)
				}
			}
			if len(w.pager.Pages()) != 0 {
				t.Errorf("a Yes paged: %+v", w.pager.Pages())
			}
			// Every answer taken was made durable first; its copy, when it comes round, finds the
			// work done (or refused) and writes nothing more.
			writes := len(w.issues.Writes())
			for _, c := range w.tasks.Take(TaskAnswer) {
				if err := w.r.RunTask(testCtx(t), c); err != nil && !retry.IsPermanent(err) {
					t.Errorf("the answer's copy: %v", err)
				}
			}
			if got := w.issues.Writes(); len(got) != writes || len(w.pager.Pages()) != 0 {
				t.Errorf("the answer's copy acted again: %q", got[writes:])
			}
		})
	}
}

// TestANoPagesThoughATriagerRemovedTheDispatchLabel: anyone with triage rights can remove the
// dispatch label; the ticket is signed and the issue's author and marker are dispatch's, so a No
// still pages, labels and comments, and the DM shows the answer.
func TestANoPagesThoughATriagerRemovedTheDispatchLabel(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "login from a new place", "details", []string{"U1"}, ""))
	value := w.prompt(t, "U1")
	w.issues.unlabel(testRepo, 1, LabelDispatch)
	w.click(t, "U1", ActionNo, value)
	if pages := w.pager.Pages(); len(pages) != 1 {
		t.Errorf("a No on an issue without the dispatch label paged %d times, want 1 (told %q)", len(pages), w.chat.Told())
	}
	if is, _ := w.issues.Get(testCtx(t), testRepo, 1); !is.HasLabel(LabelEscalated) {
		t.Errorf("issue labels %v, want %s", is.Labels, LabelEscalated)
	}
	w.chat.mu.Lock()
	settled := strings.Join(w.chat.settled, "\n")
	w.chat.mu.Unlock()
	if !strings.Contains(settled, "You answered *No*") {
		t.Errorf("DM settled as %q, want the No", settled)
	}
}

// TestAnswerFailures: a transient failure defers the record; a permanent one (the issue is gone)
// or one older than maxRetryAge ends it, announced, instead of going round forever.
func TestAnswerFailures(t *testing.T) {
	tests := []struct {
		name      string
		arrange   func(w *world)
		age       time.Duration // between the click and the retry
		deferred  bool
		permanent bool // the retry's error is permanent (dead-lettered)
	}{
		{name: "GitHub down: deferred, then recorded", arrange: func(w *world) { w.issues.failNext = errGitHubDown }, deferred: true},
		{name: "issue deleted: ended, not deferred", arrange: func(w *world) { w.issues.issues[testRepo][0] = nil }},
		{name: "GitHub down past the retry bound: ended", age: maxRetryAge + time.Hour, deferred: true, permanent: true,
			arrange: func(w *world) { w.issues.failNext = errGitHubDown }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			v := w.prompt(t, "U1")
			tc.arrange(w)
			w.click(t, "U1", ActionYes, v)
			got := w.tasks.Of(TaskRecord)
			if (len(got) == 1) != tc.deferred {
				t.Fatalf("deferred answers: %d, want deferred=%v", len(got), tc.deferred)
			}
			if !tc.deferred {
				if titles := w.flushNotices(t); !strings.Contains(titles, "could not be recorded") {
					t.Errorf("no notice in the fallback channel: %q", titles)
				}
				return
			}
			w.now = w.now.Add(tc.age)
			w.issues.failNext = nil
			if tc.permanent {
				w.issues.failNext = errGitHubDown
			}
			err := w.r.RunTask(testCtx(t), got[0])
			if tc.permanent != (retry.IsPermanent(err)) {
				t.Fatalf("retry: %v, want permanent=%v", err, tc.permanent)
			}
			if !tc.permanent {
				if is, _ := w.issues.Get(testCtx(t), testRepo, 1); is.Open {
					t.Error("the deferred answer did not close the issue")
				}
			}
		})
	}
}

// flushNotices waits for the background notices and returns their titles.
func (w *world) flushNotices(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	w.r.Flush(ctx)
	var titles []string
	for _, p := range w.chat.Posts() {
		titles = append(titles, p.Title)
	}
	return strings.Join(titles, "\n")
}

// TestDeadlineTrustsOnlyDispatchComments: an escalation is skipped only when dispatch itself wrote
// its marker; the same marker in anyone else's comment silences nothing.
func TestDeadlineTrustsOnlyDispatchComments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		author string
		pages  int
	}{
		{name: "marker copied into another user's comment", author: "mallory", pages: 1},
		{name: "marker in dispatch's own comment (an earlier delivery)", author: dispatchLogin, pages: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			esc := w.tasks.Of(TaskEscalate)
			if len(esc) != 1 {
				t.Fatalf("escalations scheduled: %d", len(esc))
			}
			w.issues.commentAs(testRepo, 1, tc.author, "nothing to see\n\n<!-- dispatch escalate alarm=req-1 user=U1 -->")
			w.now = w.now.Add(31 * time.Minute)
			if err := w.r.RunTask(testCtx(t), esc[0]); err != nil {
				t.Fatal(err)
			}
			if got := len(w.pager.Pages()); got != tc.pages {
				t.Errorf("pages: %d, want %d", got, tc.pages)
			}
		})
	}
}

// TestRedeliveryResumes: the same alarm delivered twice raises one issue and one DM.
func TestRedeliveryResumes(t *testing.T) {
	w := newWorld(t, "U1")
	body := selfService("req-1", "login", "details", []string{"U1"}, "")
	w.handle(t, body)
	if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: body, Redelivered: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(w.issues.issues[testRepo]); n != 1 {
		t.Errorf("issues: %d, want 1", n)
	}
	if n := len(w.chat.DMs("U1")); n != 1 {
		t.Errorf("DMs: %d, want 1", n)
	}
}

// TestAnAnswerReadsItsIssueOnceAndItsCopyOnlyTheComments: GitHub's budget is the scarcest (5,000
// requests an hour per token), and every answer has a durable copy that comes round 30 s later. The
// answer reads its issue once (the record step uses what the answer read), and the copy, finding
// the answer recorded, reads the comments only.
func TestAnAnswerReadsItsIssueOnceAndItsCopyOnlyTheComments(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	before := len(w.issues.Reads())
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	want := []string{"get " + testRepo + "#1", "comments " + testRepo + "#1"}
	if got := w.issues.Reads()[before:]; !slices.Equal(got, want) {
		t.Errorf("the answer read %q, want %q", got, want)
	}
	copies := w.tasks.Take(TaskAnswer)
	if len(copies) != 1 {
		t.Fatalf("answer copies: %d, want 1", len(copies))
	}
	before, writes, pages := len(w.issues.Reads()), len(w.issues.Writes()), len(w.pager.Pages())
	if err := w.r.RunTask(testCtx(t), copies[0]); err != nil {
		t.Fatal(err)
	}
	if got := w.issues.Reads()[before:]; !slices.Equal(got, want[1:]) {
		t.Errorf("the copy read %q, want %q", got, want[1:])
	}
	if len(w.issues.Writes()) != writes || len(w.pager.Pages()) != pages {
		t.Errorf("the copy acted again: writes %q", w.issues.Writes()[writes:])
	}
}

// TestForeignIssueIsNoDuplicate: an issue with the alarm's title and label that dispatch didn't open
// neither suppresses the alarm nor is taken for its own.
func TestForeignIssueIsNoDuplicate(t *testing.T) {
	w := newWorld(t, "U1")
	w.issues.seed(testRepo, "mallory", NewIssue{Title: "login", Body: "decoy", Labels: []string{LabelDispatch}})
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	if n := len(w.issues.issues[testRepo]); n != 2 {
		t.Errorf("issues: %d, want the decoy and dispatch's own", n)
	}
	if n := len(w.chat.DMs("U1")); n != 1 {
		t.Errorf("DMs: %d, want 1", n)
	}
}

// TestCannotDM: a user Slack won't DM is "can't be reached" (the fallback channel, no buttons); the
// other users still get theirs and the alarm is done, whether the issue goes first or the prompt does.
func TestCannotDM(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{name: "issue first"},
		{name: "prompt first (GitHub busy)", delay: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1", "U2")
			w.issues.delay = tc.delay
			w.chat.cannotDM["U1"] = ErrCannotDM
			w.handle(t, selfService("req-1", "login", "details", []string{"U1", "U2"}, ""))
			if n := len(w.chat.DMs("U2")); n != 1 {
				t.Errorf("U2 DMs: %d, want 1", n)
			}
			posts := w.chat.Posts()
			if len(posts) != 1 || !strings.Contains(posts[0].Title, "Could not reach") || len(posts[0].Buttons) != 0 {
				t.Errorf("fallback posts: %+v", posts)
			}
			if n := len(w.tasks.Of(TaskEscalate)); n != 1 {
				t.Errorf("escalations: %d, want 1 (U2's only)", n)
			}
		})
	}
}

// TestDeadlineRetriesAreBounded: an escalation whose issue can't be read pages at once (it needs
// PagerDuty only); its record on the issue goes round while GitHub is down, but not past
// maxRetryAge after it came due: then it is permanent (dead-lettered, announced).
func TestDeadlineRetriesAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		late      time.Duration
		permanent bool
	}{
		{name: "GitHub down an hour after the deadline: retried", late: time.Hour},
		{name: "GitHub down three days after: given up", late: maxRetryAge + time.Minute, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
			esc := w.tasks.Of(TaskEscalate)[0]
			w.issues.failGets = errGitHubDown
			w.now = esc.Deadline.DueAt
			if err := w.r.RunTask(testCtx(t), esc); err != nil {
				t.Fatalf("the escalation: %v", err)
			}
			if len(w.pager.Pages()) != 1 {
				t.Error("not paged while the issue can't be read")
			}
			rec := w.tasks.Of(TaskRecord)
			if len(rec) != 1 {
				t.Fatalf("record tasks: %d, want 1", len(rec))
			}
			w.now = esc.Deadline.DueAt.Add(tc.late)
			err := w.r.RunTask(testCtx(t), rec[0])
			if err == nil || retry.IsPermanent(err) != tc.permanent {
				t.Errorf("RunTask: %v, want an error, permanent=%v", err, tc.permanent)
			}
		})
	}
}

// TestTheAppHomeReadsFewIncidentStatesARender: every answer renders the App Home, and each
// escalated alarm listed there shows its incident's state, read from the issue's comments. A user
// with six escalated alarms whose states this replica no longer holds costs at most
// homeStatusReads reads a render, not six: GitHub's hourly budget is shared with every alarm.
func TestTheAppHomeReadsFewIncidentStatesARender(t *testing.T) {
	w := newWorld(t, "U1")
	for i := range 6 {
		w.handle(t, selfService(fmt.Sprintf("req-%d", i), fmt.Sprintf("login %d", i), "x", []string{"U1"}, ""))
		w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	}
	w.now = w.now.Add(homeTTL + time.Second) // the states kept on escalation are stale now
	before := len(w.issues.Reads())
	if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
		t.Fatal(err)
	}
	comments := 0
	for _, r := range w.issues.Reads()[before:] {
		if strings.HasPrefix(r, "comments ") {
			comments++
		}
	}
	if comments == 0 || comments > homeStatusReads {
		t.Errorf("one render read %d issues' comments, want 1 to %d", comments, homeStatusReads)
	}
}
