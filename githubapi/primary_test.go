package githubapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// TestReplicasSpreadThePrimaryLimitsReserveAndNeverSpendIt: two replicas sharing one token (each a
// Client told Replicas: 2) read as fast as they can against a fake GitHub whose primary limit
// is 200 requests a 4-second window (github.com's 5,000 an hour on a faster clock). They spend the
// first 180 at once, then take turns in the last tenth so that it lasts until the reset: GitHub
// refuses none of their requests, although they keep asking past the reset. Without the turns the
// replica that has not yet seen the 403 of the other asks into the spent limit.
func TestReplicasSpreadThePrimaryLimitsReserveAndNeverSpendIt(t *testing.T) {
	const limit, window = 200, 4 * time.Second
	srv := fakegithub.New(fakegithub.Options{Token: indexToken})
	t.Cleanup(srv.Close)
	srv.AddRepo(indexRepo)
	srv.SetSecondaryLimit(0)
	srv.SetPointsLimit(0, 0) // only the primary limit
	srv.SetPrimaryLimit(limit, window)
	seedDispatch(srv, "Seen", "<!-- dispatch alarm=seen user= -->", false)
	var mu sync.Mutex
	lowest := limit
	replica := func() *Client {
		c, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), indexToken, nil)},
			Pace: []pace.Window{}, Points: []pace.Window{}, Retry: retry.Policy{Attempts: 1}, Replicas: 2,
			OnPrimary: func(_, remaining int) { mu.Lock(); lowest = min(lowest, remaining); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := time.Now()
	end := started.Add(window * 3 / 2) // into the second window
	var wg sync.WaitGroup
	var answered, refusedLocally int
	for range 2 {
		c := replica()
		for range 4 { // each replica's workers
			wg.Go(func() {
				for time.Now().Before(end) {
					_, err := c.Comments(ctx, indexRepo, 1)
					mu.Lock()
					if err == nil {
						answered++
					} else {
						refusedLocally++ // held back for a later turn, or go-github's refusal once it saw 0 left
					}
					mu.Unlock()
					var rl *github.RateLimitError
					var re *ReserveError
					switch {
					case errors.As(err, &re): // as dispatch's retries do: wait for the turn
						_ = retry.Sleep(ctx, time.Until(re.Until))
					case errors.As(err, &rl): // or the reset
						_ = retry.Sleep(ctx, time.Until(rl.Rate.Reset.Time))
					case err != nil:
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if v := srv.LimitViolations(); v != 0 {
		t.Errorf("GitHub refused %d requests for the spent primary limit, want 0", v)
	}
	if lowest > limit*PrimaryReserve/100 {
		t.Errorf("the lowest remaining seen was %d: the test never reached the reserve", lowest)
	}
	// The reserve is spent over the window, not left unused: more than the first window's 180 went.
	if answered <= limit-limit*PrimaryReserve/100 {
		t.Errorf("%d requests answered in 1.5 windows, want more than %d", answered, limit-limit*PrimaryReserve/100)
	}
	t.Logf("%d requests answered, %d refused by go-github itself, lowest remaining %d", answered, refusedLocally, lowest)
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestASearchCountIsNotTheHourlyBudget: a server that doesn't name its counts' resource answers a
// search with the search limit's count (30 a minute, 1 left): that is not the primary limit, and
// no request after it waits for a turn.
func TestASearchCountIsNotTheHourlyBudget(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	b := &primaryBudget{now: time.Now}
	tr := pacePrimary{b: b, next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"4000"}, "X-Ratelimit-Reset": {reset}}
		if strings.HasPrefix(r.URL.Path, "/search/") {
			h = http.Header{"X-Ratelimit-Limit": {"30"}, "X-Ratelimit-Remaining": {"1"}, "X-Ratelimit-Reset": {reset}}
		}
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: http.NoBody}, nil
	})}
	for _, path := range []string{"/repos/acme/alarms/issues/1", "/search/issues"} {
		req, _ := http.NewRequest(http.MethodGet, "https://api.github.com"+path, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	if b.remaining != 4000 || b.delay() != 0 {
		t.Errorf("remaining %d, delay %s after a search: want the core count (4000) and no wait", b.remaining, b.delay())
	}
}

// TestATurnFarAwayIsNotWaitedForInTheTransport: with 10 of 5,000 requests left and an hour to the
// reset, the next turn is 6 minutes away. The request is not held (the HTTP client's timeout would
// end it, wasting the turn): it fails at once, sending nothing, with an error the retries wait out
// until that turn, and the turn stays free for whoever asks then.
func TestATurnFarAwayIsNotWaitedForInTheTransport(t *testing.T) {
	now := time.Now()
	b := &primaryBudget{now: func() time.Time { return now }, limit: 5000, remaining: 10, reset: now.Add(time.Hour)}
	sent := 0
	tr := pacePrimary{b: b, next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent++
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}, nil
	})}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	started := time.Now()
	_, err := c.Get("https://api.github.com/repos/acme/alarms/issues/1/comments")
	if took := time.Since(started); err == nil || took > time.Second {
		t.Fatalf("Get = %v after %s, want an error at once", err, took)
	}
	after, ok := retry.RetryAfter(classify(err))
	if !ok || after < 5*time.Minute || after > 7*time.Minute {
		t.Errorf("retry after %s (%v), want the turn 6 minutes away", after, ok)
	}
	if sent != 0 || !b.next.IsZero() || b.inFlight != 0 {
		t.Errorf("sent %d, next turn %s, in flight %d: want nothing sent and the turn left free", sent, b.next, b.inFlight)
	}
}
