package githubapi

import (
	"context"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
)

// DefaultWatchInterval is how often Watch refreshes the index when no lookup did: a conditional
// listing, answered 304 (free of the primary limit) when nothing changed.
const DefaultWatchInterval = 30 * time.Second

// Closed is told about a dispatch issue that someone other than dispatch closed on GitHub: the
// issue (whole, from GET) and the closer's login.
type Closed func(ctx context.Context, is handlers.Issue, by string) error

// Watch keeps repo's index fresh until ctx ends, refreshing it at least every interval, and calls
// closed for each dispatch issue (one with dispatch's marker) a refresh saw go from open to closed
// by someone other than dispatch. The closer comes from the issue's closed_by, which only GET
// returns (not the listing): one request per such closure, cheaper than the events API (a request
// per issue and page) and needed only then. Closures by dispatch's own identity (the issue's
// author: an answer, a duplicate) are skipped. Failures are logged and retried on the next round.
func (c *Client) Watch(ctx context.Context, repo string, interval time.Duration, closed Closed) {
	x, err := c.indexFor(repo)
	log := zerolog.Ctx(ctx).With().Str("repo", repo).Logger()
	if err != nil {
		log.Error().Err(err).Msg("cannot watch the repository")
		return
	}
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	x.mu.Lock()
	x.watching = true
	x.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := x.ensure(ctx, interval, 0); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("could not refresh the index of dispatch's issues")
		}
		x.mu.Lock()
		pending := x.closures
		x.closures = nil
		x.mu.Unlock()
		for i, cl := range pending {
			if err := c.settleClosure(ctx, repo, cl, closed); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn().Err(err).Int("issue", cl.e.number).Msg("could not act on an issue closed on GitHub: retrying")
				x.mu.Lock()
				x.closures = append(pending[i:], x.closures...)
				x.mu.Unlock()
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// settleClosure reads who closed the issue and tells closed, unless dispatch did.
func (c *Client) settleClosure(ctx context.Context, repo string, cl closure, closed Closed) error {
	if cl.e.marker == "" {
		return nil
	}
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	var is *github.Issue
	err = c.do(ctx, "get issue", false, func(ctx context.Context) error {
		var err error
		is, _, err = c.gh.Issues.Get(ctx, owner, name, cl.e.number)
		return err
	})
	if err != nil {
		return err
	}
	by := is.GetClosedBy().GetLogin()
	if is.GetState() != "closed" || by == "" || by == is.GetUser().GetLogin() {
		return nil // reopened since, or closed by dispatch itself
	}
	return closed(ctx, convert(repo, is), by)
}
