package githubapi

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
)

// DefaultWatchInterval is how often Watch refreshes the index: a conditional listing, answered 304
// (free of the primary limit) when nothing changed.
const DefaultWatchInterval = 30 * time.Second

// Changed is told about a pending dispatch issue that someone other than dispatch changed on
// GitHub: closed it (label "") or gave it label. by is their login.
type Changed func(ctx context.Context, is handlers.Issue, by, label string) error

// Watch keeps repo's index fresh until ctx ends (or returns at once if repo is watched already),
// refreshing it at least every interval, and calls changed for each open dispatch issue (one with dispatch's marker) a refresh saw closed, or given
// the dispatch:escalated label, by someone other than dispatch. Who did it is not in the listing:
// a closer comes from the issue's closed_by (one GET), a label's author from the issue's events
// (one GET of its first page, and of its last when there are more). That is one or two requests per
// such change, and none otherwise. Changes by dispatch's own identity (the issue's author: an
// answer, an escalation, a duplicate, on any replica) are skipped. A change that fails is logged
// and never holds up the others: a permanent failure (a 404, a user Slack won't DM) is skipped, a
// transient one tried again after the interval, doubling up to maxChangeBackoff, for at most
// changeRetryFor.
func (c *Client) Watch(ctx context.Context, repo string, interval time.Duration, changed Changed) {
	x, err := c.indexFor(repo)
	log := zerolog.Ctx(ctx).With().Str("repo", repo).Logger()
	if err != nil {
		log.Error().Err(err).Msg("cannot watch the repository")
		return
	}
	if !c.claimWatch(x, 0) {
		return // another Watch keeps it
	}
	c.watch(ctx, x, interval, changed)
}

// watch is Watch's loop, for an index claimed by claimWatch.
func (c *Client) watch(ctx context.Context, x *index, interval time.Duration, changed Changed) {
	log := zerolog.Ctx(ctx).With().Str("repo", x.repo).Logger()
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := x.ensure(ctx, interval, 0); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("could not refresh the index of dispatch's issues")
		}
		x.mu.Lock()
		pending := x.changes
		x.changes = nil
		x.mu.Unlock()
		var again []change
		now := time.Now()
		for _, ch := range pending {
			if now.Before(ch.next) {
				again = append(again, ch)
				continue
			}
			err := c.report(ctx, x, ch, changed)
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if ch.failed.IsZero() {
				ch.failed = now
			}
			switch {
			case retry.IsPermanent(err):
				log.Error().Err(err).Int("issue", ch.e.number).Msg("a change made on GitHub can never be acted on: skipped")
			case now.Sub(ch.failed) >= changeRetryFor:
				log.Error().Err(err).Int("issue", ch.e.number).Dur("tried_for", now.Sub(ch.failed)).Msg("could not act on a change made on GitHub: given up")
			default:
				ch.tries++
				ch.next = now.Add(min(interval<<min(ch.tries-1, 10), maxChangeBackoff))
				log.Warn().Err(err).Int("issue", ch.e.number).Time("next", ch.next).Msg("could not act on a change made on GitHub: trying again later")
				again = append(again, ch)
			}
		}
		if len(again) > 0 {
			x.mu.Lock()
			seen := x.changes // noted meanwhile: they come after these
			x.changes = nil
			for _, ch := range append(again, seen...) {
				x.noteLocked(ch)
			}
			x.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WatchAll watches repo as Watch does and, from the first issue dispatch files in it, every other
// repository an alarm names (within GITHUB_ALLOWED_REPOS), each until ctx ends. A repository is
// watched only once dispatch has written there, so alarms naming repositories that don't exist, or
// hold nothing of dispatch's, cost no polling. (After a restart, another repository is watched
// again from its next new issue.)
//
// At most MaxWatched repositories are watched: each costs a request per interval (a 304, free of
// the primary limit, but a point of the secondary 900 a minute), and an organisation's alarms
// could name hundreds under GITHUB_ALLOWED_REPOS "owner/*". Past that, a close on GitHub in the
// others settles nothing until an answer or the escalation finds it; the log says so once.
func (c *Client) WatchAll(ctx context.Context, repo string, interval time.Duration, changed Changed) {
	var once sync.Once
	c.imu.Lock()
	c.watchNew = func(r string) {
		x, err := c.indexFor(r)
		if err != nil {
			return
		}
		if c.claimWatch(x, MaxWatched) {
			go c.watch(ctx, x, interval, changed)
		} else if !x.isWatched() {
			once.Do(func() {
				zerolog.Ctx(ctx).Warn().Str("repo", r).Int("max", MaxWatched).
					Msg("not watching another repository for changes made on GitHub: the most dispatch watches")
			})
		}
	}
	c.imu.Unlock()
	c.Watch(ctx, repo, interval, changed)
}

// A change Watch failed to act on for a transient reason is tried again after the watch's interval,
// the wait doubling each time up to maxChangeBackoff, until changeRetryFor has passed since its first
// failure: long enough for an outage of Slack or GitHub, bounded so that a failure misjudged as
// transient costs a request an hour at most, and only for a day.
const (
	maxChangeBackoff = time.Hour
	changeRetryFor   = 24 * time.Hour
)

// MaxWatched is how many repositories WatchAll watches at most.
const MaxWatched = 20

// claimWatch marks x watched, unless it is already or max (when above 0) repositories are.
func (c *Client) claimWatch(x *index, max int) bool {
	c.imu.Lock()
	defer c.imu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.watching || (max > 0 && c.watched >= max) {
		return false
	}
	x.watching = true
	c.watched++
	return true
}

func (x *index) isWatched() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.watching
}

