// Package handlers holds dispatch's use cases: route an alarm, take a user's answer, run a deferred
// task, answer a /dispatch command. Plain values in, plain values out; every outside service is
// reached through the small interfaces declared here, which the adapter packages implement.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
)

// Issue is a GitHub issue as the handlers see it.
type Issue struct {
	Repo   string // owner/name
	Number int
	Title  string
	Body   string
	URL    string
	Open   bool
	Labels []string
	Author string // login of the account that opened it: only dispatch's own issues are trusted
}

// HasLabel reports whether the issue carries the label.
func (i Issue) HasLabel(name string) bool {
	for _, l := range i.Labels {
		if l == name {
			return true
		}
	}
	return false
}

// NewIssue is what Create needs.
type NewIssue struct {
	Title  string
	Body   string
	Labels []string
}

// Issues is the audit trail: GitHub issues in one or more repositories. Implementations retry
// transient failures themselves and return errors that IsPermanent classifies. Lookups
// (FindByTitle, AlarmsFor) must not cost a request per call: githubapi answers them from an index
// of dispatch's issues kept fresh with conditional requests, and the Issue values they return may
// carry only dispatch's hidden marker as Body (not the whole body; Get returns it whole).
type Issues interface {
	// FindByTitle returns the dispatch issues of repo whose title is exactly title, oldest first:
	// the open ones, and the closed ones too when includeClosed. It sees every issue this
	// implementation created, and every issue (by any replica) created before the newest of those,
	// so a redelivered alarm finds the issue its first delivery made, and an alarm that just
	// created its issue finds any older one another replica made at the same instant. Others'
	// changes show within a few seconds.
	FindByTitle(ctx context.Context, repo, title string, includeClosed bool) ([]Issue, error)
	Create(ctx context.Context, repo string, issue NewIssue) (Issue, error)
	// Get fetches one issue, whole, from the service.
	Get(ctx context.Context, repo string, number int) (Issue, error)
	Comment(ctx context.Context, repo string, number int, body string) error
	// Comments returns the issue's comments, oldest first.
	Comments(ctx context.Context, repo string, number int) ([]Comment, error)
	Close(ctx context.Context, repo string, number int) error
	AddLabels(ctx context.Context, repo string, number int, labels ...string) error
	// CreateDelay is how long a Create made now would wait for the service's rate limits.
	CreateDelay() time.Duration
	// AlarmsFor lists a Slack user's self-service issues in repo (their marker names the user's
	// Slack ID), open or closed, newest first, at most limit. Like FindByTitle, it sees this
	// implementation's own issues at once and others' within a few seconds.
	AlarmsFor(ctx context.Context, repo, slackUserID string, open bool, limit int) ([]Issue, error)
	// Identity is the login dispatch writes as (a token's user, or a GitHub App's "slug[bot]"). Only
	// issues and comments by this login are taken as dispatch's own state.
	Identity(ctx context.Context) (string, error)
}

// Comment is one comment on an issue.
type Comment struct {
	ID     int64  // the service's id of the comment
	Author string // login of who wrote it
	Body   string
}

// Link is a titled URL.
type Link struct {
	URL  string
	Text string
}

// Page is one PagerDuty trigger.
type Page struct {
	ServiceID string // picks the routing key; "" is the default service
	DedupKey  string // repeats with the same key collapse into one incident
	Summary   string
	Details   string
	Source    string
	Severity  string // critical, error, warning or info
	Links     []Link
}

// Pager triggers incidents. Triggering twice with one DedupKey yields one incident.
type Pager interface {
	Trigger(ctx context.Context, p Page) error
}

// Button is an interactive button on a Slack message.
type Button struct {
	ActionID string
	Label    string
	Value    string
	Style    string // "", "primary" or "danger"
}

// Message is what dispatch posts on Slack, in plain text; the Slack adapter escapes the text (alarm
// text is untrusted) and lays it out within Block Kit's limits.
type Message struct {
	// Key identifies the message for idempotency: Sent finds a message posted with the same key.
	Key     string
	Title   string
	Body    string
	Link    *Link
	Prompt  string
	Buttons []Button
	Note    string
	// Mentions are user IDs the adapter may mention (<@U…>) in Note; nothing else is ever a mention.
	Mentions []string
}

