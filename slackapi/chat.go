// Package slackapi is dispatch's Slack Web API adapter, over slack-go. It implements handlers.Chat:
// it resolves users (by ID, email or handle, with a cached directory), posts and updates Block Kit
// messages built from plain handlers.Message values, escaping all alarm text, and classifies
// failures for package retry.
package slackapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// metadataEventType tags dispatch's messages; the payload's "key" is handlers.Message.Key.
const metadataEventType = "dispatch_alarm"

// sentLookback is how many recent messages Sent reads.
const sentLookback = 100

// Options configure a Client.
type Options struct {
	BotToken   string
	AppToken   string
	APIURL     string // Web API base, ending in "/"
	HTTPClient *http.Client
	Retry      retry.Policy
	// DirectoryTTL is how long the users.list directory is trusted (default 10 minutes).
	DirectoryTTL time.Duration
	// PostPace holds chat.postMessage within Slack's limit per channel; nil means PostLimits.
	PostPace []pace.Window
	// Limits holds each method within Slack's limit per workspace; nil means Limits. A method
	// it leaves out is not paced.
	Limits map[string][]pace.Window
	// DirectoryWait is how long a lookup by display name waits for the user directory to load
	// before it fails as transient, to be retried later (default 10 seconds).
	DirectoryWait time.Duration
}

// PostLimits follow Slack's documented limit for chat.postMessage: about one message a second per
// channel, with short bursts allowed; modelled as a token bucket of 4 (as the fake Slack counts it),
// exact for the first minute of a flood, so a handful of DMs to one person goes out at once and
// not one every second.
var PostLimits = pace.Bucket(4, time.Second, 60)

// Client is a handlers.Chat over Slack's Web API. It is safe for concurrent use.
type Client struct {
	api   *slack.Client
	http  *http.Client // for response URLs
	retry retry.Policy
	dir   directory
	posts *pace.Keyed // by channel
	pace  map[string]*pace.Pacer
	homes homeQueue
	life  context.Context // ends with Close; background work runs in it
	stop  context.CancelFunc

	dmMu      sync.Mutex
	botID     string                   // the bot's bot_id, once known (ownBotID)
	dms       map[string]string        // user ID → DM channel ID
	dmOpening map[string]chan struct{} // user ID → closed once their DM channel's open is done
}

var _ handlers.Chat = (*Client)(nil)

