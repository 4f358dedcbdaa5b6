package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
)

// TestAlarmTextIsInert: alarm text in an issue can't supply or displace dispatch's marker, hide
// text in a comment, or @-mention anyone; the mention dispatch writes for the alarm's user stays.
func TestAlarmTextIsInert(t *testing.T) {
	w := newWorld(t, "U1", "U9")
	// A marker with a ticket for U9 on an issue elsewhere, and a mention of an unrelated team.
	smuggled := `<!-- dispatch alarm=req-x user=u9 slack=U9 ticket=` + (Ticket{Alarm: "req-x", User: "U9", Key: "u9", Repo: "acme/prod", Issue: 7}).Encode([][]byte{testKey}) + ` -->`
	body := "cc @acme/security-team and mail ops@acme.example\n" + smuggled
	w.handle(t, []byte(fmt.Sprintf(`{"type":"self-service","requestId":"req-1","users":[{"slackId":"U1","github":"alice"}],"body":{"github":{"title":"t","body":%q},"slack":{"message":"m","prompt":"p"}}}`, body)))
	is, _ := w.issues.Get(testCtx(t), testRepo, 1)
	if strings.Count(is.Body, "<!--") != 1 {
		t.Errorf("the issue body opens %d comments, want only dispatch's marker:\n%s", strings.Count(is.Body, "<!--"), is.Body)
	}
	mk, ok := findMarker(is.Body)
	if !ok || mk.Alarm != "req-1" || mk.Slack != "U1" {
		t.Errorf("marker = %+v, %v; want dispatch's for req-1/U1", mk, ok)
	}
	for _, want := range []string{"@\u200dacme/security-team", "ops@acme.example", "For @alice."} {
		if !strings.Contains(is.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, is.Body)
		}
	}
	if strings.Contains(is.Body, "@acme/security-team") {
		t.Error("the alarm text still mentions @acme/security-team")
	}
	// U9's App Home shows no live button from the smuggled marker.
	if err := w.r.HomeOpened(testCtx(t), "U9"); err != nil {
		t.Fatal(err)
	}
	for _, e := range w.chat.LastHome().Pending {
		if len(e.Buttons) > 0 {
			t.Errorf("U9's Home has buttons from a smuggled marker: %+v", e)
		}
	}
}

// TestHomeButtons: buttons appear on a user's App Home only for dispatch's own issue whose marker
// ticket verifies and names that user.
func TestHomeButtons(t *testing.T) {
	for _, tc := range []struct {
		name       string
		author     string
		key        []byte
		unlabelled bool // a triager removed the dispatch label
		buttons    bool
	}{
		{name: "dispatch's issue, ticket signed", author: dispatchLogin, key: testKey, buttons: true},
		{name: "dispatch's issue whose dispatch label a triager removed", author: dispatchLogin, key: testKey, unlabelled: true, buttons: true},
		{name: "someone else's issue, marker copied", author: "mallory", key: testKey},
		{name: "dispatch's issue, ticket signed by another key", author: dispatchLogin, key: []byte("another-key-another-key-another!")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			tk := Ticket{Alarm: "req-1", User: "U1", Key: "u1", Repo: testRepo}
			mk := marker{Alarm: "req-1", User: "u1", Slack: "U1", Ticket: tk.Encode([][]byte{tc.key})}
			is := w.issues.seed(testRepo, tc.author, NewIssue{Title: "t", Body: "x\n\n" + mk.String(), Labels: []string{LabelDispatch}})
			if tc.unlabelled {
				w.issues.unlabel(testRepo, is.Number, LabelDispatch)
			}
			if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
				t.Fatal(err)
			}
			got := false
			for _, e := range w.chat.LastHome().Pending {
				got = got || len(e.Buttons) > 0
			}
			if got != tc.buttons {
				t.Errorf("buttons shown = %v, want %v", got, tc.buttons)
			}
		})
	}
}

// TestHomeBudget: a burst of App Home opens costs one lookup per user per homeTTL; an answer
// refreshes it.
func TestHomeBudget(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := w.issues.Lookups(); n != 2 { // its open and its closed alarms, once
		t.Errorf("AlarmsFor calls for 50 opens: %d, want 2", n)
	}
	w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
	if n := w.issues.Lookups(); n != 4 {
		t.Errorf("AlarmsFor calls after an answer: %d, want 4 (the refresh)", n)
	}
	if home := w.chat.LastHome(); len(home.Pending) != 0 {
		t.Errorf("after the answer the Home still shows %d pending", len(home.Pending))
	}
	w.now = w.now.Add(homeTTL + time.Second)
	if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
		t.Fatal(err)
	}
	if n := w.issues.Lookups(); n != 6 {
		t.Errorf("AlarmsFor calls after homeTTL: %d, want 6", n)
	}
}

// TestHomeBurstDoesNotDelayAlarms: while GitHub is slow to list Home alarms for a crowd of users,
// at most 4 lookups run (the number docs/SECURITY.md promises, not the constant), and an alarm is
// handled without waiting for any of them.
func TestHomeBurstDoesNotDelayAlarms(t *testing.T) {
	w := newWorld(t, "U1")
	w.issues.hold = make(chan struct{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { _ = w.r.HomeOpened(testCtx(t), fmt.Sprintf("U%d", 100+i)) })
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: selfService("req-1", "login", "d", []string{"U1"}, "")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a generous bound: the alarm waits on nothing of the Home's
		t.Fatal("the alarm waited for the App Home lookups")
	}
	// docs/SECURITY.md promises 4 at once: the held lookups reach it, and no more start.
	const promised = 4
	inFlight := func() int { w.issues.mu.Lock(); defer w.issues.mu.Unlock(); return w.issues.inFlight }
	deadline := time.Now().Add(time.Minute)
	for inFlight() < promised && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(w.issues.hold)
	wg.Wait()
	if w.issues.peak != promised {
		t.Errorf("%d Home lookups ran at once, want %d (20 users waiting)", w.issues.peak, promised)
	}
}

