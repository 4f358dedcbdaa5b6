package slackapi

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
)

// TestAlarmTextMentionsNobody: alarm text posted through the adapter to the fake Slack, which parses
// bare mentions, channel names and URLs in mrkdwn that is not verbatim, as Slack does. Nothing the
// alarm wrote is live; the issue link dispatch wrote is.
func TestAlarmTextMentionsNobody(t *testing.T) {
	srv := fakeslack.New(fakeslack.Options{})
	t.Cleanup(srv.Close)
	srv.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	c := New(Options{BotToken: srv.Options().BotToken, AppToken: srv.Options().AppToken, APIURL: srv.APIURL()})
	hostile := "@channel @here @everyone #general https://evil.example/x <!channel> <@U0BOB> <https://evil.example|click>"
	m := handlers.Message{
		Title: "@here title", Body: hostile, Prompt: hostile, Note: hostile,
		Link:    &handlers.Link{URL: "https://github.com/acme/alarms/issues/1", Text: "issue @channel"},
		Buttons: []handlers.Button{{ActionID: handlers.ActionYes, Label: "Yes", Value: "v"}},
	}
	if _, err := c.DM(context.Background(), "U0ALICE", m); err != nil {
		t.Fatal(err)
	}
	dms := srv.DMs("U0ALICE")
	if len(dms) != 1 {
		t.Fatalf("%d DMs", len(dms))
	}
	if got := fakeslack.Mentions(dms[0]); len(got) != 0 {
		t.Errorf("live mentions and links %q, want none of the alarm's", got)
	}
	// The fake does parse what Slack parses: the same text, not verbatim, would ping.
	raw := bytes.ReplaceAll(dms[0].Blocks, []byte(`"verbatim":true`), []byte(`"verbatim":false`))
	if got := fakeslack.Mentions(fakeslack.Message{Blocks: raw}); !slices.Contains(got, "@channel") || !slices.Contains(got, "https://evil.example/x") {
		t.Errorf("test broken: the fake finds %q in non-verbatim text", got)
	}
}

// textObjects are a block's text objects.
func textObjects(b slack.Block) []*slack.TextBlockObject {
	switch x := b.(type) {
	case *slack.SectionBlock:
		return []*slack.TextBlockObject{x.Text}
	case *slack.HeaderBlock:
		return []*slack.TextBlockObject{x.Text}
	case *slack.ContextBlock:
		var out []*slack.TextBlockObject
		for _, e := range x.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

// TestMrkdwnIsVerbatim: every mrkdwn text object dispatch renders is verbatim.
func TestMrkdwnIsVerbatim(t *testing.T) {
	blocks, _ := render(handlers.Message{Title: "t", Body: "b", Prompt: "p", Note: "n", Link: &handlers.Link{URL: "https://x.example", Text: "x"}})
	blocks = settled(blocks, "done")
	n := 0
	for _, b := range blocks {
		for _, obj := range textObjects(b) {
			if obj.Type == "mrkdwn" {
				n++
				if !obj.Verbatim {
					t.Errorf("block %s: mrkdwn not verbatim", b.BlockType())
				}
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d mrkdwn objects found: test broken", n)
	}
}
