package fakeslack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func TestAuthTest(t *testing.T) {
	srv := newServer(t, Options{TeamID: "T9", BotUserID: "UBOT9"})
	o := srv.Options()
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"bot token", o.BotToken, ""},
		{"wrong token", "xoxb-wrong", "invalid_auth"},
		{"app token is not a bot token", o.AppToken, "invalid_auth"},
		{"missing token", "", "invalid_auth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := slack.New(tc.token, slack.OptionAPIURL(srv.APIURL()))
			resp, err := api.AuthTestContext(testCtx(t))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("AuthTest error = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("AuthTest: %v", err)
			}
			if resp.TeamID != "T9" || resp.UserID != "UBOT9" || resp.BotID == "" {
				t.Errorf("AuthTest = %+v", resp)
			}
		})
	}
	if got := srv.Calls("auth.test"); got != len(tests) {
		t.Errorf("Calls(auth.test) = %d, want %d", got, len(tests))
	}
}

func TestConnectionsOpenNeedsAppToken(t *testing.T) {
	srv := newServer(t, Options{})
	o := srv.Options()
	for _, tok := range []string{o.BotToken, "xapp-wrong"} {
		api := slack.New(o.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(tok))
		if _, _, err := api.StartSocketModeContext(testCtx(t)); err == nil || err.Error() != "invalid_auth" {
			t.Errorf("apps.connections.open with %q: err = %v, want invalid_auth", tok, err)
		}
	}
	_, url, err := newAPI(srv).StartSocketModeContext(testCtx(t))
	if err != nil || !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.Contains(url, "/link/?ticket=") {
		t.Fatalf("apps.connections.open = %q, %v", url, err)
	}
	if srv.Opens() != 1 {
		t.Errorf("Opens() = %d, want 1", srv.Opens())
	}
}

func TestUsersListPaginates(t *testing.T) {
	srv := newServer(t, Options{})
	for _, id := range []string{"U1", "U2", "U3", "U4", "U5"} {
		srv.AddUser(User{ID: id, Name: strings.ToLower(id)})
	}
	api := newAPI(srv)
	ctx := testCtx(t)

	// Page by page: the bot user plus five users, two per page.
	var pages []int
	var ids []string
	p := api.GetUsersPaginated(slack.GetUsersOptionLimit(200))
	var err error
	for {
		if p, err = p.Next(ctx); err != nil {
			break
		}
		pages = append(pages, len(p.Users))
		for _, u := range p.Users {
			ids = append(ids, u.ID)
		}
	}
	if err := p.Failure(err); err != nil {
		t.Fatalf("pagination failed: %v", err)
	}
	if want := []int{2, 2, 2}; !slices.Equal(pages, want) {
		t.Errorf("page sizes = %v, want %v", pages, want)
	}
	if want := []string{"UBOT", "U1", "U2", "U3", "U4", "U5"}; !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}

	srv.SetUsersPageSize(4)
	users, err := api.GetUsersContext(ctx)
	if err != nil || len(users) != 6 {
		t.Fatalf("GetUsersContext = %d users, %v", len(users), err)
	}
	if got := srv.Calls("users.list"); got != 3+2 {
		t.Errorf("Calls(users.list) = %d, want 5", got)
	}
	if users[0].ID != "UBOT" || !users[0].IsBot {
		t.Errorf("first user = %+v, want the bot", users[0])
	}
}

