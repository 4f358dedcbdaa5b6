package slackapi

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/handlers"
)

var userIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// directory maps handles (names and display names, lower-cased) and emails to user IDs. It is
// loaded from users.list and reloaded when it is older than its TTL, or when a handle is missing
// and the last load is older than minReload (a new hire shows up without hammering a Tier 2 method).
type directory struct {
	mu        sync.Mutex
	byHandle  map[string]string
	byEmail   map[string]string
	loaded    time.Time
	ttl       time.Duration
	minReload time.Duration
}

func (c *Client) lookupHandle(ctx context.Context, handle string) (string, bool, error) {
	d := &c.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	key := strings.ToLower(handle)
	age := time.Since(d.loaded)
	if d.byHandle != nil && age < d.ttl {
		if id, ok := d.byHandle[key]; ok {
			return id, true, nil
		}
		if age < d.minReload {
			return "", false, nil
		}
	}
	if err := c.loadDirectory(ctx); err != nil {
		if d.byHandle != nil {
			// A stale directory beats none.
			id, ok := d.byHandle[key]
			return id, ok, nil
		}
		return "", false, err
	}
	id, ok := d.byHandle[key]
	return id, ok, nil
}

// loadDirectory reads every user, page by page. Called with c.dir.mu held.
func (c *Client) loadDirectory(ctx context.Context) error {
	byHandle, byEmail := map[string]string{}, map[string]string{}
	p := c.api.GetUsersPaginated(slack.GetUsersOptionLimit(200))
	for {
		done := false
		err := c.call(ctx, "users.list", func(ctx context.Context) error {
			next, err := p.Next(ctx)
			if p.Done(err) {
				done = true
				return nil
			}
			if err == nil {
				p = next
			}
			return err
		})
		if err != nil {
			return wrap("users.list", err)
		}
		if done {
			break
		}
		for _, u := range p.Users {
			if u.Deleted || u.IsBot {
				continue
			}
			for _, h := range []string{u.Name, u.Profile.DisplayName, u.Profile.DisplayNameNormalized, u.RealName} {
				if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
					if _, taken := byHandle[h]; !taken {
						byHandle[h] = u.ID
					}
				}
			}
			if e := strings.ToLower(u.Profile.Email); e != "" {
				byEmail[e] = u.ID
			}
		}
	}
	c.dir.byHandle, c.dir.byEmail, c.dir.loaded = byHandle, byEmail, time.Now()
	return nil
}

// Resolve finds a user's Slack ID: slackId as is; else slack as an ID, an email or a handle; else
// email. A user Slack doesn't know yields an error wrapping handlers.ErrUnknownUser.
func (c *Client) Resolve(ctx context.Context, u alerts.User) (string, error) {
	switch {
	case u.SlackID != "":
		return u.SlackID, nil
	case u.Slack != "" && userIDPattern.MatchString(u.Slack):
		return u.Slack, nil
	case u.Slack != "" && strings.Contains(u.Slack, "@"):
		return c.byEmail(ctx, u.Slack)
	case u.Slack != "":
		id, ok, err := c.lookupHandle(ctx, u.Slack)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("no slack user has the name or display name %q: %w", u.Slack, handlers.ErrUnknownUser)
		}
		return id, nil
	case u.Email != "":
		return c.byEmail(ctx, u.Email)
	}
	return "", fmt.Errorf("user has no slack name, id or email: %w", handlers.ErrUnknownUser)
}

func (c *Client) byEmail(ctx context.Context, email string) (string, error) {
	key := strings.ToLower(email)
	c.dir.mu.Lock()
	id, ok := c.dir.byEmail[key]
	c.dir.mu.Unlock()
	if ok {
		return id, nil
	}
	var user *slack.User
	err := c.call(ctx, "users.lookupByEmail", func(ctx context.Context) error {
		var err error
		user, err = c.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if slackError(err) == "users_not_found" {
		return "", fmt.Errorf("no slack user has the email %q: %w", email, handlers.ErrUnknownUser)
	}
	if err != nil {
		return "", wrap("users.lookupByEmail", err)
	}
	c.dir.mu.Lock()
	if c.dir.byEmail == nil {
		c.dir.byEmail = map[string]string{}
	}
	c.dir.byEmail[key] = user.ID
	c.dir.mu.Unlock()
	return user.ID, nil
}
