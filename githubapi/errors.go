package githubapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/retry"
)

// classify marks a go-github error for the retrier: rate limits carry their wait; 5xx, 429, 401,
// 403 and network failures are transient; any other 4xx is permanent (a missing repository, a
// rejected field).
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var re *ReserveError
	if errors.As(err, &re) {
		return retry.After(err, time.Until(re.Until))
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return retry.After(err, time.Until(rl.Rate.Reset.Time)+time.Second)
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		return retry.After(err, abuse.GetRetryAfter())
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		code := er.Response.StatusCode
		switch {
		case code == http.StatusTooManyRequests:
			if s, perr := strconv.Atoi(er.Response.Header.Get("Retry-After")); perr == nil {
				return retry.After(err, time.Duration(s)*time.Second)
			}
			return err
		case code >= 500:
			return err
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			// The credentials, not the alarm: a rotated token or a missing permission is mended by
			// an operator, and the alarm must still be there then (not in the dead-letter queue).
			return err
		case code >= 400:
			return retry.Permanent(err)
		}
	}
	return err
}

// notFound reports whether GitHub answered 404 Not Found (or 410 Gone).
func notFound(err error) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil &&
		(er.Response.StatusCode == http.StatusNotFound || er.Response.StatusCode == http.StatusGone)
}
