package slackapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"
)

// Email returns a Slack user's e-mail address (users.info, users:read.email), asked afresh each
// time: it names the user to Duo, so a stale cache must not pick whose phone is asked.
func (c *Client) Email(ctx context.Context, userID string) (string, error) {
	var u *slack.User
	err := c.call(ctx, "users.info", func(ctx context.Context) error {
		var err error
		u, err = c.api.GetUserInfoContext(ctx, userID)
		return err
	})
	if err != nil {
		return "", wrap("users.info", err)
	}
	if u.Deleted || u.IsBot || strings.TrimSpace(u.Profile.Email) == "" {
		return "", fmt.Errorf("slack user %s has no e-mail address dispatch may use", userID)
	}
	return strings.TrimSpace(u.Profile.Email), nil
}
