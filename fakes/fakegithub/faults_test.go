package fakegithub

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

func TestFailNext(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	s.FailNext(2, http.StatusBadGateway)
	for i := range 2 {
		_, _, err := c.Issues.Create(ctx, "acme", "alarms", &github.IssueRequest{Title: github.String("x")})
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusBadGateway || !strings.Contains(er.Message, "injected") {
			t.Errorf("request %d: %v, want injected 502", i+1, err)
		}
	}
	mustCreate(t, c, "x", "")
	if got := s.Calls()["POST /repos/{owner}/{repo}/issues"]; got != 3 || s.IssueCount(testRepo) != 1 {
		t.Errorf("calls = %d issues = %d, want 3 and 1", got, s.IssueCount(testRepo))
	}
}

func TestSetFailFor(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	s.SetFailFor(time.Minute, http.StatusServiceUnavailable)
	for _, d := range []time.Duration{0, 59 * time.Second} {
		clk.Advance(d)
		if _, _, err := c.Users.Get(context.Background(), ""); statusOf(err) != http.StatusServiceUnavailable {
			t.Errorf("at +%v: %v, want 503", d, err)
		}
	}
	clk.Advance(time.Second)
	if _, _, err := c.Users.Get(context.Background(), ""); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestLatency(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	s.SetLatency(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Users.Get(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("call took %v; the client deadline should end it", el)
	}
	s.SetLatency(20 * time.Millisecond)
	start = time.Now()
	if _, _, err := c.Users.Get(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("call took %v, want at least the 20ms latency", el)
	}
}

func TestHandlerHook(t *testing.T) {
	s := newFake(t, Options{})
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	mustCreate(t, c, "alarm", "")
	s.SetHandlerHook(func(r *http.Request) (int, bool) {
		// The hook may use the inspection methods without deadlocking.
		_ = s.IssueCount(testRepo)
		return http.StatusInternalServerError, r.Method == http.MethodPatch
	})
	if _, _, err := c.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{State: github.String("closed")}); statusOf(err) != http.StatusInternalServerError {
		t.Errorf("patch: %v, want 500", err)
	}
	if _, _, err := c.Issues.Get(ctx, "acme", "alarms", 1); err != nil {
		t.Errorf("get passes the hook: %v", err)
	}
	if is, _ := s.Issue(testRepo, 1); is.State != "open" {
		t.Errorf("failed PATCH changed the issue: %s", is.State)
	}
	s.SetHandlerHook(nil)
	if _, _, err := c.Issues.Edit(ctx, "acme", "alarms", 1, &github.IssueRequest{State: github.String("closed")}); err != nil {
		t.Errorf("patch without hook: %v", err)
	}
}

func TestConnectLatencyChargesNewConnections(t *testing.T) {
	s := newFake(t, Options{})
	s.SetConnectLatency(150 * time.Millisecond)
	get := func(c *http.Client) time.Duration {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"repos/acme/alarms", nil)
		req.Header.Set("Authorization", "token ghp_testtoken")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // read to the end, so the connection is reused
		resp.Body.Close()
		return time.Since(start)
	}
	kept := &http.Client{Transport: &http.Transport{}}
	if d := get(kept); d < 150*time.Millisecond {
		t.Errorf("first request on a new connection took %v, want at least the connect latency", d)
	}
	if d := get(kept); d >= 150*time.Millisecond {
		t.Errorf("a reused connection took %v: it was charged the connect latency", d)
	}
	if d := get(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}); d < 150*time.Millisecond {
		t.Errorf("another new connection took %v", d)
	}
	if s.TCPConnections() != 2 {
		t.Errorf("TCPConnections = %d, want 2", s.TCPConnections())
	}
}
