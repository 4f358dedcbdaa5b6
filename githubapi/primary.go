package githubapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/retry"
)

// PrimaryReserve is the part of GitHub's primary limit (5,000 requests an hour per token, an App
// installation up to 12,500) that dispatch does not spend as fast as it can, in percent. The limit
// is the credential's, and every replica spends it: each one reads what is left from GitHub's own
// X-RateLimit-Remaining, so they see the same count. Once less than this share is left before the
// window's reset, each request takes its turn so that the rest lasts until the reset (the turns of
// Options.Replicas replicas together): waiting for it when it is near, failing transiently until it
// when it is not (ReserveError). Without it a busy hour spends the budget in its first
// minutes, GitHub then refuses every request until the reset, audit trail and all, and the
// replicas that had not yet seen the 403 keep asking: GitHub may block an integration that makes
// requests while it is rate limited.
const PrimaryReserve = 10

// primaryBudget follows the "core" primary limit as GitHub reports it and spaces requests out
// while in the reserve. It is shared by every request of a Client (pacePrimary).
type primaryBudget struct {
	replicas int
	observe  func(limit, remaining int) // Options.OnPrimary
	now      func() time.Time

	mu        sync.Mutex
	limit     int       // X-RateLimit-Limit, 0 until GitHub said
	remaining int       // X-RateLimit-Remaining
	reset     time.Time // X-RateLimit-Reset
	next      time.Time // the turn of the next request while in the reserve
	inFlight  int       // requests sent whose answers have not come: spent, but not yet in remaining
}

// maxPrimaryHold is the longest a request waits in the transport for its turn in the reserve. A
// later turn is not taken: the request fails at once with a ReserveError, which the retries wait
// out outside the HTTP client's timeout (a queue of requests held for their turns would time out
// one after another, each wasting the turn it held).
const maxPrimaryHold = 5 * time.Second

// ReserveError is a request not made because its turn in the primary limit's reserve (or the
// reset, once GitHub said nothing is left) is more than a few seconds away: transient, to retry
// from Until.
type ReserveError struct{ Until time.Time }

func (e *ReserveError) Error() string {
	return fmt.Sprintf("github: holding back to spread the last tenth of the hourly request budget: next turn at %s", e.Until.UTC().Format(time.TimeOnly))
}

// turn returns when a request may go and takes that turn: now outside the reserve; in it, a turn
// in what is left, shared by the replicas, spread evenly up to the reset, when the budget is whole
// again. A turn more than maxPrimaryHold away is returned but not taken (ok false).
func (b *primaryBudget) turn() (at time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, reserved := b.nextLocked()
	if reserved && at.Sub(b.now()) > maxPrimaryHold {
		return at, false
	}
	b.inFlight++
	if reserved {
		b.next = at
	}
	return at, true
}

// delay is how long a request made now would wait for its turn.
func (b *primaryBudget) delay() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, _ := b.nextLocked()
	return max(at.Sub(b.now()), 0)
}

// spentUntil is the reset while GitHub last said nothing is left, else the zero time.
func (b *primaryBudget) spentUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && b.remaining <= 0 {
		return b.reset
	}
	return time.Time{}
}

// nextLocked is the next turn, and whether it is one in the reserve. b.mu must be held.
func (b *primaryBudget) nextLocked() (at time.Time, reserved bool) {
	now := b.now()
	left := b.remaining - b.inFlight // this replica's requests in flight are spent already
	if b.limit <= 0 || left*100 >= b.limit*PrimaryReserve || !now.Before(b.reset) {
		return now, false
	}
	if left <= 0 {
		return b.reset, true // nothing left, as far as this replica knows
	}
	// Each replica's turns a spacing apart, the first a spacing from now: together they take no
	// more than what is left before the reset.
	spacing := b.reset.Sub(now) * time.Duration(max(b.replicas, 1)) / time.Duration(left)
	last := now
	if b.next.After(last) {
		last = b.next
	}
	at = last.Add(spacing)
	if at.After(b.reset) {
		at = b.reset
	}
	return at, true
}

// done ends a request that turn let go, and takes what its answer (h, nil without one) says of the
// primary limit, in one step, so that no turn counts the request twice or not at all. Answers of
// another resource (search) and answers without the headers (an error before GitHub, the App token
// endpoint) say nothing of it.
func (b *primaryBudget) done(h http.Header) {
	b.mu.Lock()
	b.inFlight--
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if r := h.Get("X-RateLimit-Resource"); (r != "" && r != "core") || err1 != nil || err2 != nil || err3 != nil || limit <= 0 {
		b.mu.Unlock()
		return
	}
	at := time.Unix(reset, 0)
	if at.After(b.reset) || remaining < b.remaining || b.limit == 0 {
		// Answers overtake each other: the newest window, and in it the lowest count, is the truth.
		if at.After(b.reset) {
			b.next = time.Time{}
		}
		b.limit, b.remaining, b.reset = limit, remaining, at
	}
	limit, remaining = b.limit, b.remaining
	b.mu.Unlock()
	if b.observe != nil {
		b.observe(limit, remaining)
	}
}

// pacePrimary holds every request for its turn in the primary budget, and reads the budget off
// every answer.
type pacePrimary struct {
	b    *primaryBudget
	next http.RoundTripper
}

func (t pacePrimary) RoundTrip(r *http.Request) (*http.Response, error) {
	closeBody := func() {
		if r.Body != nil {
			r.Body.Close() // the RoundTripper contract, even on errors
		}
	}
	at, ok := t.b.turn()
	if !ok {
		closeBody()
		return nil, &ReserveError{Until: at}
	}
	err := retry.Sleep(r.Context(), at.Sub(t.b.now()))
	if until := t.b.spentUntil(); err == nil && until.After(t.b.now()) {
		// Spent while this one waited its turn (the other replicas spend it too): after the reset.
		err = &ReserveError{Until: until}
	}
	if err != nil {
		t.b.done(nil)
		closeBody()
		return nil, err
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.b.done(nil)
		return nil, err
	}
	h := resp.Header
	if strings.Contains(r.URL.Path, "/search/") {
		h = nil // the search limit's count, even from a server that doesn't name its resource
	}
	t.b.done(h)
	return resp, nil
}
