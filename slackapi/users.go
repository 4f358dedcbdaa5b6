package slackapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/handlers"
)

// userIDPattern is the shape of a Slack user ID (U… or, on Enterprise Grid, W…).
var userIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// errDirectoryLoading is a transient failure: a display name can only be judged unique against
// the whole user list, which is still loading. The alarm goes back to the queue and is tried again.
var errDirectoryLoading = errors.New("the slack user directory is still loading")

// Resolve finds a user's Slack ID, trusting no profile field anyone can edit:
//   - slackId, or slack shaped like a user ID, is used only if users.info (or the directory) knows
//     that user;
//   - an email (slack containing "@", or email) goes through users.lookupByEmail;
//   - any other slack value is a handle: the user whose username is exactly that, else the one
//     and only user whose display or real name is that.
//
// Deactivated users and bots never match. A user that can't be reached yields an error wrapping
// handlers.ErrUnknownUser (handlers.ErrAmbiguousUser when several users share the name) that
// says why; any other error is transient.
func (c *Client) Resolve(ctx context.Context, u alerts.User) (string, error) {
	id, err := c.resolve(ctx, u)
	if err == nil {
		c.openAhead(ctx, id)
	}
	return id, err
}

func (c *Client) resolve(ctx context.Context, u alerts.User) (string, error) {
	switch {
	case u.SlackID != "":
		if !userIDPattern.MatchString(u.SlackID) {
			return "", fmt.Errorf("slackId %q is not a Slack user ID (U… or W…): %w", u.SlackID, handlers.ErrUnknownUser)
		}
		return c.byID(ctx, u.SlackID)
	case u.Slack != "" && userIDPattern.MatchString(u.Slack):
		id, err := c.byID(ctx, u.Slack)
		if errors.Is(err, errNoSuchID) {
			// Shaped like an ID but not one ("WALLY"): it may still be a username.
			return c.byHandle(ctx, u.Slack)
		}
		return id, err
	case strings.Contains(u.Slack, "@"):
		return c.byEmail(ctx, u.Slack)
	case u.Slack != "":
		return c.byHandle(ctx, u.Slack)
	case u.Email != "":
		return c.byEmail(ctx, u.Email)
	}
	return "", fmt.Errorf("user has no slack name, id or email: %w", handlers.ErrUnknownUser)
}

// errNoSuchID marks an ID Slack doesn't know; it reads, and is, handlers.ErrUnknownUser.
var errNoSuchID = fmt.Errorf("%w", handlers.ErrUnknownUser)

// reachable refuses deactivated users and bots.
func reachable(p *person, as string) (string, error) {
	switch {
	case p.deleted:
		return "", fmt.Errorf("slack user %s (%s) is deactivated: %w", as, p.id, handlers.ErrUnknownUser)
	case p.bot:
		return "", fmt.Errorf("slack user %s (%s) is a bot: %w", as, p.id, handlers.ErrUnknownUser)
	}
	return p.id, nil
}

// byID checks that a user ID exists: the directory when it saw the user recently, else users.info.
func (c *Client) byID(ctx context.Context, id string) (string, error) {
	d := &c.dir
	d.mu.Lock()
	known := d.cur.byID[id]
	d.mu.Unlock()
	if known != nil && time.Since(known.seen) < d.ttl {
		return reachable(known, id)
	}
	p, err := c.lookUp(ctx, "users.info", func(ctx context.Context) (*slack.User, error) {
		return c.api.GetUserInfoContext(ctx, id)
	})
	if code := slackError(err); code == "user_not_found" || code == "user_not_visible" {
		return "", fmt.Errorf("no slack user has the ID %s: %w", id, errNoSuchID)
	}
	if err != nil {
		return "", wrap("users.info", err)
	}
	return reachable(p, id)
}

// Name returns the name the workspace shows for a user (display name, else real name, else
// username), as the user wrote it: profile text anyone may edit, for reading only, never for
// identity. It answers from the directory when it has seen the user, however long ago (a name is a
// courtesy, and need not be fresh), else asks users.info, paced like every other call, which also
// fills the directory. An error means the name can't be had now.
func (c *Client) Name(ctx context.Context, id string) (string, error) {
	if !userIDPattern.MatchString(id) {
		return "", fmt.Errorf("%q is not a Slack user ID", id)
	}
	c.dir.mu.Lock()
	known := c.dir.cur.byID[id]
	c.dir.mu.Unlock()
	if known == nil {
		p, err := c.lookUp(ctx, "users.info", func(ctx context.Context) (*slack.User, error) {
			return c.api.GetUserInfoContext(ctx, id)
		})
		if err != nil {
			return "", wrap("users.info", err)
		}
		known = p
	}
	return known.shown, nil
}