// report finds who made a change and tells changed, unless dispatch made it.
func (c *Client) report(ctx context.Context, x *index, ch change, changed Changed) error {
	if ch.e.marker == "" {
		return nil
	}
	// Only dispatch's own issues are pending alarms: a copy someone opened costs no lookup of who
	// changed it (anyone with triage rights could spend the budget so).
	self, err := c.Identity(ctx)
	if err != nil {
		return err
	}
	if !strings.EqualFold(ch.e.author, self) {
		return nil
	}
	var by string
	if ch.label == "" {
		by, err = c.closer(ctx, x, ch.e.number)
	} else {
		by, err = c.labeller(ctx, x, ch.e.number, ch.label)
	}
	if err != nil || by == "" || by == ch.e.author {
		return err
	}
	x.mu.Lock()
	is := x.issue(&ch.e)
	x.mu.Unlock()
	return changed(ctx, is, by, ch.label)
}

// closer is the login in the issue's closed_by, "" if it is open again.
func (c *Client) closer(ctx context.Context, x *index, number int) (string, error) {
	var by string
	err := c.do(ctx, "get issue", false, func(ctx context.Context) error {
		is, _, err := c.gh.Issues.Get(ctx, x.owner, x.name, number)
		if err == nil && is.GetState() == "closed" {
			by = is.GetClosedBy().GetLogin()
		}
		return err
	})
	return by, err
}

// labeller is the login of whoever added label last, from the issue's events (oldest first: the
// last page holds the newest).
func (c *Client) labeller(ctx context.Context, x *index, number int, label string) (string, error) {
	var by string
	opts := &github.ListOptions{PerPage: 100}
	for {
		var last int
		err := c.do(ctx, "list issue events", false, func(ctx context.Context) error {
			events, resp, err := c.gh.Issues.ListIssueEvents(ctx, x.owner, x.name, number, opts)
			if err != nil {
				return err
			}
			for _, ev := range events {
				if ev.GetEvent() == "labeled" && ev.GetLabel().GetName() == label {
					by = ev.GetActor().GetLogin()
				}
			}
			last = resp.LastPage
			return nil
		})
		if err != nil || last <= opts.Page || last <= 1 {
			return by, err
		}
		opts.Page = last
	}
}
