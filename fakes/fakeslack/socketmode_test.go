package fakeslack

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// postAlarm opens alice's DM and posts the Yes/No alarm there, returning channel and ts.
func postAlarm(t *testing.T, srv *Server) (string, string) {
	t.Helper()
	api := newAPI(srv)
	ch, _, _, err := api.OpenConversationContext(testCtx(t), &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil {
		t.Fatalf("conversations.open: %v", err)
	}
	_, ts, err := api.PostMessageContext(testCtx(t), ch.ID, slack.MsgOptionText("Disk full", false), slack.MsgOptionBlocks(alarmBlocks()...))
	if err != nil {
		t.Fatalf("postMessage: %v", err)
	}
	return ch.ID, ts
}

func TestClickButtonReachesClient(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	chID, ts := postAlarm(t, srv)
	sc := startSocket(t, srv)

	hello := sc.next(t, socketmode.EventTypeHello)
	if hello.Request.NumConnections != 1 || hello.Request.ConnectionInfo.AppID != "A0001" {
		t.Errorf("hello = %+v", hello.Request)
	}
	if err := srv.WaitConnected(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.ClickButton("U1", chID, ts, "no_such_action"); err == nil {
		t.Error("ClickButton on a missing button succeeded")
	}
	envID, err := srv.ClickButton("U1", chID, ts, "alarm_yes")
	if err != nil {
		t.Fatalf("ClickButton: %v", err)
	}
	evt := sc.next(t, socketmode.EventTypeInteractive)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		t.Fatalf("event data is %T", evt.Data)
	}
	if evt.Request.EnvelopeID != envID || evt.Request.RetryAttempt != 0 || evt.Request.AcceptsResponsePayload {
		t.Errorf("request = %+v", evt.Request)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U1" || cb.User.Name != "alice" || cb.Team.ID != "T0001" || cb.APIAppID != "A0001" {
		t.Errorf("callback = type %s user %+v team %+v app %s", cb.Type, cb.User, cb.Team, cb.APIAppID)
	}
	if cb.Container.Type != "message" || cb.Container.ChannelID != chID || cb.Container.MessageTs != ts || cb.Channel.ID != chID {
		t.Errorf("container = %+v, channel = %s", cb.Container, cb.Channel.ID)
	}
	if cb.Message.Timestamp != ts || len(cb.Message.Blocks.BlockSet) != 2 || cb.Message.User != "UBOT" {
		t.Errorf("message = ts %s, %d blocks, user %s", cb.Message.Timestamp, len(cb.Message.Blocks.BlockSet), cb.Message.User)
	}
	if cb.TriggerID == "" || cb.ResponseURL == "" || cb.BlockActionState == nil {
		t.Errorf("trigger_id %q, response_url %q, state %v", cb.TriggerID, cb.ResponseURL, cb.BlockActionState)
	}
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("BlockActions = %+v (attachment actions %d)", cb.ActionCallback.BlockActions, len(cb.ActionCallback.AttachmentActions))
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "alarm_yes" || a.Value != "a1:yes" || a.BlockID != "alarm-actions" || a.Type != "button" || a.Text.Text != "Yes" || a.ActionTs == "" {
		t.Errorf("action = %+v", a)
	}

	if err := sc.client.Ack(*evt.Request, map[string]string{"text": "thanks"}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	ack, err := srv.WaitAck(testCtx(t), envID)
	if err != nil {
		t.Fatal(err)
	}
	if string(ack.Payload) != `{"text":"thanks"}` || ack.Latency <= 0 || ack.Latency > waitTimeout {
		t.Errorf("ack = %+v", ack)
	}
	if len(srv.Unacked()) != 0 {
		t.Errorf("Unacked = %v", srv.Unacked())
	}

	// The bot answers through response_url, replacing the alarm, as slack-go sends it.
	_, _, err = newAPI(srv).PostMessageContext(testCtx(t), chID,
		slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("Answered: yes", false))
	if err != nil {
		t.Fatalf("response_url: %v", err)
	}
	posts := srv.ResponseURLPosts()
	if len(posts) != 1 || !posts[0].ReplaceOriginal || posts[0].Text != "Answered: yes" || posts[0].User != "U1" {
		t.Errorf("ResponseURLPosts = %+v", posts)
	}
	if dm := srv.DMs("U1"); len(dm) != 1 || dm[0].Text != "Answered: yes" || dm[0].Updated != 1 || dm[0].Blocks != nil {
		t.Errorf("DM after replace_original = %+v", dm)
	}
}

func TestSlashCommandAndEvents(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	sc := startSocket(t, srv)
	sc.next(t, socketmode.EventTypeHello)

	envID, err := srv.SlashCommand("U1", "/dispatch", "status a1")
	if err != nil {
		t.Fatal(err)
	}
	evt := sc.next(t, socketmode.EventTypeSlashCommand)
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok {
		t.Fatalf("event data is %T", evt.Data)
	}
	if cmd.Command != "/dispatch" || cmd.Text != "status a1" || cmd.UserID != "U1" || cmd.UserName != "alice" ||
		cmd.ChannelID != "DU1" || cmd.TeamID != "T0001" || cmd.APIAppID != "A0001" || cmd.ResponseURL == "" || cmd.TriggerID == "" {
		t.Errorf("slash command = %+v", cmd)
	}
	if !evt.Request.AcceptsResponsePayload || evt.Request.EnvelopeID != envID {
		t.Errorf("request = %+v", evt.Request)
	}
	if err := sc.client.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	if ack, err := srv.WaitAck(testCtx(t), envID); err != nil || ack.Payload != nil {
		t.Errorf("ack = %+v, %v; want no payload", ack, err)
	}
	_, _, err = newAPI(srv).PostMessageContext(testCtx(t), cmd.ChannelID,
		slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("a1 is open", false))
	if err != nil {
		t.Fatalf("response_url: %v", err)
	}
	if e := srv.Ephemerals("U1"); len(e) != 1 || e[0].Text != "a1 is open" {
		t.Errorf("Ephemerals = %+v", e)
	}

	if _, err := srv.SendEvent(json.RawMessage(`{"no":"type"}`)); err == nil {
		t.Error("SendEvent without a type succeeded")
	}
	if _, err := srv.SendEvent(json.RawMessage(`{"type":"app_home_opened","user":"U1","channel":"DU1","tab":"home","event_ts":"1.2"}`)); err != nil {
		t.Fatal(err)
	}
	evt = sc.next(t, socketmode.EventTypeEventsAPI)
	outer, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok || outer.Type != slackevents.CallbackEvent || outer.TeamID != "T0001" || outer.APIAppID != "A0001" {
		t.Fatalf("events_api data = %#v", evt.Data)
	}
	if home, ok := outer.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); !ok || home.User != "U1" || home.Tab != "home" {
		t.Errorf("inner event = %#v", outer.InnerEvent.Data)
	}
}

func TestClickHomeButton(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewActionBlock("a1", slack.NewButtonBlockElement("ack", "a1", slack.NewTextBlockObject(slack.PlainTextType, "Ack a1", false, false))),
		slack.NewActionBlock("a2", slack.NewButtonBlockElement("ack", "a2", slack.NewTextBlockObject(slack.PlainTextType, "Ack a2", false, false))),
	}}}
	if _, err := api.PublishViewContext(testCtx(t), slack.PublishViewContextRequest{UserID: "U1", View: view}); err != nil {
		t.Fatal(err)
	}
	sc := startSocket(t, srv)
	sc.next(t, socketmode.EventTypeHello)

	if _, err := srv.ClickHomeButton("U1", "ack", "a3"); err == nil {
		t.Error("ClickHomeButton with a missing value succeeded")
	}
	if _, err := srv.ClickHomeButton("U1", "ack", "a2"); err != nil {
		t.Fatal(err)
	}
	cb := sc.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.Container.Type != "view" || cb.View.ID == "" || cb.Container.ViewID != cb.View.ID || cb.View.Type != slack.VTHomeTab {
		t.Errorf("container %+v, view id %q type %q", cb.Container, cb.View.ID, cb.View.Type)
	}
	if len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].BlockID != "a2" || cb.ActionCallback.BlockActions[0].Value != "a2" {
		t.Errorf("actions = %+v", cb.ActionCallback.BlockActions)
	}

	if _, err := srv.OpenAppHome("U1"); err != nil {
		t.Fatal(err)
	}
	outer := sc.next(t, socketmode.EventTypeEventsAPI).Data.(slackevents.EventsAPIEvent)
	if home, ok := outer.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); !ok || home.View == nil || home.View.ID != cb.View.ID {
		t.Errorf("app_home_opened = %#v", outer.InnerEvent.Data)
	}
}