// New makes a Client.
func New(opts Options) *Client {
	slackOpts := []slack.Option{}
	if opts.APIURL != "" {
		u := opts.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		slackOpts = append(slackOpts, slack.OptionAPIURL(u))
	}
	if opts.AppToken != "" {
		slackOpts = append(slackOpts, slack.OptionAppLevelToken(opts.AppToken))
	}
	if opts.HTTPClient != nil {
		slackOpts = append(slackOpts, slack.OptionHTTPClient(opts.HTTPClient))
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry = retry.Default
	}
	if opts.PostPace == nil {
		opts.PostPace = PostLimits
	}
	if opts.DirectoryTTL == 0 {
		opts.DirectoryTTL = 10 * time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Limits == nil {
		opts.Limits = Limits
	}
	if opts.DirectoryWait == 0 {
		opts.DirectoryWait = 10 * time.Second
	}
	life, stop := context.WithCancel(context.Background())
	return &Client{
		api:       slack.New(opts.BotToken, slackOpts...),
		http:      opts.HTTPClient,
		retry:     opts.Retry,
		dir:       newDirectory(opts.DirectoryTTL, opts.DirectoryWait),
		dms:       map[string]string{},
		dmOpening: map[string]chan struct{}{},
		posts:     pace.NewKeyed(opts.PostPace...),
		pace:      pacers(opts.Limits),
		homes:     homeQueue{pending: map[string]*handlers.HomeView{}},
		life:      life,
		stop:      stop,
	}
}

// Close stops the client's background work (a directory load). Calls still in flight end with
// their own contexts.
func (c *Client) Close() { c.stop() }

// API is the underlying slack-go client, for the Socket Mode runtime.
func (c *Client) API() *slack.Client { return c.api }

// AuthTest checks the bot token and returns the bot's user ID and team name. It tries once: it
// answers a person (start-up, dispatch check) who wants to know now.
func (c *Client) AuthTest(ctx context.Context) (userID, team string, err error) {
	resp, err := c.api.AuthTestContext(ctx)
	if err != nil {
		return "", "", wrap("auth.test", classify(err)) // a 429's wait rides along (retry.RetryAfter)
	}
	c.keepBotID(resp.BotID)
	return resp.UserID, resp.Team, nil
}

// ownBotID is the bot_id Slack stamps on the messages dispatch posts, from auth.test (once, then
// kept): what tells dispatch's messages from ones a member posted with metadata of their own.
func (c *Client) ownBotID(ctx context.Context) (string, error) {
	c.dmMu.Lock()
	id := c.botID
	c.dmMu.Unlock()
	if id != "" {
		return id, nil
	}
	err := c.call(ctx, "auth.test", func(ctx context.Context) error {
		resp, err := c.api.AuthTestContext(ctx)
		if err == nil {
			id = resp.BotID
			c.keepBotID(id)
		}
		return err
	})
	if err == nil && id == "" {
		err = retry.Permanent(errors.New("auth.test named no bot_id: SLACK_BOT_TOKEN must be a bot token (xoxb-…)"))
	}
	return id, wrap("auth.test", err)
}

func (c *Client) keepBotID(id string) {
	c.dmMu.Lock()
	defer c.dmMu.Unlock()
	if id != "" {
		c.botID = id
	}
}

// dmChannel opens (once, then cached) the DM channel with a user. Concurrent first DMs to one
// person (a burst of their alarms) share one conversations.open: it is Tier 3, 50 a minute, and
// every extra open would cost a place another person's first DM needs.
func (c *Client) dmChannel(ctx context.Context, userID string) (string, error) {
	for {
		c.dmMu.Lock()
		if ch, ok := c.dms[userID]; ok {
			c.dmMu.Unlock()
			return ch, nil
		}
		if opening, busy := c.dmOpening[userID]; busy {
			c.dmMu.Unlock()
			select {
			case <-opening:
				continue // opened (or failed: then this caller tries itself)
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		opening := make(chan struct{})
		c.dmOpening[userID] = opening
		c.dmMu.Unlock()
		return c.openDM(ctx, userID, opening, c.pace["conversations.open"])
	}
}

// openDM makes the conversations.open that opening (registered in dmOpening) stands for, paced by
// p (nil: its place was taken already), keeps the channel, and closes opening for those waiting on
// it.
func (c *Client) openDM(ctx context.Context, userID string, opening chan struct{}, p *pace.Pacer) (string, error) {
	var ch string
	err := c.callPaced(ctx, "conversations.open", p, func(ctx context.Context) error {
		channel, _, _, err := c.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}})
		if err == nil {
			ch = channel.ID
		}
		return err
	})
	c.dmMu.Lock()
	delete(c.dmOpening, userID)
	if err == nil {
		c.dms[userID] = ch
	}
	c.dmMu.Unlock()
	close(opening)
	if err != nil {
		return "", wrap("conversations.open", err)
	}
	return ch, nil
}

// openAhead starts opening a resolved user's DM channel in the background, unless it is open or
// opening: a DM follows nearly every resolve, and the open then overlaps the alarm's other work
// (filing its issue) instead of adding a round trip before the prompt. It costs no extra call:
// the DM shares the open, and a failed one is simply made again by the DM. The open's place under
// its Tier 3 pacing is taken here, before anything starts, or the open is not made ahead: while
// opens wait their turn (alarms for more people than 50 a minute) the DMs open their own, and no
// background waits pile up.
func (c *Client) openAhead(ctx context.Context, userID string) {
	c.dmMu.Lock()
	defer c.dmMu.Unlock()
	_, open := c.dms[userID]
	_, busy := c.dmOpening[userID]
	if open || busy {
		return
	}
	took, err := c.pace["conversations.open"].Wait(pace.WithMaxWait(ctx, 0))
	if err != nil {
		return // no place now
	}
	opening := make(chan struct{})
	c.dmOpening[userID] = opening
	log := zerolog.Ctx(ctx)
	go func() {
		defer took()
		if _, err := c.openDM(log.WithContext(c.life), userID, opening, nil); err != nil {
			log.Debug().Err(err).Str("user", userID).Msg("opening the DM channel ahead failed; the DM will try again")
		}
	}()
}

// target turns a user ID into their DM channel; a channel ID is returned as is.
func (c *Client) target(ctx context.Context, to string) (string, error) {
	if userIDPattern.MatchString(to) {
		return c.dmChannel(ctx, to)
	}
	return to, nil
}

// DM posts m to a user's direct messages.
func (c *Client) DM(ctx context.Context, userID string, m handlers.Message) (handlers.MessageRef, error) {
	ch, err := c.dmChannel(ctx, userID)
	if err != nil {
		return handlers.MessageRef{}, undeliverable(err)
	}
	ref, err := c.Post(ctx, ch, m)
	return ref, undeliverable(err)
}

