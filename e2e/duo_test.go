package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
)

const (
	duoIKey = "DIE2E0000000000000001"
	duoSKey = "e2e-duo-secret-key-0123456789abcdefghij"
)

// duoStack is a stack with a fake Duo whose certificate the binary trusts through DUO_CA_FILE; it
// returns the environment that points the binary at it, the secret key included (DUO_SKEY_FILE:
// the file form is the one deployments use).
func duoStack(t *testing.T, extra ...string) (*stack.Env, *fakeduo.Server, []string) {
	t.Helper()
	e := stack.New(t, stack.Options{})
	duo := fakeduo.New(duoIKey, duoSKey)
	t.Cleanup(duo.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "duo-ca.pem")
	skey := filepath.Join(dir, "duo-skey")
	if err := os.WriteFile(ca, duo.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(skey, []byte(duoSKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Config.Duo.SKey = duoSKey // so the stack checks the log never shows it
	env := append([]string{"DUO_API_HOST=" + duo.Host(), "DUO_IKEY=" + duoIKey, "DUO_SKEY_FILE=" + skey, "DUO_CA_FILE=" + ca}, extra...)
	return e, duo, env
}

func selfServiceTo(user, title string) string {
	return `{"type":"self-service","users":[{"slackId":"` + user + `"}],"body":{"github":{"title":"` + title + `"},"slack":{"message":"Was this you?"}}}`
}

func comments(e *stack.Env, n int) string {
	is, _ := e.GitHub.Issue(repo, n)
	var b strings.Builder
	for _, c := range is.Comments {
		b.WriteString(c.Body + "\n")
	}
	return b.String()
}

func issueNumber(t *testing.T, e *stack.Env, title string) int {
	t.Helper()
	n := 0
	e.Eventually("issue "+title, wait, func() bool {
		for _, is := range e.Issues(repo) {
			if is.Title == title {
				n = is.Number
			}
		}
		return n > 0
	})
	return n
}

func toldEphemeral(e *stack.Env, user, sub string) bool {
	for _, m := range e.Slack.Ephemerals(user) {
		if strings.Contains(m.Text+string(m.Blocks), sub) {
			return true
		}
	}
	return false
}

// TestDuoPushOutcomesThroughTheBinary: with Duo configured, alice's approved push closes her alarm
// ("confirmed with Duo push"), bob's denied push escalates (the page and the issue say so), and
// carol, not enrolled, escalates with that reason and is told why.
func TestDuoPushOutcomesThroughTheBinary(t *testing.T) {
	e, duo, env := duoStack(t)
	duo.SetUser(fakeduo.User{Name: "alice@example.com", Outcome: fakeduo.Approve})
	duo.SetUser(fakeduo.User{Name: "bob@example.com", Outcome: fakeduo.Deny})
	e.StartProcessWith(env...)
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		e.PublishRaw(selfServiceTo(u, "login by "+u))
	}
	for _, u := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		m := e.DM(u, 1)
		e.Click(u, m, handlers.ActionYes)
	}
	alice, bob, carol := issueNumber(t, e, "login by U0ALICE"), issueNumber(t, e, "login by U0BOB"), issueNumber(t, e, "login by U0CAROL")
	e.Eventually("alice's alarm closed", wait, func() bool { is, _ := e.GitHub.Issue(repo, alice); return is.State == "closed" })
	// The issue is closed before the answer's comment, which is written last (it marks the record done).
	e.Eventually("alice's issue to say the push confirmed it", wait, func() bool {
		return strings.Contains(comments(e, alice), "Confirmed with Duo push")
	})
	if !toldEphemeral(e, "U0ALICE", "Approve the Duo push on your phone") {
		t.Error("alice was never asked to approve the push")
	}
	e.Eventually("two incidents (bob denied, carol unenrolled)", wait, func() bool { return len(e.PD.Incidents()) == 2 })
	var summaries []string
	for _, ev := range e.PD.Events() {
		summaries = append(summaries, ev.Summary)
	}
	all := strings.Join(summaries, "\n")
	for _, want := range []string{"(U0BOB) answered Yes but the Duo push was denied", "(U0CAROL) answered Yes but they are not enrolled in Duo"} {
		if !strings.Contains(all, want) {
			t.Errorf("no page says %q: %s", want, all)
		}
	}
	e.Eventually("bob's and carol's issues commented", wait, func() bool {
		return strings.Contains(comments(e, bob), "the Duo push was denied") && strings.Contains(comments(e, carol), "not enrolled in Duo")
	})
	if !toldEphemeral(e, "U0CAROL", "aren't enrolled in Duo") {
		t.Error("carol wasn't told why her Yes didn't count")
	}
	pushes := duo.Pushes()
	if len(pushes) != 2 {
		t.Fatalf("%d pushes, want 2 (alice, bob; carol can't be pushed to)", len(pushes))
	}
	for _, p := range pushes {
		if !strings.HasPrefix(p.Pushinfo.Get("Alarm"), "login by U0") {
			t.Errorf("pushinfo %v doesn't name the alarm", p.Pushinfo)
		}
	}
	if duo.BadSignatures() != 0 {
		t.Errorf("%d Duo requests with a bad signature", duo.BadSignatures())
	}
}

// TestDuoTimedOutLeavesButtonsLiveAndSomeoneElsesClickSendsNoPush: a push nobody answers changes
// nothing and the buttons still work; bob clicking alice's button sends nobody a push; alice's
// second Yes, approved, closes the alarm.
func TestDuoTimedOutLeavesButtonsLiveAndSomeoneElsesClickSendsNoPush(t *testing.T) {
	e, duo, env := duoStack(t)
	duo.SetUser(fakeduo.User{Name: "alice@example.com", Outcome: fakeduo.Timeout})
	duo.SetUser(fakeduo.User{Name: "bob@example.com"})
	e.StartProcessWith(env...)
	e.PublishRaw(selfServiceTo("U0ALICE", "timeout alarm"))
	m := e.DM("U0ALICE", 1)
	n := issueNumber(t, e, "timeout alarm")

	e.Click("U0BOB", m, handlers.ActionYes)
	e.Eventually("bob told it isn't his", wait, func() bool { return toldEphemeral(e, "U0BOB", "sent to someone else") })
	if p := duo.Pushes(); len(p) != 0 {
		t.Fatalf("someone else's click sent a push: %+v", p)
	}

	e.Click("U0ALICE", m, handlers.ActionYes)
	e.Eventually("alice told the push timed out", wait, func() bool { return toldEphemeral(e, "U0ALICE", "timed out") })
	if is, _ := e.GitHub.Issue(repo, n); is.State != "open" || len(is.Comments) != 0 {
		t.Fatalf("a timed-out push changed the issue: %s, %d comments", is.State, len(is.Comments))
	}
	if len(stack.Buttons(t, e.Current(m))) == 0 {
		t.Fatal("the buttons are gone after a timed-out push")
	}
	duo.SetUser(fakeduo.User{Name: "alice@example.com", Outcome: fakeduo.Approve})
	e.Click("U0ALICE", m, handlers.ActionYes)
	e.Eventually("the second Yes to close the alarm", wait, func() bool { is, _ := e.GitHub.Issue(repo, n); return is.State == "closed" })
	if p := duo.Pushes(); len(p) != 2 {
		t.Errorf("%d pushes, want 2", len(p))
	}
}

// TestDuoReuseWindowHoldsOnAnotherReplica: after alice approves a push on one replica, her Yes to
// the next alarm, taken by a fresh replica that shares nothing with the first but Slack, GitHub
// and the queue, needs no push; the issue says whose approval stood in.
func TestDuoReuseWindowHoldsOnAnotherReplica(t *testing.T) {
	e, duo, env := duoStack(t, "DUO_REUSE_WINDOW=1h")
	duo.SetUser(fakeduo.User{Name: "alice@example.com"})
	first := e.StartProcessWith(env...)
	e.PublishRaw(selfServiceTo("U0ALICE", "first alarm"))
	e.Click("U0ALICE", e.DM("U0ALICE", 1), handlers.ActionYes)
	n1 := issueNumber(t, e, "first alarm")
	e.Eventually("the first alarm closed", wait, func() bool { is, _ := e.GitHub.Issue(repo, n1); return is.State == "closed" })
	if code := first.Terminate(wait); code != 0 {
		t.Fatalf("first replica exited %d", code)
	}

	e.StartProcessWith(env...)
	e.PublishRaw(selfServiceTo("U0ALICE", "second alarm"))
	var prompt fakeslack.Message
	e.Eventually("the second prompt", wait, func() bool {
		for _, m := range e.Prompts("U0ALICE") {
			if len(stack.Buttons(t, m)) > 0 { // the first prompt's buttons are gone
				prompt = m
			}
		}
		return prompt.TS != ""
	})
	e.Click("U0ALICE", prompt, handlers.ActionYes)
	n2 := issueNumber(t, e, "second alarm")
	e.Eventually("the second alarm closed", wait, func() bool { is, _ := e.GitHub.Issue(repo, n2); return is.State == "closed" })
	if p := duo.Pushes(); len(p) != 1 {
		t.Fatalf("%d pushes, want 1: the second Yes was inside the reuse window", len(p))
	}
	e.Eventually("the second issue to say the push was reused", wait, func() bool {
		return strings.Contains(comments(e, n2), "Duo push reused from")
	})
}

// TestDuoPendingPushHoldsTheDMOnEveryReplica: two replicas. While alice's push waits, the DM
// says so (with the Verified Duo Push code) in place of its buttons, the App Home says "Waiting
// for your Duo push" whichever replica draws it, and a Yes from a device that still shows the old
// buttons, reaching the other replica, sends no second push. When the push times out, the buttons
// come back.
func TestDuoPendingPushHoldsTheDMOnEveryReplica(t *testing.T) {
	e, duo, env := duoStack(t)
	duo.SetUser(fakeduo.User{Name: "alice@example.com", Outcome: fakeduo.Wait, VerifiedCode: "4711"})
	env = append(env, "DISPATCH_REPLICAS=2") // as the README asks of two replicas: they share Slack's budgets
	e.StartProcessWith(env...)
	e.StartProcessWith(env...)
	e.PublishRaw(selfServiceTo("U0ALICE", "pending push"))
	m := e.DM("U0ALICE", 1) // as alice's second device keeps showing it, buttons and all
	e.Click("U0ALICE", m, handlers.ActionYes)
	e.Eventually("the DM to show the push and its code in place of its buttons", wait, func() bool {
		cur := e.Current(m)
		return strings.Contains(string(cur.Blocks), "Approve the Duo push on your phone") && strings.Contains(string(cur.Blocks), "4711") &&
			len(stack.Buttons(t, cur)) == 0
	})

	// Socket Mode hands envelopes to the two connections in turn, so two opens in a row reach both
	// replicas. The one not holding the push may need a few seconds to see the new issue, and may
	// have kept the tab it drew without it for the handlers' homeTTL (30 s). Opened once a second,
	// as a person might: every open is a views.publish, of which Slack allows 100 a minute.
	opens, drawn := 0, 0
	open := func() string {
		opens++
		n := e.Slack.Calls("views.publish")
		id, err := e.Slack.OpenAppHome("U0ALICE")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
			t.Fatal(err)
		}
		e.Eventually("the home tab redrawn", wait, func() bool { return e.Slack.Calls("views.publish") > n })
		v, _ := e.Slack.HomeView("U0ALICE")
		return string(v)
	}
	e.EventuallyEvery("both replicas to draw the alarm on the home tab", 30*time.Second+wait, time.Second, func() bool {
		v := open()
		if !strings.Contains(v, "pending push") {
			drawn = 0
			return false
		}
		if !strings.Contains(v, "Waiting for your Duo push") || strings.Contains(v, handlers.ActionYes) {
			t.Fatalf("home tab drawn while the push is out: %s", v)
		}
		drawn++
		return drawn == 2
	})
	if opens%2 == 1 {
		open() // the next envelope goes to the replica that didn't take the first click
	}

	id, err := e.Slack.ClickButtonAsShown("U0ALICE", m, handlers.ActionYes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatal(err)
	}
	e.Eventually("alice told a push is already out", wait, func() bool { return toldEphemeral(e, "U0ALICE", "already waiting on your phone") })
	if n := len(e.LogLines("already out (held DM)")); n != 1 {
		t.Errorf("%d replicas refused the second Yes from the held DM, want 1 (the other replica)", n)
	}
	pushes := duo.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("%d pushes, want 1: a push was already out", len(pushes))
	}

	if err := duo.Resolve(pushes[0].Txid, fakeduo.Timeout); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the buttons back after the push timed out", wait, func() bool { return len(stack.Buttons(t, e.Current(m))) > 0 })
	if strings.Contains(string(e.Current(m).Blocks), "Approve the Duo push") {
		t.Errorf("the DM still asks for the push: %s", e.Current(m).Blocks)
	}
}
