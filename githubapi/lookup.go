package githubapi

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/handlers"
)

// FindByTitle answers from the repository's index of dispatch issues (see index.go): no search,
// and a request only when the index is older than its maximum age (a conditional listing, usually
// answered 304) or when an issue numbered below the newest one this client created is unknown
// (another replica's, made a moment ago). So it sees every issue this client created, and every
// issue created before it, as a redelivered alarm and the convergence of two replicas need.
// Issues come oldest first; their Body holds only dispatch's hidden marker. If the index had to
// drop issues to stay within its limit (evictLocked), a miss that may concern one of the kind it
// dropped (open, or closed when they are included) asks search: the dropped are the longest
// unchanged, long since indexed by search.
func (c *Client) FindByTitle(ctx context.Context, repo, title string, includeClosed bool) ([]handlers.Issue, error) {
	x, err := c.indexFor(repo)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	upTo := x.created + 1
	x.mu.Unlock()
	if err := x.ensure(ctx, c.maxAge, upTo); err != nil {
		return nil, err
	}
	x.mu.Lock()
	var found []handlers.Issue
	for _, e := range x.byTitle[title] {
		if e.open || includeClosed {
			found = append(found, x.issue(e))
		}
	}
	evicted := x.evictedOpen || (includeClosed && x.evictedClosed)
	x.mu.Unlock()
	slices.SortFunc(found, func(a, b handlers.Issue) int { return cmp.Compare(a.Number, b.Number) })
	if len(found) == 0 && evicted {
		return c.searchTitle(ctx, repo, title, includeClosed)
	}
	return found, nil
}

// searchTitle finds issues the index dropped: one search, only for a repository with more dispatch
// issues than the index keeps.
func (c *Client) searchTitle(ctx context.Context, repo, title string, includeClosed bool) ([]handlers.Issue, error) {
	q := fmt.Sprintf("repo:%s is:issue label:%q in:title %q", repo, c.label, strings.ReplaceAll(title, `"`, " "))
	if !includeClosed {
		q += " is:open"
	}
	var found []handlers.Issue
	err := c.do(ctx, "search issues", false, func(ctx context.Context) error {
		res, _, err := c.gh.Search.Issues(ctx, q, &github.SearchOptions{Sort: "created", Order: "asc", ListOptions: github.ListOptions{PerPage: 100}})
		if err != nil {
			return err
		}
		found = found[:0]
		for _, is := range res.Issues {
			if !is.IsPullRequest() && is.GetTitle() == title {
				found = append(found, convert(repo, is))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search issues of %s: %w", repo, err)
	}
	return found, nil
}

// AlarmsFor lists a Slack user's self-service alarms in repo (their marker names the user's Slack
// ID), open or closed, newest first, from the index: no search, and it sees issues made a moment
// ago. Their Body holds only dispatch's marker.
func (c *Client) AlarmsFor(ctx context.Context, repo, slackUserID string, open bool, limit int) ([]handlers.Issue, error) {
	x, err := c.indexFor(repo)
	if err != nil {
		return nil, err
	}
	if err := x.ensure(ctx, c.maxAge, 0); err != nil {
		return nil, fmt.Errorf("alarms in %s: %w", repo, err)
	}
	id := url.QueryEscape(slackUserID)
	x.mu.Lock()
	var out []handlers.Issue
	for _, e := range x.entries {
		if e.open == open && e.slack == id && id != "" {
			out = append(out, x.issue(e))
		}
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b handlers.Issue) int { return cmp.Compare(b.Number, a.Number) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// applyOwn puts what this client just created or changed into the index at once, so its own
// lookups see it before any listing does.
func (c *Client) applyOwn(repo string, is *github.Issue, created bool) {
	x, err := c.indexFor(repo)
	if err != nil || is == nil || is.IsPullRequest() {
		return
	}
	c.idMu.Lock()
	self := c.login // known once any listing or lookup of authors ran
	c.idMu.Unlock()
	if created {
		self = is.GetUser().GetLogin() // what this client created, dispatch created
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.entryOf(is)
	e.localAt = time.Now()
	if created {
		x.created = max(x.created, e.number)
	}
	if !x.keeps(e, self) {
		x.unlinkIfPresentLocked(e.number)
		return
	}
	x.applyLocked(e, time.Time{})
}

func (x *index) unlinkIfPresentLocked(n int) {
	if e := x.entries[n]; e != nil {
		x.unlinkLocked(e)
	}
}

// applyLabels records the labels an issue carries after this client added some.
func (c *Client) applyLabels(repo string, number int, labels []*github.Label) {
	x, err := c.indexFor(repo)
	if err != nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.entries[number]
	if e == nil {
		return
	}
	e.labels = e.labels[:0:0]
	for _, l := range labels {
		e.labels = append(e.labels, x.intern(l.GetName()))
	}
	e.localAt = time.Now()
}