// cannotDM are Slack's answers that mean this user can't be sent a DM at all (a bot, a deactivated
// or invisible user): handlers.ErrCannotDM, so the alarm goes on for its other users. Not
// account_inactive: on a bot token that is dispatch's own credential, not the user.
var cannotDM = map[string]bool{"cannot_dm_bot": true, "user_disabled": true, "user_not_found": true, "user_not_visible": true}

func undeliverable(err error) error {
	if err != nil && cannotDM[slackError(err)] {
		return fmt.Errorf("%w: %w", handlers.ErrCannotDM, err)
	}
	return err
}

// Post posts m to a channel. The message carries m.Key as metadata, for Sent.
func (c *Client) Post(ctx context.Context, channel string, m handlers.Message) (handlers.MessageRef, error) {
	return c.post(ctx, channel, m)
}

// Reply posts m in the thread of parent.
func (c *Client) Reply(ctx context.Context, parent handlers.MessageRef, m handlers.Message) (handlers.MessageRef, error) {
	return c.post(ctx, parent.Channel, m, slack.MsgOptionTS(parent.TS))
}

// Permalink returns a link to a message.
func (c *Client) Permalink(ctx context.Context, ref handlers.MessageRef) (string, error) {
	var link string
	err := c.call(ctx, "chat.getPermalink", func(ctx context.Context) error {
		var err error
		link, err = c.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ref.Channel, Ts: ref.TS})
		return err
	})
	return link, wrap("chat.getPermalink", err)
}

func (c *Client) post(ctx context.Context, channel string, m handlers.Message, extra ...slack.MsgOption) (handlers.MessageRef, error) {
	blocks, text := render(m)
	opts := append([]slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false), slack.MsgOptionDisableLinkUnfurl()}, extra...)
	if m.Key != "" {
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataEventType, EventPayload: map[string]any{"key": m.Key}}))
	}
	var ref handlers.MessageRef
	err := c.callPaced(ctx, "chat.postMessage", nil, func(ctx context.Context) error {
		done, err := c.turn(ctx, channel)
		if err != nil {
			return err
		}
		defer done()
		ch, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
		ref = handlers.MessageRef{Channel: ch, TS: ts}
		return err
	})
	return ref, wrap("chat.postMessage", err)
}

// turn waits for a post's places under Slack's limits: the channel's, then the workspace's, so a
// post waiting on a busy channel holds no workspace place that a post to another channel could
// use. A low-priority post (pace.WithLowPriority: an issue's link) takes both at once, only when
// both are free and no post waits for either (pace.WaitAside): it never holds the person's channel
// while it waits, so it can't go before their next prompt. A wait that may be long (a busy channel,
// or any low-priority wait) gives the worker slot up meanwhile.
func (c *Client) turn(ctx context.Context, channel string) (done func(), err error) {
	ws := c.pace["chat.postMessage"]
	if pace.IsLowPriority(ctx) {
		err = handlers.Yield(ctx, func() (err error) {
			done, err = pace.WaitAside(ctx, c.posts.Pacer(channel), ws)
			return err
		})
		return done, err
	}
	var chDone, wsDone func()
	wait := func() (err error) {
		if chDone, err = c.posts.Wait(ctx, channel); err != nil {
			return err
		}
		wsDone, err = ws.Wait(ctx)
		return err
	}
	if c.posts.Delay(channel) > 0 {
		// A person with several alarms at once: their channel's turn may be seconds away, and the
		// worker slot is better spent on someone else's alarm meanwhile.
		err = handlers.Yield(ctx, wait)
	} else {
		err = wait()
	}
	done = func() {
		for _, d := range []func(){chDone, wsDone} {
			if d != nil {
				d()
			}
		}
	}
	if err != nil {
		done()
		return func() {}, err
	}
	return done, nil
}

// Sent looks through the recent messages of a DM (to is a user ID) or channel for one posted with key.
func (c *Client) Sent(ctx context.Context, to, key string) (handlers.MessageRef, bool, error) {
	ch, msgs, bot, err := c.recent(ctx, to)
	if err != nil {
		return handlers.MessageRef{}, false, err
	}
	for _, msg := range msgs {
		if ts, ok := ownKeyed([]slack.Message{msg}, bot, key); ok {
			return handlers.MessageRef{Channel: ch, TS: ts, Settled: isSettled(msg.Blocks.BlockSet)}, true, nil
		}
	}
	return handlers.MessageRef{}, false, nil
}

