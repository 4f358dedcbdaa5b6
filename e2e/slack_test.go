package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

func TestSeedSelfServiceYesClosesTheIssue(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishSNS(stack.Example(t, "seed-self-service.json"))
	m := e.DM("U0ALICE", 1)
	issues := e.Issues(repo)
	if len(issues) != 1 {
		t.Fatalf("got %d issues, want 1", len(issues))
	}
	is := issues[0]
	if is.Title != "self-service title" || !strings.Contains(is.Body, "self-service body") || !strings.Contains(is.Body, "@alice") {
		t.Errorf("issue = %q\n%s", is.Title, is.Body)
	}
	blocks := string(m.Blocks)
	for _, want := range []string{"testSlackMessage", "testSlackPrompt", "/issues/1"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("the DM lacks %q: %s", want, blocks)
		}
	}
	bs := stack.Buttons(t, m)
	if len(bs) != 2 || bs[0].Text != "testYesAction" || bs[1].Text != "testNoAction" {
		t.Fatalf("buttons = %+v", bs)
	}

	e.Click("U0ALICE", m, bs[0].ActionID)
	e.Eventually("the issue to close", wait, func() bool {
		is, _ := e.GitHub.Issue(repo, 1)
		return is.State == "closed"
	})
	e.Eventually("the DM to be updated", wait, func() bool { return e.Current(m).Updated > 0 })
	after := e.Current(m)
	if len(stack.Buttons(t, after)) != 0 {
		t.Error("buttons still on the answered DM")
	}
	if !strings.Contains(string(after.Blocks), "You answered *Yes*") || !strings.Contains(string(after.Blocks), "Thanks for confirming") {
		t.Errorf("the DM doesn't show the answer and yes_response: %s", after.Blocks)
	}
	is, _ = e.GitHub.Issue(repo, 1)
	if len(is.Comments) != 1 || !strings.Contains(is.Comments[0].Body, "Yes") || !strings.Contains(is.Comments[0].Body, "U0ALICE") {
		t.Errorf("comments = %+v", is.Comments)
	}
	if len(e.PD.Events()) != 0 {
		t.Error("a Yes paged")
	}
}

func TestNoPagesOnceWithTheIssueLinkAndDoubleClickChangesNothing(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"bobby","github":"bob"}],"body":{"github":{"title":"new SSH key"},"slack":{"message":"A new SSH key was added to your account.","actions":{"no_response":"Security is on it."}}}}`)
	m := e.DM("U0BOB", 1)
	bs := stack.Buttons(t, m)
	// Slow GitHub a little so both clicks land before the first answer updates the DM.
	e.GitHub.SetLatency(300 * time.Millisecond)
	e.Click("U0BOB", m, bs[1].ActionID)
	e.Click("U0BOB", m, bs[1].ActionID)
	e.Eventually("an incident", wait, func() bool { return len(e.PD.Incidents()) == 1 })
	e.Eventually("the double click to be told", wait, func() bool { return len(e.Slack.Ephemerals("U0BOB")) == 1 })
	e.GitHub.SetLatency(0)
	e.Eventually("the DM to be updated", wait, func() bool { return strings.Contains(string(e.Current(m).Blocks), "Security is on it.") })

	incidents := e.PD.Incidents()
	if len(incidents) != 1 || incidents[0].Events != 1 {
		t.Fatalf("want one incident from one event, got %+v", incidents)
	}
	in := incidents[0]
	is, _ := e.GitHub.Issue(repo, 1)
	linked := false
	for _, l := range in.Links {
		linked = linked || l.Href == "https://github.com/acme/alarms/issues/1"
	}
	if !linked {
		t.Errorf("incident links %+v, want the issue", in.Links)
	}
	if is.State != "open" || !slices.Contains(is.Labels, "dispatch:escalated") || len(is.Comments) != 1 {
		t.Errorf("issue state %s labels %v comments %d", is.State, is.Labels, len(is.Comments))
	}
	// On-call reads who answered by name, the ID beside it (Bob's display name is "bobby").
	if !strings.HasPrefix(in.Summary, "bobby (U0BOB) answered No: new SSH key") {
		t.Errorf("incident summary %q, want it to name Bob", in.Summary)
	}
	if len(is.Comments) == 1 && !strings.Contains(is.Comments[0].Body, "Slack user bobby (`U0BOB`)") {
		t.Errorf("answer comment %q, want it to name Bob", is.Comments[0].Body)
	}
	if eph := e.Slack.Ephemerals("U0BOB"); !strings.Contains(eph[0].Text, "already answered") {
		t.Errorf("second click told %q", eph[0].Text)
	}
}

func TestOnlyTheAddressedUserCanAnswer(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice@example.com"}],"body":{"github":{"title":"login from a new country"},"slack":{"message":"Was this you?"}}}`)
	m := e.DM("U0ALICE", 1)
	e.Click("U0BOB", m, stack.Buttons(t, m)[1].ActionID)
	e.Eventually("the intruder to be told", wait, func() bool { return len(e.Slack.Ephemerals("U0BOB")) == 1 })
	if eph := e.Slack.Ephemerals("U0BOB")[0].Text; !strings.Contains(eph, "only they can answer") {
		t.Errorf("told %q", eph)
	}
	is, _ := e.GitHub.Issue(repo, 1)
	if is.State != "open" || len(is.Comments) != 0 || len(e.PD.Events()) != 0 || e.Current(m).Updated != 0 {
		t.Errorf("a wrong user's click changed something: state %s, %d comments, %d pages, %d updates", is.State, len(is.Comments), len(e.PD.Events()), e.Current(m).Updated)
	}
	// The right user still can.
	e.Click("U0ALICE", m, stack.Buttons(t, m)[0].ActionID)
	e.Eventually("the issue to close", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return is.State == "closed" })
}

