package slackapi

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/pace"
)

// Slack's Web API tiers (docs.slack.dev, "Rate limits"): per method, per workspace, per app.
const (
	Tier2 = 20  // a minute: users.list
	Tier3 = 50  // a minute: conversations.open, conversations.history, conversations.replies, chat.update, users.lookupByEmail
	Tier4 = 100 // a minute: users.info, views.publish, views.open, chat.postEphemeral
)

// WorkspacePosts is how many chat.postMessage calls dispatch makes in a minute across the whole
// workspace. Slack documents "several hundred a minute" beside one a second per channel; 300 is
// the lower end of that.
const WorkspacePosts = 300

func perMinute(n int) []pace.Window { return []pace.Window{{Limit: n, Span: time.Minute}} }

// Limits are the windows dispatch paces each Slack method within, ahead of Slack's limits, so a
// burst waits its turn instead of being answered 429. chat.getPermalink's limit is "special"
// and unpublished: it is held to Tier 3. chat.postMessage is also held per channel (PostLimits).
var Limits = map[string][]pace.Window{
	"users.list":            perMinute(Tier2),
	"users.info":            perMinute(Tier4),
	"users.lookupByEmail":   perMinute(Tier3),
	"conversations.open":    perMinute(Tier3),
	"conversations.history": perMinute(Tier3),
	"conversations.replies": perMinute(Tier3),
	"chat.update":           perMinute(Tier3),
	"chat.getPermalink":     perMinute(Tier3),
	"chat.postEphemeral":    perMinute(Tier4),
	"views.publish":         perMinute(Tier4),
	"views.open":            perMinute(Tier4),
	"chat.postMessage":      perMinute(WorkspacePosts),
}

// ScaleLimits returns limits with every span divided by scale, for a benchmark whose fakes run
// the same limits on a faster clock.
func ScaleLimits(limits map[string][]pace.Window, scale float64) map[string][]pace.Window {
	out := make(map[string][]pace.Window, len(limits))
	for m, ws := range limits {
		for _, w := range ws {
			out[m] = append(out[m], pace.Window{Limit: w.Limit, Span: time.Duration(float64(w.Span) / scale)})
		}
	}
	return out
}

// pacers makes one Pacer per limited method; a method without limits is not paced.
func pacers(limits map[string][]pace.Window) map[string]*pace.Pacer {
	out := make(map[string]*pace.Pacer, len(limits))
	for m, ws := range limits {
		out[m] = pace.New(ws...)
	}
	return out
}

// call makes one Slack call through the retrier: each try waits for the method's pacer first,
// then is classified (a 429's Retry-After is honoured, within the retry policy's bounds).
func (c *Client) call(ctx context.Context, method string, fn func(context.Context) error) error {
	return c.callPaced(ctx, method, c.pace[method], fn)
}

func (c *Client) callPaced(ctx context.Context, method string, p *pace.Pacer, fn func(context.Context) error) error {
	return c.retry.Do(ctx, *zerolog.Ctx(ctx), "slack "+method, func(ctx context.Context) error {
		done, err := p.Wait(ctx)
		if err != nil {
			return err
		}
		defer done()
		return classify(fn(ctx))
	})
}
