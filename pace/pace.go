// Package pace holds calls to an outside service within its documented rate limits, ahead of time,
// so dispatch never has to be told to slow down (GitHub blocks a token that ignores its secondary
// limits; Slack and PagerDuty answer 429).
package pace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrWouldWait is returned by Wait when a ctx made by WithMaxWait allows less waiting than the
// limits ask for: the caller does something else first (a prompt goes before its issue).
var ErrWouldWait = errors.New("pace: the limit would hold the request longer than the caller allows")

type maxWaitKey struct{}

// WithMaxWait returns ctx with a bound on how long Wait may hold a request under it. Unlike a
// deadline it ends nothing else: it is checked in the same step that admits a request, so callers
// racing for the last places of a window can't all be told "no wait" and then queue behind it.
func WithMaxWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, maxWaitKey{}, d)
}

type lowKey struct{}

// WithLowPriority marks ctx for a request that stands aside for the others (see WaitAside): a
// thread reply behind the prompts of a burst. Adapters that pace several limits for one call read
// it with IsLowPriority.
func WithLowPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, lowKey{}, true)
}

// IsLowPriority reports whether ctx was made by WithLowPriority.
func IsLowPriority(ctx context.Context) bool {
	low, _ := ctx.Value(lowKey{}).(bool)
	return low
}

// Window is one limit: at most Limit requests in any Span, or, for requests of different weights
// (WaitN), at most Limit of their weight: GitHub's points, where a write costs five reads.
type Window struct {
	Limit int
	Span  time.Duration
}

// Pacer admits requests so that no window's limit is ever exceeded, keeping the requests of the
// longest span (no more than its limit allows). It is exact, not a token bucket approximation, and it
// counts each request from when it *finished*: the service counts arrivals, which fall somewhere
// between a request's start and its end, so two requests a span apart by their start could land
// closer than that when the first one travelled slowly. Until a request finishes, it keeps its
// window's slot. A nil *Pacer admits everything.
type Pacer struct {
	mu      sync.Mutex
	windows []Window
	reqs    []*request // in the order admitted: those in flight or finished within the longest span
	waiting int        // requests waiting their turn in Wait
	now     func() time.Time
}

type request struct {
	at     time.Time // when it finished, once done
	done   bool
	weight int // its places in each window: 1, or WaitN's n
}

// inFlightPoll is how often a waiter looks again while the request it waits on is still in flight.
const inFlightPoll = 20 * time.Millisecond

// asidePoll is how often WaitAside looks again: often enough that a low-priority request follows a
// burst closely, seldom enough that hundreds of them waiting cost nothing.
const asidePoll = 250 * time.Millisecond

// New makes a Pacer for the windows; with none it admits everything.
func New(windows ...Window) *Pacer {
	return &Pacer{windows: windows, now: time.Now}
}

// Wait blocks until a request may be made, and counts it as made. Call done when the request has
// finished (its response arrived, or it failed). It returns ctx's error if ctx ends first.
func (p *Pacer) Wait(ctx context.Context) (done func(), err error) { return p.WaitN(ctx, 1) }

// WaitN is Wait for a request that takes n places in each window (n < 1 counts as 1): a GitHub
// write, which costs 5 of the 900 points a minute a read costs 1 of. It is admitted only when all n
// fit, so a heavy request waits until that many places are free; with one window and requests
// this light beside a limit this large, that is at most one heavy request's worth of places later
// than a light one would go.
func (p *Pacer) WaitN(ctx context.Context, n int) (done func(), err error) {
	n = max(n, 1)
	if p == nil || len(p.windows) == 0 {
		return func() {}, nil
	}
	limit, bounded := ctx.Value(maxWaitKey{}).(time.Duration)
	start := p.now()
	counted := false // this request is counted in p.waiting
	defer func() {
		if counted {
			p.mu.Lock()
			p.waiting--
			p.mu.Unlock()
		}
	}()
	for {
		p.mu.Lock()
		now := p.now()
		wait := p.delayLocked(now, false, n)
		// The estimate counts a request still in flight as ending now: its slot frees a span later.
		if est := p.delayLocked(now, true, n); bounded && wait > 0 && now.Sub(start)+est > limit {
			p.mu.Unlock()
			return func() {}, fmt.Errorf("%w (%s)", ErrWouldWait, est.Round(time.Millisecond))
		}
		if wait <= 0 {
			r := p.admitLocked(n)
			p.mu.Unlock()
			return p.doneFunc(r), nil
		}
		if !counted {
			p.waiting++
			counted = true
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return func() {}, ctx.Err()
		case <-t.C:
		}
	}
}

// admitLocked counts a request of weight n as made now. p.mu must be held.
func (p *Pacer) admitLocked(n int) *request {
	// Forget the requests that have left every window. Requests finish in no particular order, so
	// one made before another may still count after it has left: each is judged by its own time.
	now, span := p.now(), p.maxSpan()
	keep := p.reqs[:0]
	for _, r := range p.reqs {
		if !r.done || now.Sub(r.at) < span {
			keep = append(keep, r)
		}
	}
	clear(p.reqs[len(keep):])
	r := &request{weight: n}
	p.reqs = append(keep, r)
	return r
}

// doneFunc marks r finished, once.
func (p *Pacer) doneFunc(r *request) func() {
	return func() {
		p.mu.Lock()
		if !r.done {
			r.at, r.done = p.now(), true
		}
		p.mu.Unlock()
	}
}