// recent reads the sentLookback newest messages of a DM or channel, with their metadata, and the
// bot's own ID, which tells dispatch's messages from anyone else's.
func (c *Client) recent(ctx context.Context, to string) (channel string, msgs []slack.Message, bot string, err error) {
	ch, err := c.target(ctx, to)
	if err != nil {
		return "", nil, "", err
	}
	var hist *slack.GetConversationHistoryResponse
	err = c.call(ctx, "conversations.history", func(ctx context.Context) error {
		hist, err = c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch, Limit: sentLookback, IncludeAllMetadata: true})
		return err
	})
	if err != nil {
		return "", nil, "", wrap("conversations.history", err)
	}
	bot, err = c.ownBotID(ctx)
	if err != nil {
		return "", nil, "", err
	}
	return ch, hist.Messages, bot, nil
}

// Replied reports whether the bot already replied in parent's thread with a message posted with
// key (the thread's first 100 messages: dispatch posts a handful there).
func (c *Client) Replied(ctx context.Context, parent handlers.MessageRef, key string) (bool, error) {
	var msgs []slack.Message
	err := c.call(ctx, "conversations.replies", func(ctx context.Context) error {
		var err error
		msgs, _, _, err = c.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: parent.Channel, Timestamp: parent.TS, Limit: sentLookback, IncludeAllMetadata: true})
		return err
	})
	if err != nil {
		return false, wrap("conversations.replies", err)
	}
	bot, err := c.ownBotID(ctx)
	if err != nil {
		return false, err
	}
	_, ok := ownKeyed(msgs, bot, key)
	return ok, nil
}

// ownKeyed finds the ts of the bot's message posted with key among msgs. Anyone in a conversation
// can post metadata that looks like dispatch's: only the bot's own messages count, or a member
// could make dispatch think a prompt or a link was sent.
func ownKeyed(msgs []slack.Message, bot, key string) (string, bool) {
	for _, msg := range msgs {
		if msg.BotID == bot && msg.Metadata.EventType == metadataEventType && fmt.Sprint(msg.Metadata.EventPayload["key"]) == key {
			return msg.Timestamp, true
		}
	}
	return "", false
}

// Settle replaces the message's buttons with outcome. Without ref.Blocks it fetches the message.
func (c *Client) Settle(ctx context.Context, ref handlers.MessageRef, outcome string) error {
	blocks, err := c.blocksOf(ctx, ref)
	if err != nil {
		return err
	}
	newBlocks := settled(blocks.BlockSet, outcome)
	return wrap("chat.update", c.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, slack.MsgOptionBlocks(newBlocks...), slack.MsgOptionText(cut(Escape(outcome), maxFallbackText), false))
		return err
	}))
}

// blocksOf returns the message's blocks: ref.Blocks when set (from an interaction), else as Slack
// has them now.
func (c *Client) blocksOf(ctx context.Context, ref handlers.MessageRef) (slack.Blocks, error) {
	var blocks slack.Blocks
	if len(ref.Blocks) > 0 {
		if err := json.Unmarshal(ref.Blocks, &blocks); err != nil {
			return blocks, fmt.Errorf("slack settle: decode blocks: %w", err)
		}
		return blocks, nil
	}
	err := c.call(ctx, "conversations.history", func(ctx context.Context) error {
		hist, err := c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ref.Channel, Latest: ref.TS, Inclusive: true, Limit: 1})
		if err == nil && len(hist.Messages) > 0 {
			blocks = hist.Messages[0].Blocks
		}
		return err
	})
	return blocks, wrap("conversations.history", err)
}

// Tell shows text (escaped) to one user: through the response URL of their interaction when there
// is one (it works wherever they clicked), else as an ephemeral message in the channel.
func (c *Client) Tell(ctx context.Context, to handlers.Audience, text string) error {
	if to.ResponseURL != "" {
		msg := &slack.WebhookMessage{Text: Escape(text), ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false}
		return wrap("response_url", c.call(ctx, "response_url", func(ctx context.Context) error {
			return slack.PostWebhookCustomHTTPContext(ctx, to.ResponseURL, c.http, msg)
		}))
	}
	return wrap("chat.postEphemeral", c.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := c.api.PostEphemeralContext(ctx, to.Channel, to.UserID, slack.MsgOptionText(Escape(text), false))
		return err
	}))
}

// AppTokenTest checks the app-level token by opening (and abandoning) a Socket Mode connection URL.
func (c *Client) AppTokenTest(ctx context.Context) error {
	_, _, err := c.api.StartSocketModeContext(ctx)
	return wrap("apps.connections.open", classify(err))
}
