package bot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/dispatch-oss/dispatch/handlers"
)

// Interactions are the use cases reached from Slack.
type Interactions interface {
	// Take makes a click's answer durable (to be done before the ack) and returns the work that
	// carries it out (after the ack): see handlers.Router.Take.
	Take(ctx context.Context, c handlers.Click) (run func() error, err error)
	Command(ctx context.Context, c handlers.Command) handlers.Reply
	// CommandStartsWork reports whether a /dispatch command puts work on the queue: it then runs
	// before the ack (see handlers.Commands.StartsWork).
	CommandStartsWork(text string) bool
	HomeOpened(ctx context.Context, userID string) error
	// TakeReason makes a submitted reason modal's words durable (to be done before the ack) and
	// returns the work that records them (after the ack): see handlers.Router.TakeReason.
	TakeReason(ctx context.Context, s handlers.Submission) (run func() error, err error)
}

// ErrInvalidAppToken is returned when Slack refuses SLACK_APP_TOKEN.
var ErrInvalidAppToken = errors.New("slack refused SLACK_APP_TOKEN: it must be an app-level token (xapp-…) with the connections:write scope, for an app with Socket Mode turned on")

// socket keeps one Socket Mode connection up and turns its envelopes into plain values for the
// handlers. Every envelope is acked before its work runs, so a slow GitHub never makes Slack show
// the user an error (Slack wants the ack within 3 s); an answer is made durable (a signed task on
// the queue, milliseconds) before its ack, so a crash after the ack can't lose it.
type socket struct {
	client  *socketmode.Client
	use     Interactions
	metrics *Metrics
	log     zerolog.Logger
	http    *http.Client // for response_url replies

	connected  atomic.Bool
	opens      atomic.Int64
	lastChange atomic.Int64 // unix nanos of the last connection state change
	wg         sync.WaitGroup
}

func newSocket(api *slack.Client, use Interactions, m *Metrics, log zerolog.Logger, hc *http.Client, ping time.Duration) *socket {
	opts := []socketmode.Option{}
	if ping > 0 {
		opts = append(opts, socketmode.OptionPingInterval(ping))
	}
	return &socket{client: socketmode.New(api, opts...), use: use, metrics: m, log: log, http: hc}
}

// Connected reports whether the websocket is up.
func (s *socket) Connected() bool { return s.connected.Load() }

// Reconnects is how many connections were opened after the first.
func (s *socket) Reconnects() int { return int(max(s.opens.Load()-1, 0)) }

func (s *socket) setConnected(up bool) {
	if s.connected.Swap(up) != up {
		s.lastChange.Store(time.Now().UnixNano())
		if up {
			s.metrics.Connected.Set(1)
		} else {
			s.metrics.Connected.Set(0)
		}
	}
}

// run connects and serves envelopes until ctx ends; work it started runs under workCtx. It returns
// ErrInvalidAppToken if Slack refuses the app token, else nil once ctx ends.
func (s *socket) run(ctx, workCtx context.Context) error {
	runErr := make(chan error, 1)
	go func() {
		// RunContext reconnects by itself (disconnect messages, dropped sockets, with backoff); it
		// returns only on a fatal auth error or when ctx ends.
		runErr <- s.client.RunContext(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			s.setConnected(false)
			return nil
		case err := <-runErr:
			s.setConnected(false)
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error().Err(err).Msg("socket mode stopped")
			return ErrInvalidAppToken
		case evt := <-s.client.Events:
			s.event(ctx, workCtx, evt)
		}
	}
}

func (s *socket) event(ctx, workCtx context.Context, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		s.setConnected(false)
	case socketmode.EventTypeConnected:
		if s.opens.Add(1) > 1 {
			s.metrics.Reconnects.Inc()
		}
	case socketmode.EventTypeHello:
		s.setConnected(true)
		s.log.Info().Int64("connections", s.opens.Load()).Msg("socket mode connected")
	case socketmode.EventTypeDisconnect:
		s.setConnected(false)
		s.log.Info().Msg("slack asked to reconnect")
	case socketmode.EventTypeConnectionError:
		s.setConnected(false)
		s.log.Warn().Interface("detail", evt.Data).Msg("socket mode connection failed, retrying")
	case socketmode.EventTypeInvalidAuth:
		s.setConnected(false)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			s.ack(evt)
			return
		}
		s.interactive(workCtx, evt, cb)
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok {
			s.ack(evt)
			return
		}
		s.slash(workCtx, evt, cmd)
	case socketmode.EventTypeEventsAPI:
		s.ack(evt)
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			if home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); ok && home.Tab == "home" {
				homeCtx := s.log.With().Str("user", home.User).Logger().WithContext(workCtx)
				s.async(homeCtx, "home", func(ctx context.Context) error { return s.use.HomeOpened(ctx, home.User) })
			}
		}
	}
}