// lookUp asks Slack for one user and remembers what the directory keeps of them.
func (c *Client) lookUp(ctx context.Context, method string, get func(context.Context) (*slack.User, error)) (*person, error) {
	var user *slack.User
	err := c.call(ctx, method, func(ctx context.Context) error {
		var err error
		user, err = get(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	p := personOf(user)
	c.dir.mu.Lock()
	c.dir.cur.byID[p.id] = p
	c.dir.mu.Unlock()
	return p, nil
}

// byEmail asks users.lookupByEmail (Slack verifies the addresses), caching the answer.
func (c *Client) byEmail(ctx context.Context, email string) (string, error) {
	d := &c.dir
	key := fold(email)
	d.mu.Lock()
	e, ok := d.byEmail[key]
	known := d.cur.byID[e.id]
	d.mu.Unlock()
	if ok && known != nil && time.Since(e.seen) < d.ttl && time.Since(known.seen) < d.ttl {
		return reachable(known, email)
	}
	p, err := c.lookUp(ctx, "users.lookupByEmail", func(ctx context.Context) (*slack.User, error) {
		return c.api.GetUserByEmailContext(ctx, email)
	})
	if slackError(err) == "users_not_found" {
		return "", fmt.Errorf("no slack user has the email %q: %w", email, handlers.ErrUnknownUser)
	}
	if err != nil {
		return "", wrap("users.lookupByEmail", err)
	}
	d.mu.Lock()
	d.byEmail[key] = emailEntry{id: p.id, seen: p.seen}
	d.mu.Unlock()
	return reachable(p, email)
}

// byHandle matches a username exactly, else a display or real name that exactly one active user
// has. A username is unique, so a partly loaded directory answers it; a display name needs the
// whole list, for which a lookup waits at most the directory's wait and is then retried later
// (errDirectoryLoading, transient): 50,000 users take 250 pages, over twelve minutes at Tier 2,
// longer than an alarm may hold a worker.
func (c *Client) byHandle(ctx context.Context, handle string) (string, error) {
	d := &c.dir
	key := fold(handle)
	deadline := time.NewTimer(d.wait)
	defer deadline.Stop()
	missReload := false // a name nobody has reloads the list once, for a user who just joined
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.complete && time.Since(d.loaded) > d.ttl {
			c.refreshLocked(ctx) // served from the stale list meanwhile
		}
		if p := d.cur.byName[key]; p != nil {
			return reachable(p, handle)
		}
		if d.complete {
			id, err, found := labelMatch(d.cur.byLabel[key], handle)
			if found || time.Since(d.loaded) < d.minReload || (missReload && !d.loading) {
				return id, err
			}
			if !missReload {
				missReload = true
				c.refreshLocked(ctx)
			}
		} else if !d.loading {
			c.refreshLocked(ctx) // the first load failed: try again
		}
		ch := d.progress
		d.mu.Unlock()
		select {
		case <-ch:
			d.mu.Lock()
		case <-deadline.C:
			d.mu.Lock()
			return "", fmt.Errorf("looking up %q (%d users read so far): %w", handle, len(d.cur.byID), errDirectoryLoading)
		case <-ctx.Done():
			d.mu.Lock()
			return "", ctx.Err()
		}
	}
}

// labelMatch judges a display or real name against everyone who has it: exactly one active,
// human user is a match; several are ambiguous; none, or only deactivated ones, can't be reached.
// found reports whether anyone at all has the name.
func labelMatch(all []*person, handle string) (id string, err error, found bool) {
	var active []*person
	deleted := 0
	for _, p := range all {
		switch {
		case p.deleted:
			deleted++
		case !p.bot:
			active = append(active, p)
		}
	}
	switch {
	case len(active) == 1:
		return active[0].id, nil, true
	case len(active) > 1:
		return "", fmt.Errorf("%d slack users have the display or real name %q: %w", len(active), handle, handlers.ErrAmbiguousUser), true
	case deleted > 0:
		return "", fmt.Errorf("the only slack user named %q is deactivated: %w", handle, handlers.ErrUnknownUser), true
	case len(all) > 0:
		return "", fmt.Errorf("slack user %q is a bot: %w", handle, handlers.ErrUnknownUser), true
	}
	return "", fmt.Errorf("no slack user has the username, display name or real name %q: %w", handle, handlers.ErrUnknownUser), false
}
