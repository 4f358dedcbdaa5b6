package fakegithub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

func TestRateLimitHeaders(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	_, resp, err := c.Issues.ListByRepo(ctx, "acme", "alarms", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rate.Limit != 5000 || resp.Rate.Remaining != 4999 || resp.Rate.Reset.IsZero() ||
		resp.Header.Get("X-RateLimit-Used") != "1" || resp.Header.Get("X-RateLimit-Resource") != "core" {
		t.Errorf("rate = %+v used=%q resource=%q", resp.Rate, resp.Header.Get("X-RateLimit-Used"), resp.Header.Get("X-RateLimit-Resource"))
	}
	_, resp, err = c.Search.Issues(ctx, "repo:acme/alarms x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-RateLimit-Resource") != "search" || resp.Rate.Limit != 30 || resp.Rate.Remaining != 29 {
		t.Errorf("search counted in its own resource: resource=%q remaining=%d", resp.Header.Get("X-RateLimit-Resource"), resp.Rate.Remaining)
	}
	limits, _, err := c.RateLimit.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if limits.GetCore().Remaining != 4999 || limits.GetSearch().Limit != 30 || limits.GetSearch().Remaining != 29 {
		t.Errorf("GET /rate_limit: core %+v search %+v", limits.GetCore(), limits.GetSearch())
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	s.SetPrimaryLimit(3, time.Hour)
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	for i := range 3 {
		_, resp, err := c.Issues.ListByRepo(ctx, "acme", "alarms", nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if resp.Rate.Remaining != 2-i {
			t.Errorf("request %d: remaining %d, want %d", i+1, resp.Rate.Remaining, 2-i)
		}
	}
	listCalls := func() int { return s.Calls()["GET /repos/{owner}/{repo}/issues"] }

	// go-github saw Remaining 0 and refuses locally: the server sees nothing.
	_, _, err := c.Issues.ListByRepo(ctx, "acme", "alarms", nil)
	var rle *github.RateLimitError
	if !errors.As(err, &rle) || listCalls() != 3 || s.LimitViolations() != 0 {
		t.Errorf("same client: err=%v calls=%d violations=%d, want local RateLimitError", err, listCalls(), s.LimitViolations())
	}

	// A fresh client reaches the server, which refuses it.
	_, _, err = newClient(t, s, "ghp_testtoken").Issues.ListByRepo(ctx, "acme", "alarms", nil)
	if !errors.As(err, &rle) || rle.Rate.Remaining != 0 || rle.Response.StatusCode != http.StatusForbidden ||
		!strings.Contains(rle.Message, "API rate limit exceeded") {
		t.Fatalf("fresh client: %v, want server RateLimitError", err)
	}
	if listCalls() != 4 || s.LimitViolations() != 1 {
		t.Errorf("calls=%d violations=%d, want 4 and 1", listCalls(), s.LimitViolations())
	}

	// Search has its own budget; a new window restores core.
	if _, _, err := newClient(t, s, "ghp_testtoken").Search.Issues(ctx, "repo:acme/alarms x", nil); err != nil {
		t.Errorf("search while core is exhausted: %v", err)
	}
	clk.Advance(time.Hour)
	if _, _, err := newClient(t, s, "ghp_testtoken").Issues.ListByRepo(ctx, "acme", "alarms", nil); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	s.SetSecondaryLimit(2)
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	mustCreate(t, c, "one", "")
	clk.Advance(10 * time.Second)
	mustCreate(t, c, "two", "")
	// Reads are not content-creating and stay allowed.
	if _, _, err := c.Issues.Get(ctx, "acme", "alarms", 1); err != nil {
		t.Fatalf("read under the secondary limit: %v", err)
	}
	clk.Advance(5 * time.Second)

	_, _, err := c.Issues.Create(ctx, "acme", "alarms", &github.IssueRequest{Title: github.String("three")})
	var are *github.AbuseRateLimitError
	if !errors.As(err, &are) {
		t.Fatalf("third create: %v (%T), want *github.AbuseRateLimitError", err, err)
	}
	// The first slot frees 60 s after the first create, 15 s ago.
	if are.RetryAfter == nil || *are.RetryAfter != 45*time.Second {
		t.Errorf("RetryAfter = %v, want 45s", are.RetryAfter)
	}
	if s.IssueCount(testRepo) != 2 || s.LimitViolations() != 1 || s.ContentCreatingCalls() != 3 {
		t.Errorf("issues=%d violations=%d content calls=%d, want 2, 1, 3",
			s.IssueCount(testRepo), s.LimitViolations(), s.ContentCreatingCalls())
	}

	// Once a slot frees, a client that has not been told to wait may create again.
	clk.Advance(45 * time.Second)
	mustCreate(t, newClient(t, s, "ghp_testtoken"), "three", "")
	if s.IssueCount(testRepo) != 3 {
		t.Errorf("issues = %d, want 3", s.IssueCount(testRepo))
	}
}

func TestSecondaryLimitWindows(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	// github.com's 80/min and 500/h at a clock 60 times faster: 80/s and 500/min, here 2/s and 3/min.
	s.SetSecondaryLimits(Window{Limit: 2, Span: time.Second}, Window{Limit: 3, Span: time.Minute})
	ctx := context.Background()
	retryAfter := func(title string) time.Duration {
		t.Helper()
		_, _, err := newClient(t, s, "ghp_testtoken").Issues.Create(ctx, "acme", "alarms", &github.IssueRequest{Title: &title})
		var are *github.AbuseRateLimitError
		if !errors.As(err, &are) || are.RetryAfter == nil {
			t.Fatalf("create %q: %v, want *github.AbuseRateLimitError with RetryAfter", title, err)
		}
		return *are.RetryAfter
	}
	c := newClient(t, s, "ghp_testtoken")
	mustCreate(t, c, "one", "")
	mustCreate(t, c, "two", "")
	if got := retryAfter("three"); got != time.Second {
		t.Errorf("short window full: RetryAfter %v, want 1s", got)
	}
	clk.Advance(time.Second)
	mustCreate(t, newClient(t, s, "ghp_testtoken"), "three", "")
	// The long window now holds 3: its first slot frees a minute after "one", 1 s ago.
	if got := retryAfter("four"); got != 59*time.Second {
		t.Errorf("long window full: RetryAfter %v, want 59s", got)
	}
	if s.IssueCount(testRepo) != 3 || s.LimitViolations() != 2 {
		t.Errorf("issues=%d violations=%d, want 3 and 2", s.IssueCount(testRepo), s.LimitViolations())
	}
	clk.Advance(59 * time.Second)
	mustCreate(t, newClient(t, s, "ghp_testtoken"), "four", "")
}

func TestDefaultSecondaryLimitsIncludeTheHourlyOne(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	start := clk.Now()
	// One a second stays under 80 a minute; the 501st within the hour is refused.
	for i := range 500 {
		mustCreate(t, c, fmt.Sprintf("issue %d", i), "")
		clk.Advance(time.Second)
	}
	title := "one too many"
	_, _, err := c.Issues.Create(context.Background(), "acme", "alarms", &github.IssueRequest{Title: &title})
	var are *github.AbuseRateLimitError
	if !errors.As(err, &are) || are.RetryAfter == nil {
		t.Fatalf("501st create: %v, want *github.AbuseRateLimitError", err)
	}
	if want := start.Add(time.Hour).Sub(clk.Now()); *are.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (an hour after the first)", *are.RetryAfter, want)
	}
}

// TestDefaultContentCreatingLimitRefuses: with nothing set, the fake refuses the 81st
// content-creating request within a minute as github.com does, 403 with Retry-After and the
// secondary-rate-limit message, and stores nothing; a read still passes.
func TestDefaultContentCreatingLimitRefuses(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	for i := range 80 {
		mustCreate(t, c, fmt.Sprintf("issue %d", i), "")
		clk.Advance(100 * time.Millisecond)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+"repos/acme/alarms/issues", strings.NewReader(`{"title":"one too many"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer ghp_testtoken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Message string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	// The first create leaves the minute 60 s after it was made, 8 s ago.
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Retry-After") != "52" ||
		!strings.HasPrefix(body.Message, "You have exceeded a secondary rate limit") {
		t.Errorf("81st create in a minute: HTTP %d, Retry-After %q, message %q; want 403, 52 and the secondary-limit message",
			resp.StatusCode, resp.Header.Get("Retry-After"), body.Message)
	}
	if s.IssueCount(testRepo) != 80 || s.LimitViolations() != 1 {
		t.Errorf("issues %d, violations %d; want 80 and 1", s.IssueCount(testRepo), s.LimitViolations())
	}
	if _, _, err := c.Issues.Get(context.Background(), "acme", "alarms", 1); err != nil {
		t.Errorf("a read beside the full window: %v", err)
	}
}