func TestUserLookups(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	srv.AddUser(User{ID: "U2", Name: "gone", Email: "gone@example.com", Deleted: true})
	api := newAPI(srv)
	ctx := testCtx(t)

	u, err := api.GetUserByEmailContext(ctx, "ALICE@example.com")
	if err != nil || u.ID != "U1" || u.Profile.Email != "alice@example.com" || u.RealName != "Alice A" || u.Profile.DisplayName != "ali" {
		t.Fatalf("lookupByEmail = %+v, %v", u, err)
	}
	if u, err := api.GetUserByEmailContext(ctx, "gone@example.com"); err != nil || !u.Deleted {
		t.Errorf("lookupByEmail(deleted) = %+v, %v; want the user with Deleted", u, err)
	}
	if _, err := api.GetUserByEmailContext(ctx, "nobody@example.com"); err == nil || err.Error() != "users_not_found" {
		t.Errorf("lookupByEmail(unknown) err = %v, want users_not_found", err)
	}
	if u, err := api.GetUserInfoContext(ctx, "U1"); err != nil || u.Name != "alice" {
		t.Errorf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfoContext(ctx, "U404"); err == nil || err.Error() != "user_not_found" {
		t.Errorf("users.info(unknown) err = %v, want user_not_found", err)
	}
}

func TestPostUpdateAndHistory(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	ctx := testCtx(t)

	if _, _, err := api.PostMessageContext(ctx, "DU1", slack.MsgOptionText("hi", false)); err == nil || err.Error() != "channel_not_found" {
		t.Fatalf("post to an unopened DM: err = %v, want channel_not_found", err)
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil {
		t.Fatalf("conversations.open: %v", err)
	}
	if _, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U404"}}); err == nil || err.Error() != "user_not_found" {
		t.Errorf("conversations.open(unknown) err = %v, want user_not_found", err)
	}

	meta := slack.SlackMetadata{EventType: "alarm_posted", EventPayload: map[string]any{"alarm_id": "a1"}}
	chID, ts1, err := api.PostMessageContext(ctx, ch.ID,
		slack.MsgOptionText("Disk full", false), slack.MsgOptionBlocks(alarmBlocks()...), slack.MsgOptionMetadata(meta))
	if err != nil || chID != ch.ID {
		t.Fatalf("postMessage = %q, %v", chID, err)
	}
	// Slack accepts a user id as channel and posts to the DM.
	chID2, ts2, err := api.PostMessageContext(ctx, "U1", slack.MsgOptionText("second", false))
	if err != nil || chID2 != ch.ID || ts2 <= ts1 {
		t.Fatalf("postMessage to user id = %q %q, %v (first ts %s)", chID2, ts2, err, ts1)
	}

	_, _, _, err = api.UpdateMessageContext(ctx, ch.ID, ts1,
		slack.MsgOptionText("Disk full (answered)", false), slack.MsgOptionBlocks(alarmBlocks()[0]))
	if err != nil {
		t.Fatalf("chat.update: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch.ID, "1.000000", slack.MsgOptionText("x", false)); err == nil || err.Error() != "message_not_found" {
		t.Errorf("chat.update(unknown ts) err = %v, want message_not_found", err)
	}

	dms := srv.DMs("U1")
	if len(dms) != 2 {
		t.Fatalf("DMs = %d messages, want 2", len(dms))
	}
	var blocks []map[string]any
	if err := json.Unmarshal(dms[0].Blocks, &blocks); err != nil || len(blocks) != 1 {
		t.Fatalf("updated blocks = %s (%v)", dms[0].Blocks, err)
	}
	if dms[0].Text != "Disk full (answered)" || dms[0].Updated != 1 || dms[0].User != "UBOT" || len(dms[0].Metadata) == 0 {
		t.Errorf("first DM = %+v", dms[0])
	}

	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, IncludeAllMetadata: true})
	if err != nil || len(hist.Messages) != 2 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	newest, oldest := hist.Messages[0], hist.Messages[1]
	if newest.Timestamp != ts2 || oldest.Timestamp != ts1 {
		t.Errorf("history order = %s, %s; want %s, %s", newest.Timestamp, oldest.Timestamp, ts2, ts1)
	}
	if oldest.Metadata.EventType != "alarm_posted" || oldest.Metadata.EventPayload["alarm_id"] != "a1" {
		t.Errorf("metadata = %+v", oldest.Metadata)
	}
	if oldest.Edited == nil || len(oldest.Blocks.BlockSet) != 1 {
		t.Errorf("edited/blocks of updated message = %+v / %d blocks", oldest.Edited, len(oldest.Blocks.BlockSet))
	}

	link, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ch.ID, Ts: ts1})
	if err != nil || !strings.Contains(link, ch.ID) {
		t.Errorf("getPermalink = %q, %v", link, err)
	}
}

func TestPostChecks(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	srv.AddChannel("C1", "alerts")
	api := newAPI(srv)
	long := strings.Repeat("x", 76)
	tests := []struct {
		name    string
		channel string
		opts    []slack.MsgOption
		wantErr string
	}{
		{"public channel", "C1", []slack.MsgOption{slack.MsgOptionText("hi", false)}, ""},
		{"unknown channel", "C404", []slack.MsgOption{slack.MsgOptionText("hi", false)}, "channel_not_found"},
		{"no text", "C1", nil, "no_text"},
		{"button text too long", "C1", []slack.MsgOption{slack.MsgOptionBlocks(slack.NewActionBlock("b",
			slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.PlainTextType, long, false, false))))}, "invalid_blocks"},
		{"too many blocks", "C1", []slack.MsgOption{slack.MsgOptionBlocks(manyDividers(51)...)}, "invalid_blocks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(testCtx(t), tc.channel, tc.opts...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("post: %v", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("post err = %v, want %s", err, tc.wantErr)
			}
		})
	}
	if got := len(srv.Messages("C1")); got != 1 {
		t.Errorf("C1 has %d messages, want 1", got)
	}
}