// WaitAside is Wait for a low-priority request that needs a place in each of ps at once (a Slack
// post: its channel's and the workspace's): it takes them only together, and only when every one
// of ps would admit a request now and no other request waits for any of them, looking again every
// asidePoll. So it never holds one pacer's place while it waits for another's, and never goes
// before a request of normal priority. A nil pacer admits everything; ps must be distinct, and
// callers that share pacers must list them in one order (slackapi: the channel, then the workspace).
func WaitAside(ctx context.Context, ps ...*Pacer) (done func(), err error) {
	for {
		if done, ok := takeAll(ps); ok {
			return done, nil
		}
		t := time.NewTimer(asidePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return func() {}, ctx.Err()
		case <-t.C:
		}
	}
}

// takeAll admits one request in every pacer of ps if each is free, or in none.
func takeAll(ps []*Pacer) (done func(), ok bool) {
	var live []*Pacer
	for _, p := range ps {
		if p != nil && len(p.windows) > 0 {
			live = append(live, p)
		}
	}
	for _, p := range live { // in the caller's order: Wait and Delay hold one at a time
		p.mu.Lock()
	}
	defer func() {
		for _, p := range live {
			p.mu.Unlock()
		}
	}()
	for _, p := range live {
		if p.waiting > 0 || p.delayLocked(p.now(), false, 1) > 0 {
			return nil, false
		}
	}
	var dones []func()
	for _, p := range live {
		dones = append(dones, p.doneFunc(p.admitLocked(1)))
	}
	return func() {
		for _, d := range dones {
			d()
		}
	}, true
}

// Delay is how long a request made now would wait, without making one. Callers use it to choose
// between waiting and doing something else first.
func (p *Pacer) Delay() time.Duration { return p.DelayN(1) }

// DelayN is Delay for a request that takes n places (see WaitN).
func (p *Pacer) DelayN(n int) time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delayLocked(p.now(), true, max(n, 1))
}

// delayLocked is the wait before a request of weight n may start: until, in every window, enough
// of the requests in it have left for n more places (never more than the window has). A request
// finished leaves a span after it finished; one still in flight leaves last, a span after it
// finishes: an estimate counts it as finishing now, a waiter polls.
func (p *Pacer) delayLocked(now time.Time, estimate bool, n int) time.Duration {
	wait := time.Duration(0)
	var leaving []*request
	for _, w := range p.windows {
		excess := min(n, w.Limit) - w.Limit
		leaving = leaving[:0]
		for _, r := range p.reqs {
			switch {
			case !r.done:
				excess += r.weight
			case r.at.Add(w.Span).After(now):
				excess += r.weight
				leaving = append(leaving, r)
			}
		}
		if excess <= 0 {
			continue
		}
		slices.SortFunc(leaving, func(a, b *request) int { return a.at.Compare(b.at) })
		d := inFlightPoll
		if estimate {
			d = w.Span
		}
		for _, r := range leaving {
			if excess -= r.weight; excess <= 0 {
				d = r.at.Add(w.Span).Sub(now)
				break
			}
		}
		wait = max(wait, d)
	}
	return wait
}

func (p *Pacer) maxSpan() time.Duration {
	m := time.Duration(0)
	for _, w := range p.windows {
		m = max(m, w.Span)
	}
	return m
}

// Keyed keeps one Pacer per key (a Slack channel, a PagerDuty routing key), each with the same
// windows.
type Keyed struct {
	mu      sync.Mutex
	windows []Window
	pacers  map[string]*Pacer
}

// NewKeyed makes a Keyed pacer.
func NewKeyed(windows ...Window) *Keyed {
	return &Keyed{windows: windows, pacers: map[string]*Pacer{}}
}

// Wait waits for key's turn (see Pacer.Wait). A nil *Keyed admits everything.
func (k *Keyed) Wait(ctx context.Context, key string) (done func(), err error) {
	return k.Pacer(key).Wait(ctx)
}

// Pacer is key's pacer, made on first use (nil for a nil *Keyed, which admits everything).
func (k *Keyed) Pacer(key string) *Pacer {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.pacers[key]
	if p == nil {
		p = New(k.windows...)
		k.pacers[key] = p
	}
	return p
}

// Bucket returns the windows of a token bucket that starts full with burst tokens and gains one
// every interval, as Slack limits chat.postMessage per channel: any m requests in a row may come
// no closer together than (m−burst) intervals, which for m = L+1 is the window {L, (L+1−burst)
// intervals}. The windows are exact for runs of up to horizon requests; past that a last window of
// horizon per horizon intervals holds the rate, giving up the burst once a horizon (a few percent
// of throughput) rather than ever exceeding the bucket.
func Bucket(burst int, interval time.Duration, horizon int) []Window {
	burst, horizon = max(burst, 1), max(horizon, burst+1)
	var ws []Window
	for l := burst; l < horizon; l++ {
		ws = append(ws, Window{Limit: l, Span: time.Duration(l+1-burst) * interval})
	}
	return append(ws, Window{Limit: horizon, Span: time.Duration(horizon) * interval})
}

// Share returns the windows of one of n replicas that share a credential, and so its limits: each
// limit divided by n, rounded down, so that the n together never pass it. A limit smaller than n
// still admits one request a span (n ≤ 10, one per Socket Mode connection Slack allows an app,
// while the smallest limit dispatch paces within is Slack's burst of 4 a channel); n ≤ 1 leaves
// the windows as they are.
func Share(ws []Window, n int) []Window {
	if n <= 1 || ws == nil {
		return ws
	}
	out := make([]Window, len(ws))
	for i, w := range ws {
		out[i] = Window{Limit: max(w.Limit/n, 1), Span: w.Span}
	}
	return out
}

// Delay is how long a request for key made now would wait (see Pacer.Delay).
func (k *Keyed) Delay(key string) time.Duration {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	p := k.pacers[key]
	k.mu.Unlock()
	return p.Delay()
}
