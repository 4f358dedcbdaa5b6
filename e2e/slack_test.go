package e2e

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
)

type button struct{ ActionID, Text, Value string }

// buttonsOf reads the buttons of a posted message from its blocks.
func buttonsOf(t *testing.T, m fakeslack.Message) []button {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string          `json:"type"`
			ActionID string          `json:"action_id"`
			Value    string          `json:"value"`
			Text     json.RawMessage `json:"text"` // a text object on buttons, a string in context blocks
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	var out []button
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, el := range b.Elements {
			if el.Type == "button" {
				var text struct{ Text string }
				if err := json.Unmarshal(el.Text, &text); err != nil {
					t.Fatalf("button text: %v", err)
				}
				out = append(out, button{el.ActionID, text.Text, el.Value})
			}
		}
	}
	return out
}

// dm waits for the n-th DM to a user and returns it.
func (e *env) dm(userID string, n int) fakeslack.Message {
	e.t.Helper()
	var msgs []fakeslack.Message
	e.eventually("a DM to "+userID, wait, func() bool {
		msgs = e.slack.DMs(userID)
		return len(msgs) >= n
	})
	return msgs[n-1]
}

// click presses a button the way Slack does and waits for dispatch's ack.
func (e *env) click(userID string, m fakeslack.Message, actionID string) fakeslack.Ack {
	e.t.Helper()
	id, err := e.slack.ClickButton(userID, m.Channel, m.TS, actionID)
	if err != nil {
		e.t.Fatalf("click %s: %v", actionID, err)
	}
	ack, err := e.slack.WaitAck(waitFor(e.t), id)
	if err != nil {
		e.t.Fatalf("no ack for the click: %v", err)
	}
	return ack
}

func (e *env) current(m fakeslack.Message) fakeslack.Message {
	e.t.Helper()
	for _, x := range e.slack.Messages(m.Channel) {
		if x.TS == m.TS {
			return x
		}
	}
	e.t.Fatalf("message %s vanished", m.TS)
	return m
}

func seed(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSeedSelfServiceYesClosesTheIssue(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishSNS(seed(t, "seed-self-service.json"))
	m := e.dm("U0ALICE", 1)
	issues := e.issues(repo)
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
	bs := buttonsOf(t, m)
	if len(bs) != 2 || bs[0].Text != "testYesAction" || bs[1].Text != "testNoAction" {
		t.Fatalf("buttons = %+v", bs)
	}

	e.click("U0ALICE", m, bs[0].ActionID)
	e.eventually("the issue to close", wait, func() bool {
		is, _ := e.github.Issue(repo, 1)
		return is.State == "closed"
	})
	e.eventually("the DM to be updated", wait, func() bool { return e.current(m).Updated > 0 })
	after := e.current(m)
	if len(buttonsOf(t, after)) != 0 {
		t.Error("buttons still on the answered DM")
	}
	if !strings.Contains(string(after.Blocks), "You answered *Yes*") || !strings.Contains(string(after.Blocks), "Thanks for confirming") {
		t.Errorf("the DM doesn't show the answer and yes_response: %s", after.Blocks)
	}
	is, _ = e.github.Issue(repo, 1)
	if len(is.Comments) != 1 || !strings.Contains(is.Comments[0].Body, "Yes") || !strings.Contains(is.Comments[0].Body, "U0ALICE") {
		t.Errorf("comments = %+v", is.Comments)
	}
	if len(e.pd.Events()) != 0 {
		t.Error("a Yes paged")
	}
}

func TestNoPagesOnceWithTheIssueLinkAndDoubleClickChangesNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(`{"type":"self-service","users":[{"slack":"bobby","github":"bob"}],"body":{"github":{"title":"new SSH key"},"slack":{"message":"A new SSH key was added to your account.","actions":{"no_response":"Security is on it."}}}}`)
	m := e.dm("U0BOB", 1)
	bs := buttonsOf(t, m)
	// Slow GitHub a little so both clicks land before the first answer updates the DM.
	e.github.SetLatency(300 * time.Millisecond)
	e.click("U0BOB", m, bs[1].ActionID)
	e.click("U0BOB", m, bs[1].ActionID)
	e.eventually("an incident", wait, func() bool { return len(e.pd.Incidents()) == 1 })
	e.eventually("the double click to be told", wait, func() bool { return len(e.slack.Ephemerals("U0BOB")) == 1 })
	e.github.SetLatency(0)
	e.eventually("the DM to be updated", wait, func() bool { return strings.Contains(string(e.current(m).Blocks), "Security is on it.") })

	incidents := e.pd.Incidents()
	if len(incidents) != 1 || incidents[0].Events != 1 {
		t.Fatalf("want one incident from one event, got %+v", incidents)
	}
	in := incidents[0]
	is, _ := e.github.Issue(repo, 1)
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
	if eph := e.slack.Ephemerals("U0BOB"); !strings.Contains(eph[0].Text, "already answered") {
		t.Errorf("second click told %q", eph[0].Text)
	}
}

func TestOnlyTheAddressedUserCanAnswer(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(`{"type":"self-service","users":[{"slack":"alice@example.com"}],"body":{"github":{"title":"login from a new country"},"slack":{"message":"Was this you?"}}}`)
	m := e.dm("U0ALICE", 1)
	e.click("U0BOB", m, buttonsOf(t, m)[1].ActionID)
	e.eventually("the intruder to be told", wait, func() bool { return len(e.slack.Ephemerals("U0BOB")) == 1 })
	if eph := e.slack.Ephemerals("U0BOB")[0].Text; !strings.Contains(eph, "only they can answer") {
		t.Errorf("told %q", eph)
	}
	is, _ := e.github.Issue(repo, 1)
	if is.State != "open" || len(is.Comments) != 0 || len(e.pd.Events()) != 0 || e.current(m).Updated != 0 {
		t.Errorf("a wrong user's click changed something: state %s, %d comments, %d pages, %d updates", is.State, len(is.Comments), len(e.pd.Events()), e.current(m).Updated)
	}
	// The right user still can.
	e.click("U0ALICE", m, buttonsOf(t, m)[0].ActionID)
	e.eventually("the issue to close", wait, func() bool { is, _ := e.github.Issue(repo, 1); return is.State == "closed" })
}

