package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/aws/smithy-go"
	"github.com/google/go-github/v60/github"
	"github.com/slack-go/slack"
)

// Service names, for ExplainFailure, the settings that mend a failure to reach a service.
type Service struct {
	URLVar         string // the setting that holds its address, e.g. "SLACK_API_URL"
	Host           string // the host it is called at, when the error does not say (optional)
	CredentialsFix string // what to do when it rejects the credentials (or none are found)
	OtherFix       string // what to do about any other failure ("" for CredentialsFix)
}

// FailureKind is why a call to a service failed, as far as the fix is concerned.
type FailureKind int

// The kinds of failure ExplainFailure tells apart.
const (
	FailureOther    FailureKind = iota // the service answered, and said no for another reason
	FailureDNS                         // the host name does not resolve
	FailureRefused                     // nothing accepts connections at the address
	FailureTimeout                     // no answer within the bound
	FailureRejected                    // the service rejected the credentials, or there were none
)

// Slack's errors for a token it does not accept; AWS's for credentials it does not accept.
var (
	slackTokenErrors = []string{"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "not_allowed_token_type"}
	awsTokenErrors   = []string{"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId",
		"ExpiredToken", "ExpiredTokenException", "InvalidSignatureException", "IncompleteSignature", "AuthFailure", "MissingAuthenticationToken"}
)

// ClassifyFailure tells why err, returned by a call to Slack, GitHub, AWS or PagerDuty, happened.
func ClassifyFailure(err error) FailureKind {
	var dnsErr *net.DNSError
	var netErr net.Error
	_, rejected := rejection(err)
	switch {
	case errors.As(err, &dnsErr):
		return FailureDNS // before timeouts: a resolver that does not answer is a DNS failure too
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return FailureTimeout
	case rejected:
		return FailureRejected
	}
	return FailureOther
}

// rejection reports whether err is a service rejecting the credentials (or none being found),
// and the service's own word for it.
func rejection(err error) (string, bool) {
	var slackErr slack.SlackErrorResponse
	var ghErr *github.ErrorResponse
	var awsErr smithy.APIError
	var pdErr pagerduty.APIError
	switch {
	case errors.As(err, &slackErr) && slices.Contains(slackTokenErrors, slackErr.Err):
		return "Slack said " + slackErr.Err, true
	case errors.As(err, &ghErr) && ghErr.Response != nil && ghErr.Response.StatusCode == 401:
		return fmt.Sprintf("GitHub answered %d %s", ghErr.Response.StatusCode, ghErr.Message), true
	case errors.As(err, &awsErr) && slices.Contains(awsTokenErrors, awsErr.ErrorCode()):
		return "AWS said " + awsErr.ErrorCode(), true
	case errors.As(err, &pdErr) && pdErr.StatusCode == 401:
		return fmt.Sprintf("PagerDuty answered %d", pdErr.StatusCode), true
	case err != nil && strings.Contains(err.Error(), "failed to retrieve credentials"):
		// The AWS SDK has no error type for "no credentials found": only these words.
		return "no credentials were found", true
	}
	return "", false
}

// ExplainFailure says in a sentence or two what went wrong calling the service s, and how to fix
// it: a host name that does not resolve, a refused connection, no answer within timeout and
// rejected credentials each get their own fix.
func ExplainFailure(err error, s Service, timeout time.Duration) string {
	where := address(err, s.Host)
	switch ClassifyFailure(err) {
	case FailureDNS:
		var dnsErr *net.DNSError
		errors.As(err, &dnsErr)
		return fmt.Sprintf("DNS failure: the host name %q does not resolve (%s). Fix: check %s for a typo, and that this machine's DNS and network work.", dnsErr.Name, dnsErr.Err, s.URLVar)
	case FailureRefused:
		return fmt.Sprintf("connection refused by %s: nothing accepts connections there. Fix: check the host and port in %s, that the service is up, and any HTTPS_PROXY.", where, s.URLVar)
	case FailureTimeout:
		return fmt.Sprintf("timed out: no answer from %s within %s. Fix: something (a firewall, a proxy, an unreachable network) drops the traffic, or the service hangs: check the network path to it (HTTPS_PROXY, egress rules) and %s.", where, timeout, s.URLVar)
	case FailureRejected:
		word, _ := rejection(err)
		return fmt.Sprintf("the credentials were rejected (%s). Fix: %s", word, s.CredentialsFix)
	}
	fix := s.OtherFix
	if fix == "" {
		fix = s.CredentialsFix
	}
	return fmt.Sprintf("%v. Fix: %s", err, fix)
}

// address is the host (and port) the failed call went to, as err tells it, or else host.
func address(err error, host string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		return oe.Addr.String()
	}
	if host != "" {
		return host
	}
	return "the service"
}
