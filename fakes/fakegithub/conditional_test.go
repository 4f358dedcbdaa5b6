package fakegithub

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"
)

// getRaw sends a GET with extra headers through c and returns the response (body unread).
func getRaw(t *testing.T, c *github.Client, path string, hdr map[string]string) *github.Response {
	t.Helper()
	req, err := c.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(context.Background(), req, nil)
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotModified) {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// TestConditionalRequests: listings and single issues carry ETag and Last-Modified; a request
// naming them is answered 304 with no body and does not count against the primary limit; a
// change makes it 200 again.
func TestConditionalRequests(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	c := newClient(t, s, "ghp_testtoken")
	mustCreate(t, c, "one", "", "dispatch")
	const list = "repos/acme/alarms/issues?state=all&labels=dispatch&sort=updated&direction=asc"
	for _, path := range []string{list, "repos/acme/alarms/issues/1"} {
		first := getRaw(t, c, path, nil)
		etag, lm := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
		if first.StatusCode != http.StatusOK || etag == "" || lm == "" {
			t.Fatalf("%s: status %d ETag %q Last-Modified %q", path, first.StatusCode, etag, lm)
		}
		used := first.Rate.Limit - first.Rate.Remaining
		for _, hdr := range []map[string]string{{"If-None-Match": etag}, {"If-Modified-Since": lm}} {
			resp := getRaw(t, c, path, hdr)
			if resp.StatusCode != http.StatusNotModified || resp.ContentLength > 0 {
				t.Errorf("%s with %v: status %d, length %d; want 304 and no body", path, hdr, resp.StatusCode, resp.ContentLength)
			}
			if got := resp.Rate.Limit - resp.Rate.Remaining; got != used {
				t.Errorf("%s with %v: %d requests used, want %d (a 304 is free)", path, hdr, got, used)
			}
		}
		if resp := getRaw(t, c, path, map[string]string{"If-None-Match": `W/"other"`}); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a stale ETag: status %d, want 200", path, resp.StatusCode)
		}
	}
	before := getRaw(t, c, list, nil).Header.Get("ETag")
	clk.Advance(2 * time.Second)
	closed := "closed"
	if _, _, err := c.Issues.Edit(context.Background(), "acme", "alarms", 1, &github.IssueRequest{State: &closed}); err != nil {
		t.Fatal(err)
	}
	if resp := getRaw(t, c, list, map[string]string{"If-None-Match": before}); resp.StatusCode != http.StatusOK {
		t.Errorf("listing after a change: status %d, want 200", resp.StatusCode)
	}
	if s.NotModifiedCalls() != 4 {
		t.Errorf("NotModifiedCalls = %d, want 4", s.NotModifiedCalls())
	}
}

// TestListingIncludesPullRequests: GET /issues lists pull requests too, marked as such; search
// tells them apart with is:issue and is:pr.
func TestListingIncludesPullRequests(t *testing.T) {
	s := newFake(t, Options{})
	s.SeedIssue(testRepo, Issue{Title: "an issue", Labels: []string{"dispatch"}})
	s.SeedIssue(testRepo, Issue{Title: "a pull request", Labels: []string{"dispatch"}, PullRequest: true})
	c := newClient(t, s, "ghp_testtoken")
	ctx := context.Background()
	list, _, err := c.Issues.ListByRepo(ctx, "acme", "alarms", &github.IssueListByRepoOptions{Labels: []string{"dispatch"}})
	if err != nil {
		t.Fatal(err)
	}
	prs := 0
	for _, is := range list {
		if is.IsPullRequest() {
			prs++
		}
	}
	if len(list) != 2 || prs != 1 {
		t.Errorf("listed %d, of which %d pull requests; want 2 and 1", len(list), prs)
	}
	for q, want := range map[string]int{"repo:acme/alarms is:issue": 1, "repo:acme/alarms is:pr": 1, "repo:acme/alarms": 2} {
		res, _, err := c.Search.Issues(ctx, q, nil)
		if err != nil || res.GetTotal() != want {
			t.Errorf("search %q: %v total %d, want %d", q, err, res.GetTotal(), want)
		}
	}
}