func TestSeedBroadcastReachesEveryoneWithoutButtons(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	body := strings.ReplaceAll(stack.Example(t, "seed-broadcast.json"), `"bob"`, `"bobby"`) // bob's display name
	e.PublishSNS(body)
	a, b := e.DM("U0ALICE", 1), e.DM("U0BOB", 1)
	e.QueueEmpty(wait)
	for _, m := range []fakeslack.Message{a, b} {
		if len(stack.Buttons(t, m)) != 0 || !strings.Contains(string(m.Blocks), "testSlackMessage") {
			t.Errorf("broadcast DM = %s", m.Blocks)
		}
	}
	issues := e.Issues(repo)
	if len(issues) != 1 || !strings.Contains(issues[0].Body, "@alice") || !strings.Contains(issues[0].Body, "@bob") {
		t.Fatalf("want one audit issue listing both recipients, got %+v", issues)
	}
	if len(e.Slack.DMs("U0ALICE")) != 1 || len(e.Slack.DMs("U0BOB")) != 1 {
		t.Error("someone got more than one DM")
	}
}

func TestNagTwiceDMsTwiceWithOneIssue(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	nag := `{"type":"nag","users":[{"slack":"alice"},{"slackId":"U0CAROL"}],"body":{"github":{"title":"rotate your keys"},"slack":{"message":"Please rotate your access keys."}}}`
	e.PublishRaw(nag)
	e.DM("U0ALICE", 1)
	e.DM("U0CAROL", 1)
	e.PublishRaw(nag)
	e.DM("U0ALICE", 2)
	e.DM("U0CAROL", 2)
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 1 {
		t.Errorf("got %d issues, want 1", n)
	}
}

func TestUnresolvableUserGoesToTheFallbackChannelWithoutButtons(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"mallory","github":"mallory"},{"slack":"alice"}],"body":{"github":{"title":"who is mallory"},"slack":{"message":"Suspicious token use."}}}`)
	e.DM("U0ALICE", 1)
	var notices []fakeslack.Message
	e.Eventually("a fallback notice", wait, func() bool {
		notices = e.Slack.Messages(fallbackChannel)
		return len(notices) == 1
	})
	n := notices[0]
	if len(stack.Buttons(t, n)) != 0 {
		t.Error("the fallback notice has live buttons")
	}
	if !strings.Contains(string(n.Blocks), "mallory") || !strings.Contains(string(n.Blocks), "Suspicious token use.") {
		t.Errorf("the notice doesn't say who couldn't be reached: %s", n.Blocks)
	}
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 2 {
		t.Errorf("want an issue per user (the audit trail includes mallory), got %d", n)
	}
}

func TestAlarmTextCannotPing(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"<!channel> injection"},"slack":{"message":"<!channel> <!here> <@U0BOB> <https://evil.example|click> & more","prompt":"<!everyone>?","actions":{"yes":"<!here>"}}}}`)
	m := e.DM("U0ALICE", 1)
	raw := string(m.Blocks) + m.Text
	for _, bad := range []string{"<!channel>", "<!here>", "<@U0BOB>", "<https://evil", "<!everyone>"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the DM carries %q live: %s", bad, raw)
		}
	}
	if !strings.Contains(raw, "&lt;!channel&gt;") {
		t.Errorf("the text should be shown, escaped: %s", raw)
	}
}

func TestReconnectsAfterForcedDisconnectAndTheNextClickWorks(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"carol"}],"body":{"github":{"title":"reconnect"},"slack":{"message":"m"}}}`)
	m := e.DM("U0CAROL", 1)
	opens := e.Slack.Opens()
	e.Slack.Disconnect("refresh_requested")
	e.Eventually("a new connection", wait, func() bool { return e.Slack.Opens() > opens && e.Slack.Connections() == 1 })
	e.Click("U0CAROL", m, stack.Buttons(t, m)[0].ActionID)
	e.Eventually("the issue to close", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return is.State == "closed" })

	opens = e.Slack.Opens()
	e.Slack.DropConnections()
	e.Eventually("a new connection after a dropped socket", wait, func() bool { return e.Slack.Opens() > opens && e.Slack.Connections() == 1 })
	if r.Bot.Metrics() == nil {
		t.Fatal("no metrics")
	}
}

func TestEveryEnvelopeIsAckedQuicklyWhileGitHubIsSlow(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	for _, u := range []string{"alice", "bobby", "carol"} {
		e.PublishRaw(`{"type":"self-service","users":[{"slack":"` + u + `"}],"body":{"github":{"title":"slow github ` + u + `"},"slack":{"message":"m"}}}`)
	}
	ms := []fakeslack.Message{e.DM("U0ALICE", 1), e.DM("U0BOB", 1), e.DM("U0CAROL", 1)}
	e.GitHub.SetLatency(5 * time.Second)
	for i, u := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		ack := e.Click(u, ms[i], stack.Buttons(t, ms[i])[i%2].ActionID)
		// Slack wants the ack within 3 s; the work behind it takes at least 5 s here.
		if ack.Latency > 1500*time.Millisecond {
			t.Errorf("ack after %s", ack.Latency)
		}
	}
	id, err := e.Slack.SlashCommand("U0ALICE", "/dispatch", "help")
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil || ack.Latency > 1500*time.Millisecond {
		t.Errorf("slash command ack: %v after %v", err, ack.Latency)
	}
	e.GitHub.SetLatency(0)
}