func manyDividers(n int) []slack.Block {
	out := make([]slack.Block, n)
	for i := range out {
		out[i] = slack.NewDividerBlock()
	}
	return out
}

func TestEphemeralAndHomeView(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	ctx := testCtx(t)

	if _, err := api.PostEphemeralContext(ctx, "U1", "U1", slack.MsgOptionText("only you", false)); err != nil {
		t.Fatalf("postEphemeral: %v", err)
	}
	if e := srv.Ephemerals("U1"); len(e) != 1 || e[0].Text != "only you" || e[0].Channel != "DU1" {
		t.Errorf("Ephemerals = %+v", e)
	}

	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: alarmBlocks()}}
	resp, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: view})
	if err != nil || resp.ID == "" || len(resp.Blocks.BlockSet) != 2 {
		t.Fatalf("views.publish = %+v, %v", resp, err)
	}
	stale := "stale-hash"
	if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: view, Hash: &stale}); err == nil || err.Error() != "hash_conflict" {
		t.Errorf("views.publish with a stale hash: err = %v, want hash_conflict", err)
	}
	raw, ok := srv.HomeView("U1")
	if !ok || !strings.Contains(string(raw), `"alarm_yes"`) {
		t.Errorf("HomeView = %s, %v", raw, ok)
	}
	if _, ok := srv.HomeView("U2"); ok {
		t.Error("HomeView(U2) exists")
	}
}

// TestRawBodies checks both encodings of a call without slack-go's help: JSON with a Bearer
// token, and a form; and that an unknown method says so.
func TestRawBodies(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	tok := srv.Options().BotToken
	post := func(method, contentType, body string, bearer bool) map[string]any {
		t.Helper()
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, srv.APIURL()+method, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if bearer {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d body %s", method, resp.StatusCode, b)
		}
		return out
	}
	got := post("chat.postMessage", "application/json",
		`{"channel":"U1","text":"json","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}],"metadata":{"event_type":"e","event_payload":{"k":1}}}`, true)
	if got["ok"] != true {
		t.Fatalf("JSON post = %v", got)
	}
	got = post("chat.postMessage", "application/x-www-form-urlencoded", "token="+tok+"&channel=DU1&text=form", false)
	if got["ok"] != true {
		t.Fatalf("form post = %v", got)
	}
	if got := post("nope.nothing", "application/json", `{}`, true); got["error"] != "unknown_method" {
		t.Errorf("unknown method = %v", got)
	}
	dms := srv.DMs("U1")
	if len(dms) != 2 || dms[0].Text != "json" || dms[1].Text != "form" || string(dms[0].Metadata) != `{"event_type":"e","event_payload":{"k":1}}` {
		t.Errorf("DMs = %+v", dms)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(dms[0].Blocks, &blocks); err != nil || blocks[0]["block_id"] == "" || blocks[0]["block_id"] == nil {
		t.Errorf("stored blocks %s: Slack fills in a missing block_id", dms[0].Blocks)
	}
}

func TestWaitMessages(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	posted := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessageContext(context.Background(), "U1", slack.MsgOptionText("later", false))
		posted <- err
	}()
	msgs, err := srv.WaitMessages(testCtx(t), "DU1", 1)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "later" {
		t.Fatalf("WaitMessages = %+v, %v", msgs, err)
	}
	if err := <-posted; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := srv.WaitMessages(ctx, "DU1", 2); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitMessages on a cancelled context: err = %v", err)
	}
}

// A member's own message in their DM with the bot carries no bot_id, and the bot may not edit
// it: Slack answers cant_update_message.
func TestAMembersMessageIsNotTheBots(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	ctx := testCtx(t)
	ts, err := srv.PostAsUser("U1", "U1", "not the bot", []byte(`{"event_type":"dispatch_alarm","event_payload":{"key":"k"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch.ID, ts, slack.MsgOptionText("edited", false)); err == nil || err.Error() != "cant_update_message" {
		t.Errorf("chat.update of a member's message: %v, want cant_update_message", err)
	}
	hist, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID, IncludeAllMetadata: true})
	if err != nil || len(hist.Messages) != 1 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	if m := hist.Messages[0]; m.User != "U1" || m.BotID != "" || m.Metadata.EventType != "dispatch_alarm" {
		t.Errorf("the member's message reads user %q bot_id %q metadata %q; want theirs, no bot_id, their metadata", m.User, m.BotID, m.Metadata.EventType)
	}
	if _, _, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText("the bot", false)); err != nil {
		t.Fatal(err)
	}
	hist, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch.ID})
	if err != nil || len(hist.Messages) != 2 || hist.Messages[0].BotID == "" {
		t.Errorf("the bot's message: %+v, %v; want a bot_id", hist, err)
	}
}
