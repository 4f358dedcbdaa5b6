package slackapi

import (
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/retry"
)

// troubleErrors are Slack `ok:false` errors of Slack's own trouble: it is not answering for now.
var troubleErrors = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true,
}

// transientErrors are the other Slack `ok:false` errors worth another try; beside troubleErrors,
// every one is permanent. Token and scope errors are here: an operator mends them, and the alarm
// must still be on the queue then, not in the dead-letter queue.
var transientErrors = map[string]bool{
	"team_added_to_org": true, "invalid_auth": true, "not_authed": true, "token_revoked": true,
	"token_expired": true, "account_inactive": true, "missing_scope": true, "not_allowed_token_type": true,
}

// troubleStatus reports whether an HTTP status is Slack's trouble (a 5xx, or 408), not a refusal.
func troubleStatus(code int) bool { return code >= 500 || code == 408 }

// Unavailable reports whether err says Slack is not answering for now (a 429, a 5xx or 408, or an
// `ok:false` error of Slack's own trouble): something to wait out, unlike a refused token. What the
// start-up check waits for rather than exiting (a restart during a Slack incident or a 429 storm).
func Unavailable(err error) bool {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		return true
	case errors.As(err, &sc):
		return troubleStatus(sc.Code)
	}
	return troubleErrors[slackError(err)]
}

// classify marks a slack-go error for the retrier: 429 carries its Retry-After, 5xx and network
// failures are transient, Slack's `ok:false` errors are permanent unless listed above (troubleErrors, transientErrors).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return retry.After(err, rl.RetryAfter)
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if troubleStatus(sc.Code) {
			return err
		}
		return retry.Permanent(err)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		if troubleErrors[se.Err] || transientErrors[se.Err] {
			return err
		}
		return retry.Permanent(err)
	}
	return err
}

// slackError returns Slack's error code of an `ok:false` response, or "".
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("slack %s: %w", what, err)
}
