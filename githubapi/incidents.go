package githubapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/handlers"
)

var _ handlers.IncidentIssues = (*Client)(nil)

// Escalated lists dispatch's escalated issues (LabelEscalated), open and closed, of every repository
// this client indexes (the default repository from the start, others once dispatch has written
// there), from the indexes: no request but their usual refresh, or, when fresh, a refresh now (a
// conditional listing, answered 304 when nothing changed). Their Body holds only the marker.
func (c *Client) Escalated(ctx context.Context, fresh bool) ([]handlers.Issue, error) {
	c.imu.Lock()
	xs := make([]*index, 0, len(c.indexes))
	for _, x := range c.indexes {
		xs = append(xs, x)
	}
	c.imu.Unlock()
	var out []handlers.Issue
	for _, x := range xs {
		maxAge := c.maxAge
		if fresh {
			maxAge = 0
		}
		if err := x.ensure(ctx, maxAge, 0); err != nil {
			return nil, fmt.Errorf("escalated issues of %s: %w", x.repo, err)
		}
		x.mu.Lock()
		for _, e := range x.entries {
			if slices.Contains(e.labels, handlers.LabelEscalated) {
				out = append(out, x.issue(e))
			}
		}
		x.mu.Unlock()
	}
	return out, nil
}

// Reopen opens a closed issue again (a PagerDuty incident re-triggered after its resolve).
func (c *Client) Reopen(ctx context.Context, repo string, number int) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	open := "open"
	return c.do(ctx, "reopen issue", true, func(ctx context.Context) error {
		is, _, err := c.gh.Issues.Edit(ctx, owner, name, number, &github.IssueRequest{State: &open})
		if err == nil {
			c.applyOwn(repo, is, false)
		}
		return err
	})
}

// DeleteComment deletes one of dispatch's own comments (a duplicate two replicas wrote at once). A
// comment already gone is no error.
func (c *Client) DeleteComment(ctx context.Context, repo string, id int64) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	return c.do(ctx, "delete comment", false, func(ctx context.Context) error {
		resp, err := c.gh.Issues.DeleteComment(ctx, owner, name, id)
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil
		}
		return err
	})
}
