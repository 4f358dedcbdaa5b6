// Package pagerdutyapi triggers PagerDuty incidents through the Events API v2, with go-pagerduty. It
// implements handlers.Pager: it maps a message's service ID to its routing key, classifies failures
// and retries the transient ones through package retry.
package pagerdutyapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// Options configure a Client.
type Options struct {
	EventsURL   string            // Events API base; events go to EventsURL + "/v2/enqueue"
	RoutingKey  string            // the default service's integration key
	ServiceKeys map[string]string // service ID → routing key, for pagerDutyServiceId
	HTTPClient  *http.Client
	Retry       retry.Policy
	Client      string // names dispatch in the incident ("dispatch")
	// Pace holds events within PagerDuty's limit per routing key; nil means EventLimits.
	Pace []pace.Window
}

// EventLimits follow PagerDuty's Events API v2 limit: on the order of 120 events a minute per
// routing key.
var EventLimits = []pace.Window{{Limit: 120, Span: time.Minute}}

// Client is a handlers.Pager. It is safe for concurrent use.
type Client struct {
	pd    *pagerduty.Client
	opts  Options
	retry retry.Policy
	pace  *pace.Keyed // by routing key
}

var _ handlers.Pager = (*Client)(nil)

// New makes a Client.
func New(opts Options) *Client {
	if opts.EventsURL == "" {
		opts.EventsURL = "https://events.pagerduty.com"
	}
	pd := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(strings.TrimSuffix(opts.EventsURL, "/")))
	if opts.HTTPClient != nil {
		pd.HTTPClient = opts.HTTPClient
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry = retry.Default
	}
	if opts.Client == "" {
		opts.Client = "dispatch"
	}
	if opts.Pace == nil {
		opts.Pace = EventLimits
	}
	return &Client{pd: pd, opts: opts, retry: opts.Retry, pace: pace.NewKeyed(opts.Pace...)}
}

// RoutingKey picks the routing key for a service ID: its own when PAGERDUTY_SERVICE_KEYS names it,
// else the default (known reports which).
func (c *Client) RoutingKey(serviceID string) (key string, known bool) {
	if k, ok := c.opts.ServiceKeys[serviceID]; ok && serviceID != "" {
		return k, true
	}
	return c.opts.RoutingKey, serviceID == ""
}

// Trigger raises (or joins, by dedup key) an incident. A service ID without a routing key of its
// own pages the default service, with a warning: a page must not be lost to a typo.
func (c *Client) Trigger(ctx context.Context, p handlers.Page) error {
	key, known := c.RoutingKey(p.ServiceID)
	if !known {
		zerolog.Ctx(ctx).Warn().Str("pagerduty_service", p.ServiceID).Msg("no routing key for this PagerDuty service: paging the default service")
	}
	ev := &pagerduty.V2Event{
		RoutingKey: key,
		Action:     "trigger",
		DedupKey:   p.DedupKey,
		Client:     c.opts.Client,
		Payload: &pagerduty.V2Payload{
			Summary:  truncate(p.Summary, 1024),
			Source:   p.Source,
			Severity: p.Severity,
			Details:  p.Details,
		},
	}
	if ev.Payload.Source == "" {
		ev.Payload.Source = "dispatch"
	}
	if ev.Payload.Severity == "" {
		ev.Payload.Severity = "critical"
	}
	if p.Details == "" {
		ev.Payload.Details = nil
	}
	for _, l := range p.Links {
		ev.Links = append(ev.Links, map[string]string{"href": l.URL, "text": l.Text})
	}
	if len(p.Links) > 0 {
		ev.ClientURL = p.Links[0].URL
	}
	err := c.retry.Do(ctx, *zerolog.Ctx(ctx), "pagerduty trigger", func(ctx context.Context) error {
		done, err := c.pace.Wait(ctx, key)
		if err != nil {
			return err
		}
		defer done()
		_, err = c.pd.ManageEventWithContext(ctx, ev)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("pagerduty trigger: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("dedup_key", p.DedupKey).Msg("pagerduty incident triggered")
	return nil
}

// classify: 429 and 5xx (and 408) are transient, other 4xx permanent, network failures transient.
// PagerDuty asks for a pause on 429; its limits reset each minute.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var api pagerduty.APIError
	if errors.As(err, &api) {
		switch {
		case api.RateLimited():
			return retry.After(fmt.Errorf("rate limited (HTTP 429)"), 5*time.Second)
		case api.Temporary() || api.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("HTTP %d", api.StatusCode)
		default:
			return retry.Permanent(fmt.Errorf("event rejected (HTTP %d)", api.StatusCode))
		}
	}
	return err
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
