package githubapi

import (
	"context"
	"errors"
	"net/http"
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
						refusedLocally++ // go-github's own refusal once it saw 0 left: no request made
					}
					mu.Unlock()
					var rl *github.RateLimitError
					if errors.As(err, &rl) { // as dispatch's retries do: wait for the reset
						_ = sleepUntil(ctx, rl.Rate.Reset.Time, time.Now)
					} else if err != nil {
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
