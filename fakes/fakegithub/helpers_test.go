package fakegithub

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

const testRepo = "acme/alarms"

// newFake starts a fake with testRepo added and stops it when the test ends.
func newFake(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	s.AddRepo(testRepo)
	return s
}

// newClient returns a go-github client pointed at s and sending token.
// Each call returns an independent client, so rate-limit state remembered by
// one client does not affect another.
func newClient(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	c := github.NewClient(&http.Client{Timeout: 10 * time.Second}).WithAuthToken(token)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatalf("parse %q: %v", s.URL(), err)
	}
	c.BaseURL = u
	return c
}

// fakeClock is a manually advanced clock for SetClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(s *Server) *fakeClock {
	c := &fakeClock{t: time.Now().Truncate(time.Second)}
	s.SetClock(c.Now)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustCreate creates an issue through the API and fails the test on error.
func mustCreate(t *testing.T, c *github.Client, title, body string, labels ...string) *github.Issue {
	t.Helper()
	req := &github.IssueRequest{Title: &title, Body: &body}
	if labels != nil {
		req.Labels = &labels
	}
	is, _, err := c.Issues.Create(context.Background(), "acme", "alarms", req)
	if err != nil {
		t.Fatalf("create %q: %v", title, err)
	}
	return is
}

// statusOf returns the HTTP status carried by a go-github error, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

func labelNames(ls []*github.Label) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.GetName())
	}
	return out
}