func TestDisconnectReconnects(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	chID, ts := postAlarm(t, srv)
	sc := startSocket(t, srv)
	sc.next(t, socketmode.EventTypeHello)

	srv.Disconnect("")
	// slack-go answers the disconnect message by opening and dialling a new connection.
	sc.next(t, socketmode.EventTypeHello)
	if err := srv.WaitConnected(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	if srv.Opens() != 2 {
		t.Errorf("Opens() = %d, want 2", srv.Opens())
	}
	if _, err := srv.ClickButton("U1", chID, ts, "alarm_no"); err != nil {
		t.Fatal(err)
	}
	cb := sc.next(t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.ActionCallback.BlockActions[0].ActionID != "alarm_no" {
		t.Errorf("action = %+v", cb.ActionCallback.BlockActions[0])
	}
	eventually(t, "the old connection to close", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 1
	})
}

func TestDropConnectionsAndQueueing(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	// An envelope sent while nobody is connected waits for the first connection.
	envID, err := srv.SlashCommand("U1", "/dispatch", "help")
	if err != nil {
		t.Fatal(err)
	}
	sc := startSocket(t, srv)
	sc.next(t, socketmode.EventTypeHello)
	if evt := sc.next(t, socketmode.EventTypeSlashCommand); evt.Request.EnvelopeID != envID {
		t.Errorf("queued envelope id = %s, want %s", evt.Request.EnvelopeID, envID)
	}

	srv.DropConnections()
	// The dropped connection is gone: the new one is the only one.
	if hello := sc.next(t, socketmode.EventTypeHello); hello.Request.NumConnections != 1 {
		t.Errorf("hello after drop: num_connections = %d, want 1", hello.Request.NumConnections)
	}
	if srv.Opens() != 2 {
		t.Errorf("Opens() = %d, want 2", srv.Opens())
	}
	if _, err := srv.SlashCommand("U1", "/dispatch", "again"); err != nil {
		t.Fatal(err)
	}
	if cmd := sc.next(t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand); cmd.Text != "again" {
		t.Errorf("text = %q", cmd.Text)
	}
}

func TestRedeliverUnacked(t *testing.T) {
	srv := newServer(t, Options{RedeliverAfter: 100 * time.Millisecond})
	addAlice(srv)
	sc := startSocket(t, srv)
	sc.next(t, socketmode.EventTypeHello)

	envID, err := srv.SlashCommand("U1", "/dispatch", "help")
	if err != nil {
		t.Fatal(err)
	}
	first := sc.next(t, socketmode.EventTypeSlashCommand) // not acked
	second := sc.next(t, socketmode.EventTypeSlashCommand)
	if first.Request.RetryAttempt != 0 || second.Request.EnvelopeID != envID ||
		second.Request.RetryAttempt != 1 || second.Request.RetryReason != "timeout" {
		t.Fatalf("deliveries = %+v then %+v", first.Request, second.Request)
	}
	if err := sc.client.Ack(*second.Request); err != nil {
		t.Fatal(err)
	}
	ack, err := srv.WaitAck(testCtx(t), envID)
	if err != nil || ack.Attempt != 1 {
		t.Fatalf("ack = %+v, %v", ack, err)
	}
	sc.none(t, 300*time.Millisecond) // acked: no third delivery
}

func TestEnvelopesRoundRobin(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	a, b := startSocket(t, srv), startSocket(t, srv)
	a.next(t, socketmode.EventTypeHello)
	b.next(t, socketmode.EventTypeHello)
	if err := srv.WaitConnected(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := srv.SlashCommand("U1", "/dispatch", "x"); err != nil {
			t.Fatal(err)
		}
	}
	// Each envelope goes to exactly one connection, alternating.
	for range 2 {
		a.next(t, socketmode.EventTypeSlashCommand)
		b.next(t, socketmode.EventTypeSlashCommand)
	}
	a.none(t, 100*time.Millisecond)
	b.none(t, 50*time.Millisecond)
}
