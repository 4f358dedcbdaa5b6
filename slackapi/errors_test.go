package slackapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestUnavailableTellsSlacksTroubleFromARefusal: what the start-up check waits out (Slack's 429s,
// 5xx and its own trouble) against what must stop dispatch at once (a refused or revoked token, a
// missing scope), through the wrapping dispatch adds.
func TestUnavailableTellsSlacksTroubleFromARefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&slack.RateLimitedError{RetryAfter: time.Second}, true},
		{slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}, true},
		{slack.StatusCodeError{Code: 408, Status: "408 Request Timeout"}, true},
		{slack.SlackErrorResponse{Err: "service_unavailable"}, true},
		{slack.SlackErrorResponse{Err: "ratelimited"}, true},
		{slack.SlackErrorResponse{Err: "invalid_auth"}, false},
		{slack.SlackErrorResponse{Err: "token_revoked"}, false},
		{slack.SlackErrorResponse{Err: "missing_scope"}, false},
		{slack.StatusCodeError{Code: 403, Status: "403 Forbidden"}, false},
		{fmt.Errorf("plain"), false},
	} {
		if got := Unavailable(wrap("auth.test", classify(tc.err))); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
