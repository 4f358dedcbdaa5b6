package githubapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// TestEveryRequestIsPacedWithinGitHubsPoints: a burst of writes (5 points each), reads (1) and
// index refreshes answered 304 (1: GitHub counts requests, not answers) worth more than the points
// limit at once, against a fake GitHub enforcing that limit (on a faster clock) and no other, is
// held back by the client until the window allows it: no request is refused.
func TestEveryRequestIsPacedWithinGitHubsPoints(t *testing.T) {
	const limit, span = 60, 400 * time.Millisecond
	srv := fakegithub.New(fakegithub.Options{Token: indexToken})
	t.Cleanup(srv.Close)
	srv.AddRepo(indexRepo)
	srv.SetSecondaryLimit(0) // only the points: the content-creating limit has its own pacing
	srv.SetPointsLimit(limit, span)
	seedDispatch(srv, "Seen", "<!-- dispatch alarm=seen user= -->", false)
	c, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), indexToken, nil)},
		Pace: []pace.Window{}, Points: []pace.Window{{Limit: limit, Span: span}},
		IndexMaxAge: time.Nanosecond, Retry: retry.Policy{Attempts: 1}}) // every lookup refreshes; a 403 fails the call
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	fail := func(what string, err error) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	// The reads first, so that nothing changes the listing and its refreshes are answered 304.
	for range 20 { // 20 points
		wg.Go(func() { _, err := c.Get(ctx, indexRepo, 1); fail("get", err) })
	}
	wg.Go(func() { // 20 points: refreshes of the index, one after another (at once they would be one), most answered 304
		for range 20 {
			_, err := c.FindByTitle(ctx, indexRepo, "Seen", false)
			fail("lookup", err)
		}
	})
	wg.Wait()
	for i := range 10 { // 50 points, at once after the reads' 40
		wg.Go(func() {
			_, err := c.Create(ctx, indexRepo, handlers.NewIssue{Title: fmt.Sprintf("Alarm %d", i), Body: "x", Labels: []string{"dispatch"}})
			fail("create", err)
		})
	}
	wg.Wait()
	if v := srv.LimitViolations(); v != 0 {
		t.Errorf("the fake refused %d requests: the client passed %d points in %s", v, limit, span)
	}
	if _, peak := srv.Points(); peak > limit || peak < limit/2 {
		t.Errorf("at most %d points in a window, want up to %d (and the burst to fill it)", peak, limit)
	}
	if srv.NotModifiedCalls() == 0 {
		t.Error("no index refresh was answered 304: the burst did not have the conditional requests it means to count")
	}
}
