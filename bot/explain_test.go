package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/aws/smithy-go"
	"github.com/google/go-github/v60/github"
	"github.com/slack-go/slack"
)

// TestClassifyFailure covers the error shapes the end-to-end tests of `dispatch check` can't reach
// with the fakes: AWS's credential errors, and the AWS SDK's "no credentials" words.
func TestClassifyFailure(t *testing.T) {
	opErr := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://sqs.eu-west-1.amazonaws.com/", Err: err}
	}
	for _, tc := range []struct {
		err  error
		want FailureKind
		has  string
	}{
		{opErr(&net.DNSError{Name: "sqs.nowhere.invalid", Err: "no such host", IsNotFound: true}), FailureDNS, `"sqs.nowhere.invalid" does not resolve`},
		{opErr(&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}), FailureRefused, "connection refused by sqs.eu-west-1.amazonaws.com"},
		{fmt.Errorf("operation error SQS: GetQueueAttributes: %w", context.DeadlineExceeded), FailureTimeout, "no answer from sqs.example within 10s"},
		{fmt.Errorf("slack auth.test: %w", slack.SlackErrorResponse{Err: "token_revoked"}), FailureRejected, "(Slack said token_revoked)"},
		{fmt.Errorf("slack auth.test: %w", slack.SlackErrorResponse{Err: "missing_scope"}), FailureOther, "missing_scope. Fix: other"},
		{&github.ErrorResponse{Response: &http.Response{StatusCode: 401}, Message: "Bad credentials"}, FailureRejected, "(GitHub answered 401 Bad credentials)"},
		{&github.ErrorResponse{Response: &http.Response{StatusCode: 404}, Message: "Not Found"}, FailureOther, "Fix: other"},
		{fmt.Errorf("operation error SQS: SendMessage: %w", &smithy.GenericAPIError{Code: "InvalidClientTokenId"}), FailureRejected, "(AWS said InvalidClientTokenId)"},
		{fmt.Errorf("operation error SQS: SendMessage: %w", &smithy.GenericAPIError{Code: "AccessDenied"}), FailureOther, "Fix: other"},
		{errors.New("operation error SQS: GetQueueAttributes, get identity: get credentials: failed to refresh cached credentials, failed to retrieve credentials"), FailureRejected, "(no credentials were found)"},
		{fmt.Errorf("pagerduty list services: %w", pagerduty.APIError{StatusCode: 401}), FailureRejected, "(PagerDuty answered 401)"},
	} {
		if got := ClassifyFailure(tc.err); got != tc.want {
			t.Errorf("ClassifyFailure(%v) = %d, want %d", tc.err, got, tc.want)
		}
		s := Service{URLVar: "URL_VAR", Host: "sqs.example", CredentialsFix: "credentials", OtherFix: "other"}
		if got := ExplainFailure(tc.err, s, 10*time.Second); !strings.Contains(got, tc.has) {
			t.Errorf("ExplainFailure(%v) = %q, want it to contain %q", tc.err, got, tc.has)
		}
	}
}