// MessageRef locates a posted message. Blocks, when set, are the message's blocks as Slack last
// showed them (from an interaction payload), which saves a fetch when settling it.
type MessageRef struct {
	Channel string
	TS      string
	Blocks  []byte
	// Settled is set by Chat.Sent: the message's buttons were replaced by an outcome (Settle), so
	// its prompt was answered or escalated.
	Settled bool `json:",omitempty"`
}

// Chat is Slack's Web API as the handlers need it.
type Chat interface {
	// Resolve finds the Slack user ID for an alarm's user. It returns an error wrapping
	// ErrUnknownUser when the user doesn't exist.
	Resolve(ctx context.Context, u alerts.User) (string, error)
	// Name returns the name a user's workspace shows for them: profile text the user wrote, for
	// people to read (Router.person neutralises it), never for identity. An error means it can't be
	// had now; the caller names the user by ID instead.
	Name(ctx context.Context, userID string) (string, error)
	// DM posts a direct message to a user.
	DM(ctx context.Context, userID string, m Message) (MessageRef, error)
	// Post posts to a channel.
	Post(ctx context.Context, channel string, m Message) (MessageRef, error)
	// Sent finds a direct message to userID posted with m.Key among the recent ones, and says
	// whether it was settled (MessageRef.Settled).
	Sent(ctx context.Context, userID, key string) (MessageRef, bool, error)
	// Reply posts m in the thread of a message. Under pace.WithLowPriority it waits until no other
	// post waits for Slack's limits, however long that is, without holding a worker slot.
	Reply(ctx context.Context, parent MessageRef, m Message) (MessageRef, error)
	// Replied reports whether dispatch already replied in parent's thread with a message posted
	// with key.
	Replied(ctx context.Context, parent MessageRef, key string) (bool, error)
	// Permalink returns a link to a message.
	Permalink(ctx context.Context, ref MessageRef) (string, error)
	// Settle replaces a prompt's buttons with outcome, leaving the rest of the message as it was.
	Settle(ctx context.Context, ref MessageRef, outcome string) error
	// Hold replaces a prompt's buttons with text until until, visibly to every replica (see Holds),
	// and returns the message as it was, for Release. Holding a held prompt again changes its text.
	Hold(ctx context.Context, ref MessageRef, text string, until time.Time) (MessageRef, error)
	// Release puts back a prompt as Hold found it: its buttons work again.
	Release(ctx context.Context, before MessageRef) error
	// Holds returns, by message key, until when each of userID's recent prompts is held (run out
	// or not). Only holds dispatch wrote count.
	Holds(ctx context.Context, userID string) (map[string]time.Time, error)
	// PublishHome shows a user their App Home tab.
	PublishHome(ctx context.Context, v HomeView) error
	// Tell shows text to one user only: through the interaction's response URL when there is one,
	// else as an ephemeral message in the channel.
	Tell(ctx context.Context, to Audience, text string) error
}

// Audience is who Tell speaks to.
type Audience struct {
	UserID      string
	Channel     string
	ResponseURL string // from an interaction; preferred, as it works wherever the user clicked
}

// Tasks defers work to later, durably: the task goes back onto the alarm queue and comes round to
// whichever replica receives it.
type Tasks interface {
	Defer(ctx context.Context, t Task) error
}

// ErrUnknownUser is wrapped by Chat.Resolve when a user can't be found.
var ErrUnknownUser = errors.New("unknown slack user")

// ErrCannotDM is wrapped by Chat.DM when Slack refuses a direct message to that user for good (a
// bot, a deactivated account, a user gone): the user can't be reached, retrying won't change it.
var ErrCannotDM = errors.New("slack user cannot be sent a direct message")

// ErrAmbiguousUser is wrapped by Chat.Resolve when several users answer to the name an alarm
// gives. It wraps ErrUnknownUser: such a user can't be reached either.
var ErrAmbiguousUser = fmt.Errorf("ambiguous slack user: %w", ErrUnknownUser)