// ack acks an envelope, with payload when given (a view submission's response_action).
func (s *socket) ack(evt socketmode.Event, payload ...any) {
	if evt.Request == nil {
		return
	}
	if err := s.client.Ack(*evt.Request, payload...); err != nil {
		s.log.Error().Err(err).Str("envelope_id", evt.Request.EnvelopeID).Msg("could not ack an envelope")
	}
}

// async runs work after the ack, tracked so a graceful stop waits for it.
func (s *socket) async(ctx context.Context, what string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil {
			s.log.Error().Err(err).Str("work", what).Msg("slack interaction failed")
		}
	}()
}

// interactive takes the answers of a click: each is made durable before the envelope is acked,
// then carried out after it. An answer that can't be made durable is not acked, so Slack shows the
// user an error and they can click again: nothing was promised.
func (s *socket) interactive(ctx context.Context, evt socketmode.Event, cb slack.InteractionCallback) {
	if cb.Type == slack.InteractionTypeViewSubmission { // issue 19: the reason modal
		s.submission(ctx, evt, cb)
		return
	}
	var runs []func() error
	var outcomes []string
	if cb.Type == slack.InteractionTypeBlockActions {
		blocks, _ := json.Marshal(cb.Message.Blocks)
		channel := cb.Container.ChannelID
		if channel == "" {
			channel = cb.Channel.ID
		}
		for _, a := range cb.ActionCallback.BlockActions {
			if a.ActionID != handlers.ActionYes && a.ActionID != handlers.ActionNo && a.ActionID != handlers.ActionWrong { // issue 19: "not about me"
				continue
			}
			click := handlers.Click{
				UserID: cb.User.ID, ActionID: a.ActionID, Value: a.Value, Channel: channel,
				Message:     handlers.MessageRef{Channel: channel, TS: cb.Container.MessageTs, Blocks: blocks},
				ResponseURL: cb.ResponseURL, TriggerID: cb.TriggerID,
			}
			if cb.Container.Type == "view" {
				click.Message = handlers.MessageRef{}
			}
			// Take adds the user and the action to the log context itself.
			run, err := s.use.Take(s.log.WithContext(ctx), click)
			if err != nil {
				s.metrics.Answers.WithLabelValues("failed").Inc()
				s.log.Error().Err(err).Str("user", click.UserID).Msg("answer not made durable: not acked, Slack shows the user an error")
				return
			}
			outcome := "yes"
			if click.ActionID == handlers.ActionNo {
				outcome = "no"
			} else if click.ActionID == handlers.ActionWrong {
				outcome = "wrong"
			}
			runs, outcomes = append(runs, run), append(outcomes, outcome)
		}
	}
	s.ack(evt)
	for i, run := range runs {
		s.async(s.log.WithContext(ctx), "answer", func(context.Context) error {
			outcome := outcomes[i]
			err := run()
			if err != nil {
				outcome = "failed"
			}
			s.metrics.Answers.WithLabelValues(outcome).Inc()
			return err
		})
	}
}

// slash runs a /dispatch command and posts its reply to the response URL. A command that puts work
// on the queue runs before the ack, so an acked command's work is durable; the others after it.
func (s *socket) slash(ctx context.Context, evt socketmode.Event, cmd slack.SlashCommand) {
	c := handlers.Command{UserID: cmd.UserID, UserName: cmd.UserName, Channel: cmd.ChannelID, Text: cmd.Text}
	log := s.log.With().Str("user", cmd.UserID).Str("command", cmd.Text).Logger()
	ctx = log.WithContext(ctx)
	post := func(ctx context.Context, reply handlers.Reply) error {
		msg := &slack.WebhookMessage{Text: reply.Text, ResponseType: slack.ResponseTypeEphemeral}
		if cmd.ResponseURL == "" {
			return errors.New("slash command without a response_url")
		}
		return slack.PostWebhookCustomHTTPContext(ctx, cmd.ResponseURL, s.http, msg)
	}
	if s.use.CommandStartsWork(cmd.Text) {
		reply := s.use.Command(ctx, c)
		s.ack(evt)
		s.async(ctx, "command", func(ctx context.Context) error { return post(ctx, reply) })
		return
	}
	s.ack(evt)
	s.async(ctx, "command", func(ctx context.Context) error { return post(ctx, s.use.Command(ctx, c)) })
}
