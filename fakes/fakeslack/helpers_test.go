package fakeslack

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// waitTimeout bounds every wait in these tests; nothing here should take more than a second.
const waitTimeout = 5 * time.Second

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	srv := New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// newAPI returns the real slack-go client pointed at srv.
func newAPI(srv *Server) *slack.Client {
	o := srv.Options()
	return slack.New(o.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(o.AppToken))
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func addAlice(srv *Server) {
	srv.AddUser(User{ID: "U1", Name: "alice", RealName: "Alice A", DisplayName: "ali", Email: "alice@example.com"})
}

// socketClient runs a real socketmode.Client against srv and forwards the events that come
// from Slack (not the client's own connecting/connected bookkeeping) to events.
type socketClient struct {
	client *socketmode.Client
	events chan socketmode.Event
}

func startSocket(t *testing.T, srv *Server) *socketClient {
	t.Helper()
	sc := &socketClient{client: socketmode.New(newAPI(srv)), events: make(chan socketmode.Event, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- sc.client.RunContext(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sc.client.Events:
				switch evt.Type {
				case socketmode.EventTypeHello, socketmode.EventTypeInteractive, socketmode.EventTypeSlashCommand,
					socketmode.EventTypeEventsAPI, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeInvalidAuth:
					select {
					case sc.events <- evt:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("RunContext: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("socketmode client did not stop")
		}
	})
	return sc
}

// next returns the next forwarded event, failing the test if it is not of type want.
func (sc *socketClient) next(t *testing.T, want socketmode.EventType) socketmode.Event {
	t.Helper()
	select {
	case evt := <-sc.events:
		if evt.Type != want {
			t.Fatalf("got event %s (%+v), want %s", evt.Type, evt.Data, want)
		}
		return evt
	case <-time.After(waitTimeout):
		t.Fatalf("no %s event within %s", want, waitTimeout)
	}
	return socketmode.Event{}
}

// none fails the test if an event arrives within d.
func (sc *socketClient) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case evt := <-sc.events:
		t.Fatalf("unexpected event %s: %+v", evt.Type, evt.Data)
	case <-time.After(d):
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// alarmBlocks is the shape dispatch posts: a section and an actions block with Yes/No.
func alarmBlocks() []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*Disk full* on db-1", false, false), nil, nil,
			slack.SectionBlockOptionBlockID("alarm-text")),
		slack.NewActionBlock("alarm-actions",
			slack.NewButtonBlockElement("alarm_yes", "a1:yes", slack.NewTextBlockObject(slack.PlainTextType, "Yes", false, false)).
				WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement("alarm_no", "a1:no", slack.NewTextBlockObject(slack.PlainTextType, "No", false, false)),
		),
	}
}