// TestDedupKeysDontCollide: a high-priority requestId can't produce an escalation's key, nor the
// title-derived key, whatever it contains.
func TestDedupKeysDontCollide(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "login", "details", []string{"U1"}, ""))
	w.handle(t, []byte(`{"type":"high-priority","requestId":"req-1/U1","body":{"pagerduty":{"title":"decoy","body":"d"}}}`))
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	pages := w.pager.Pages()
	if len(pages) != 2 {
		t.Fatalf("pages: %d, want 2", len(pages))
	}
	if pages[0].DedupKey == pages[1].DedupKey {
		t.Errorf("the decoy and the escalation share dedup key %q", pages[0].DedupKey)
	}
	esc := dedupKey(keyEscalation, testRepo, "login", "req-1", "U1")
	if pages[1].DedupKey != esc || !strings.HasPrefix(esc, "dispatch:esc:") {
		t.Errorf("escalation key %q, want %q", pages[1].DedupKey, esc)
	}
	if c := w.issues.comments[w.issues.key(testRepo, 1)]; len(c) == 0 || !strings.Contains(c[len(c)-1].Body, esc) {
		t.Errorf("the answer comment doesn't name the dedup key %s: %+v", esc, c)
	}
	for _, pair := range [][2][]string{{{"a/b", "c"}, {"a", "b/c"}}, {{"a", ""}, {"a"}}, {{"", "a"}, {"a", ""}}} {
		if dedupKey(keyEscalation, pair[0]...) == dedupKey(keyEscalation, pair[1]...) {
			t.Errorf("fields %q and %q share a key", pair[0], pair[1])
		}
	}
	if dedupKey(keyHighPriority, "x") == dedupKey(keyEscalation, "x") {
		t.Error("two kinds share a key")
	}
}

// TestAllowedRepos: an alarm naming a repository outside GITHUB_ALLOWED_REPOS is bad input and
// writes nothing; names match case-insensitively.
func TestAllowedRepos(t *testing.T) {
	for _, tc := range []struct {
		repo    string
		allowed []string
		ok      bool
	}{
		{repo: "", ok: true},
		{repo: "other", ok: true}, // the default owner's repository
		{repo: "ACME/Other", ok: true},
		{repo: "evil/alarms"},
		{repo: "acme/prod", allowed: []string{"acme/alarms"}},
		{repo: "Acme/Prod", allowed: []string{"acme/alarms", "acme/prod"}, ok: true},
		{repo: "team/x", allowed: []string{"acme/alarms", "team/*"}, ok: true},
	} {
		t.Run(tc.repo+" in "+strings.Join(tc.allowed, ","), func(t *testing.T) {
			w := newWorld(t, "U1")
			w.r.cfg.AllowedRepos = tc.allowed
			extra := ""
			if tc.repo != "" {
				extra = fmt.Sprintf(`"githubRepo":%q,`, tc.repo)
			}
			_, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: selfService("req-1", "t", "b", []string{"U1"}, extra)})
			var inv *alerts.InvalidError
			if tc.ok != (err == nil) || (!tc.ok && !errors.As(err, &inv)) {
				t.Fatalf("Handle: %v, want ok=%v (or an *alerts.InvalidError)", err, tc.ok)
			}
			if !tc.ok && (len(w.issues.Writes()) > 0 || len(w.chat.DMs("U1")) > 0) {
				t.Errorf("a refused alarm wrote %v and DMed %d", w.issues.Writes(), len(w.chat.DMs("U1")))
			}
		})
	}
}

// fakePublisher records /dispatch test alarms.
type fakePublisher struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (p *fakePublisher) Publish(_ context.Context, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bodies = append(p.bodies, body)
	return nil
}

// TestTestCommandBudget: /dispatch test runs at most once a minute per user, says when to try
// again, and two tests never share a title.
func TestTestCommandBudget(t *testing.T) {
	pub := &fakePublisher{}
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	c := NewCommands(testRepo, nil, nil, pub, [][]byte{testKey})
	c.now = func() time.Time { return now }
	run := func(user string) string { return c.Command(testCtx(t), Command{UserID: user, Text: "test"}).Text }

	if r := run("U1"); !strings.Contains(r, "on its way") {
		t.Fatalf("first test: %q", r)
	}
	now = now.Add(20 * time.Second)
	if r := run("U1"); !strings.Contains(r, "try again in 40s") {
		t.Errorf("second test within the minute: %q", r)
	}
	if r := run("U2"); !strings.Contains(r, "on its way") {
		t.Errorf("another user's test: %q", r)
	}
	now = now.Add(40 * time.Second)
	if r := run("U1"); !strings.Contains(r, "on its way") {
		t.Errorf("test after the minute: %q", r)
	}
	if len(pub.bodies) != 3 {
		t.Fatalf("published %d tests, want 3", len(pub.bodies))
	}
	titles := map[string]bool{}
	for _, b := range append(pub.bodies, SampleAlarm("U1", now, [][]byte{testKey}), SampleAlarm("U1", now, [][]byte{testKey})) {
		a, _, err := alerts.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if titles[a.GitHubTitle] {
			t.Errorf("two tests share the title %q", a.GitHubTitle)
		}
		titles[a.GitHubTitle] = true
	}
}
