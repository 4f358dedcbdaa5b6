package fakegithub

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// TestSearchLimitIsCountedApart: 30 searches a minute, then 403 with the search resource's
// headers, while core requests go on.
func TestSearchLimitIsCountedApart(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	ctx := context.Background()
	c := newClient(t, s, "ghp_testtoken")
	for i := range 30 {
		if _, _, err := c.Search.Issues(ctx, "repo:acme/alarms x", nil); err != nil {
			t.Fatalf("search %d: %v", i+1, err)
		}
	}
	fresh := newClient(t, s, "ghp_testtoken") // c now refuses locally, as go-github does
	_, resp, err := fresh.Search.Issues(ctx, "repo:acme/alarms x", nil)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-RateLimit-Resource") != "search" ||
		resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("31st search: err %v, status %d, headers %v", err, resp.StatusCode, resp.Header)
	}
	if _, _, err := fresh.Issues.ListByRepo(ctx, "acme", "alarms", nil); err != nil {
		t.Errorf("core request after the search limit: %v", err)
	}
	clk.Advance(time.Minute)
	if _, _, err := newClient(t, s, "ghp_testtoken").Search.Issues(ctx, "repo:acme/alarms x", nil); err != nil {
		t.Errorf("search after the minute: %v", err)
	}
}

// TestPointsLimit: 900 points a minute, a read 1 and a write 5; the next is a secondary limit
// with Retry-After until enough points leave the window.
func TestPointsLimit(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	s.SetSecondaryLimits() // the content-creating windows would refuse the writes first
	ctx := context.Background()
	c := newClient(t, s, "ghp_testtoken")
	for i := range 100 { // 500 points
		mustCreate(t, c, "t"+strconv.Itoa(i), "")
	}
	clk.Advance(30 * time.Second)
	for i := range 400 { // 400 points: 900
		if _, _, err := c.Issues.Get(ctx, "acme", "alarms", 1); err != nil {
			t.Fatalf("read %d: %v", i+1, err)
		}
	}
	if cur, peak := s.Points(); cur != 900 || peak != 900 {
		t.Errorf("points = %d (peak %d), want 900", cur, peak)
	}
	_, resp, err := c.Issues.Get(ctx, "acme", "alarms", 1)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("901st point: err %v status %d", err, resp.StatusCode)
	}
	if got := abuse.GetRetryAfter(); got != 30*time.Second {
		t.Errorf("Retry-After %s, want 30s (when the writes leave the window)", got)
	}
	clk.Advance(30 * time.Second)
	if _, _, err := newClient(t, s, "ghp_testtoken").Issues.Get(ctx, "acme", "alarms", 1); err != nil {
		t.Errorf("read once the writes left the window: %v", err)
	}
	if s.LimitViolations() != 1 {
		t.Errorf("violations %d, want 1", s.LimitViolations())
	}
}

// TestConcurrencyLimit: with the limit at 2 and two requests held by the handler hook's latency,
// a third is refused with Retry-After 60.
func TestConcurrencyLimit(t *testing.T) {
	s := newFake(t, Options{})
	s.SetConcurrencyLimit(2)
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	held := 0
	var mu sync.Mutex
	s.mux.HandleFunc("GET /hold", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		held++
		mu.Unlock()
		entered.Done()
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	c := newClient(t, s, "ghp_testtoken")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			req, _ := c.NewRequest(http.MethodGet, "hold", nil)
			_, _ = c.Do(ctx, req, nil)
		})
	}
	entered.Wait()
	_, resp, err := c.Issues.Get(ctx, "acme", "alarms", 1)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != time.Minute {
		t.Fatalf("third request in flight: err %v, resp %v", err, resp)
	}
	close(release)
	wg.Wait()
	if s.PeakInFlight() != 2 {
		t.Errorf("peak in flight %d, want 2", s.PeakInFlight())
	}
	if _, _, err := newClient(t, s, "ghp_testtoken").Issues.ListByRepo(ctx, "acme", "alarms", nil); err != nil {
		t.Errorf("after the two finished: %v", err)
	}
}
