package pagerdutyapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// RESTLimits follow PagerDuty's REST API limit: about 960 requests a minute per API key.
var RESTLimits = []pace.Window{{Limit: 960, Span: time.Minute}}

// Incidents reads incidents through the REST API with a read-only key (PAGERDUTY_API_TOKEN): it
// confirms a change before dispatch acts on it (handlers.IncidentStates) and lists an incident's
// changes for polling. Every request is paced within RESTLimits and held, when PagerDuty's
// ratelimit-remaining header reaches 0, until its ratelimit-reset. It is safe for concurrent use.
type Incidents struct {
	pd    *pagerduty.Client
	pace  *pace.Pacer
	gate  *rateGate
	retry retry.Policy
}

var _ handlers.IncidentStates = (*Incidents)(nil)

// NewIncidents makes an Incidents; limits nil means RESTLimits (divided between replicas by the
// caller).
func NewIncidents(opts RESTOptions, limits []pace.Window, policy retry.Policy) *Incidents {
	if limits == nil {
		limits = RESTLimits
	}
	if policy.Attempts == 0 {
		policy = retry.Default
	}
	gate := &rateGate{}
	base := http.DefaultClient
	if opts.HTTPClient != nil {
		base = opts.HTTPClient
	}
	hc := *base
	tr := hc.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	hc.Transport = gateTransport{next: tr, gate: gate}
	pd := pagerduty.NewClient(opts.Token, pagerduty.WithAPIEndpoint(strings.TrimSuffix(opts.APIURL, "/")))
	pd.HTTPClient = &hc
	return &Incidents{pd: pd, pace: pace.New(limits...), gate: gate, retry: policy}
}

// call runs one REST request within the pacing and the rate-limit headers, retrying transient
// failures.
func (i *Incidents) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	return i.retry.Do(ctx, *zerolog.Ctx(ctx), what, func(ctx context.Context) error {
		if err := i.gate.wait(ctx); err != nil {
			return err
		}
		done, err := i.pace.Wait(ctx)
		if err != nil {
			return err
		}
		defer done()
		return classify(fn(ctx))
	})
}

// newest returns the most recently created incident with key, if any.
func (i *Incidents) newest(ctx context.Context, key string) (pagerduty.Incident, bool, error) {
	var list []pagerduty.Incident
	err := i.call(ctx, "pagerduty list incidents", func(ctx context.Context) error {
		resp, err := i.pd.ListIncidentsWithContext(ctx, pagerduty.ListIncidentsOptions{IncidentKey: key, DateRange: "all", SortBy: "created_at:desc", Limit: 5})
		if err == nil {
			list = resp.Incidents
		}
		return err
	})
	if err != nil {
		return pagerduty.Incident{}, false, fmt.Errorf("pagerduty incidents by key: %w", err)
	}
	slices.SortStableFunc(list, func(a, b pagerduty.Incident) int { return strings.Compare(b.CreatedAt, a.CreatedAt) })
	for _, inc := range list {
		if inc.IncidentKey == key {
			return inc, true, nil
		}
	}
	return pagerduty.Incident{}, false, nil
}

// Status returns the state of the newest incident whose incident_key is key.
func (i *Incidents) Status(ctx context.Context, key string) (handlers.IncidentStatus, error) {
	inc, found, err := i.newest(ctx, key)
	if err != nil || !found {
		return handlers.IncidentStatus{}, err
	}
	return handlers.IncidentStatus{Found: true, Status: inc.Status}, nil
}

// Changes returns the changes of the newest incident with key, oldest first, from its log entries
// (GET /incidents/{id}/log_entries): the resolve entry's agent is who resolved it. It returns none
// when PagerDuty has no such incident.
func (i *Incidents) Changes(ctx context.Context, key string) ([]handlers.IncidentChange, error) {
	inc, found, err := i.newest(ctx, key)
	if err != nil || !found {
		return nil, err
	}
	var entries []pagerduty.LogEntry
	err = i.call(ctx, "pagerduty incident log entries", func(ctx context.Context) error {
		resp, err := i.pd.ListIncidentLogEntriesWithContext(ctx, inc.ID, pagerduty.ListIncidentLogEntriesOptions{Limit: 100})
		if err == nil {
			entries = resp.LogEntries
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pagerduty log entries of %s: %w", inc.ID, err)
	}
	slices.Reverse(entries) // PagerDuty lists the newest first; times are whole seconds
	var out []handlers.IncidentChange
	for _, le := range entries {
		kind, ok := logKinds[le.Type]
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339, le.CreatedAt)
		if err != nil {
			continue
		}
		ch := handlers.IncidentChange{ID: le.ID, Incident: inc.ID, Key: key, Kind: kind, By: le.Agent.Summary, At: at, URL: inc.HTMLURL}
		if len(le.Assignees) > 0 {
			ch.To = le.Assignees[0].Summary
		}
		if n, ok := le.Channel.Raw["resolution_note"].(string); ok {
			ch.Note = n
		}
		out = append(out, ch)
	}
	slices.SortStableFunc(out, func(a, b handlers.IncidentChange) int { return a.At.Compare(b.At) })
	return out, nil
}

// rateGate holds requests while PagerDuty's ratelimit-remaining header says none are left, until
// its ratelimit-reset (seconds).
type rateGate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *rateGate) wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.until)
	g.mu.Unlock()
	return retry.Sleep(ctx, d)
}

func (g *rateGate) observe(h http.Header) {
	remaining, err := strconv.Atoi(h.Get("ratelimit-remaining"))
	if err != nil || remaining > 0 {
		return
	}
	reset, err := strconv.Atoi(h.Get("ratelimit-reset"))
	if err != nil || reset < 0 {
		reset = 1
	}
	g.mu.Lock()
	g.until = time.Now().Add(time.Duration(reset) * time.Second)
	g.mu.Unlock()
}

// gateTransport feeds each response's rate-limit headers to the gate.
type gateTransport struct {
	next http.RoundTripper
	gate *rateGate
}

func (t gateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		t.gate.observe(resp.Header)
	}
	return resp, err
}
