package sqsqueue

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/aws/smithy-go"
)

// Problem is an SQS failure as a member may see it: a short sentence that names no account ID, role
// ARN or queue URL (raw AWS errors carry all three). Error keeps the whole detail, for the log.
type Problem struct {
	Summary string // "the queue is unreachable: access denied"
	Err     error
}

func (p *Problem) Error() string { return p.Err.Error() }

// Unwrap returns the SDK's error.
func (p *Problem) Unwrap() error { return p.Err }

// Public is the sentence for members.
func (p *Problem) Public() string { return p.Summary }

// Classify wraps an SQS error in a Problem that says what kind of failure it is; nil stays nil.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var p *Problem
	if errors.As(err, &p) {
		return err
	}
	return &Problem{Summary: "the queue is unreachable: " + kind(err), Err: err}
}

// kind names a failure by its AWS error code or its network cause.
func kind(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case strings.Contains(code, "AccessDenied"), code == "AuthorizationError", code == "KMS.AccessDeniedException":
			return "access denied (check the role's sqs: permissions)"
		case strings.Contains(code, "NonExistentQueue"), code == "QueueDoesNotExist":
			return "no such queue (check DISPATCH_QUEUE_URL and the region)"
		case code == "InvalidClientTokenId", code == "UnrecognizedClientException", code == "SignatureDoesNotMatch", code == "InvalidSignatureException", code == "MissingAuthenticationToken":
			return "the AWS credentials were refused"
		case code == "ExpiredToken", code == "ExpiredTokenException", code == "RequestExpired":
			return "the AWS credentials have expired"
		case strings.Contains(code, "Throttl"), code == "RequestThrottled", code == "OverLimit":
			return "AWS is throttling requests"
		}
		return "AWS refused the request (" + safeCode(code) + ")"
	}
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timed out"
	case errors.As(err, &nerr):
		return "network error"
	}
	return "unexpected error (the detail is in dispatch's log)"
}

// safeCode keeps an error code only when it looks like one (letters, digits, dots), so nothing
// else of the error rides along.
func safeCode(code string) string {
	if code == "" || len(code) > 64 {
		return "unknown error"
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return "unknown error"
		}
	}
	return code
}