func TestSeedBroadcastReachesEveryoneWithoutButtons(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	body := strings.ReplaceAll(seed(t, "seed-broadcast.json"), `"bob"`, `"bobby"`) // bob's display name
	e.publishSNS(body)
	a, b := e.dm("U0ALICE", 1), e.dm("U0BOB", 1)
	e.queueEmpty(wait)
	for _, m := range []fakeslack.Message{a, b} {
		if len(buttonsOf(t, m)) != 0 || !strings.Contains(string(m.Blocks), "testSlackMessage") {
			t.Errorf("broadcast DM = %s", m.Blocks)
		}
	}
	issues := e.issues(repo)
	if len(issues) != 1 || !strings.Contains(issues[0].Body, "@alice") || !strings.Contains(issues[0].Body, "@bob") {
		t.Fatalf("want one audit issue listing both recipients, got %+v", issues)
	}
	if len(e.slack.DMs("U0ALICE")) != 1 || len(e.slack.DMs("U0BOB")) != 1 {
		t.Error("someone got more than one DM")
	}
}

func TestNagTwiceDMsTwiceWithOneIssue(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	nag := `{"type":"nag","users":[{"slack":"alice"},{"slackId":"U0CAROL"}],"body":{"github":{"title":"rotate your keys"},"slack":{"message":"Please rotate your access keys."}}}`
	e.publishRaw(nag)
	e.dm("U0ALICE", 1)
	e.dm("U0CAROL", 1)
	e.publishRaw(nag)
	e.dm("U0ALICE", 2)
	e.dm("U0CAROL", 2)
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 1 {
		t.Errorf("got %d issues, want 1", n)
	}
}

func TestUnresolvableUserGoesToTheFallbackChannelWithoutButtons(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(`{"type":"self-service","users":[{"slack":"mallory","github":"mallory"},{"slack":"alice"}],"body":{"github":{"title":"who is mallory"},"slack":{"message":"Suspicious token use."}}}`)
	e.dm("U0ALICE", 1)
	var notices []fakeslack.Message
	e.eventually("a fallback notice", wait, func() bool {
		notices = e.slack.Messages(fallbackChannel)
		return len(notices) == 1
	})
	n := notices[0]
	if len(buttonsOf(t, n)) != 0 {
		t.Error("the fallback notice has live buttons")
	}
	if !strings.Contains(string(n.Blocks), "mallory") || !strings.Contains(string(n.Blocks), "Suspicious token use.") {
		t.Errorf("the notice doesn't say who couldn't be reached: %s", n.Blocks)
	}
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 2 {
		t.Errorf("want an issue per user (the audit trail includes mallory), got %d", n)
	}
}

func TestAlarmTextCannotPing(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"<!channel> injection"},"slack":{"message":"<!channel> <!here> <@U0BOB> <https://evil.example|click> & more","prompt":"<!everyone>?","actions":{"yes":"<!here>"}}}}`)
	m := e.dm("U0ALICE", 1)
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
	e := newEnv(t, envOptions{})
	r := e.startBot()
	e.publishRaw(`{"type":"self-service","users":[{"slack":"carol"}],"body":{"github":{"title":"reconnect"},"slack":{"message":"m"}}}`)
	m := e.dm("U0CAROL", 1)
	opens := e.slack.Opens()
	e.slack.Disconnect("refresh_requested")
	e.eventually("a new connection", wait, func() bool { return e.slack.Opens() > opens && e.slack.Connections() == 1 })
	e.click("U0CAROL", m, buttonsOf(t, m)[0].ActionID)
	e.eventually("the issue to close", wait, func() bool { is, _ := e.github.Issue(repo, 1); return is.State == "closed" })

	opens = e.slack.Opens()
	e.slack.DropConnections()
	e.eventually("a new connection after a dropped socket", wait, func() bool { return e.slack.Opens() > opens && e.slack.Connections() == 1 })
	if r.bot.Metrics() == nil {
		t.Fatal("no metrics")
	}
}

func TestEveryEnvelopeIsAckedQuicklyWhileGitHubIsSlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	for _, u := range []string{"alice", "bobby", "carol"} {
		e.publishRaw(`{"type":"self-service","users":[{"slack":"` + u + `"}],"body":{"github":{"title":"slow github ` + u + `"},"slack":{"message":"m"}}}`)
	}
	ms := []fakeslack.Message{e.dm("U0ALICE", 1), e.dm("U0BOB", 1), e.dm("U0CAROL", 1)}
	e.github.SetLatency(5 * time.Second)
	for i, u := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		ack := e.click(u, ms[i], buttonsOf(t, ms[i])[i%2].ActionID)
		// Slack wants the ack within 3 s; the work behind it takes at least 5 s here.
		if ack.Latency > 1500*time.Millisecond {
			t.Errorf("ack after %s", ack.Latency)
		}
	}
	id, err := e.slack.SlashCommand("U0ALICE", "/dispatch", "help")
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := e.slack.WaitAck(waitFor(t), id); err != nil || ack.Latency > 1500*time.Millisecond {
		t.Errorf("slash command ack: %v after %v", err, ack.Latency)
	}
	e.github.SetLatency(0)
}
