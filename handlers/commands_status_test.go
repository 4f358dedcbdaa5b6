package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type fixedStatus StatusReport

func (s fixedStatus) Status(context.Context) StatusReport { return StatusReport(s) }

type failingPublisher struct{ err error }

func (p failingPublisher) Publish(context.Context, []byte) error { return p.err }

type memberSafe struct {
	summary string
	err     error
}

func (m *memberSafe) Error() string  { return m.err.Error() }
func (m *memberSafe) Public() string { return m.summary }

// TestStatusShowsMembersNoAccountOrARN: any member can run /dispatch status and /dispatch test; a
// raw AWS error (account ID, role ARN, queue URL) never reaches them, only the adapter's
// member-safe sentence, or a generic one when there is none.
func TestStatusShowsMembersNoAccountOrARN(t *testing.T) {
	raw := errors.New("operation error SQS: GetQueueAttributes, https response error StatusCode: 403, api error AccessDenied: User: arn:aws:sts::123456789012:assumed-role/dispatch-role/i-0abc is not authorized to perform: sqs:GetQueueAttributes on resource: arn:aws:sqs:us-east-1:123456789012:dispatch")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"classified by the adapter", fmt.Errorf("sqs queue attributes: %w", &memberSafe{"the queue is unreachable: access denied", raw}), "the queue is unreachable: access denied"},
		{"a raw error", raw, "the detail is in dispatch's log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCommands("acme/alarms", fixedStatus{QueueErr: tc.err, DLQDepth: -1}, nil, failingPublisher{tc.err}, [][]byte{testKey})
			for _, cmd := range []string{"status", "test"} {
				text := c.Command(context.Background(), Command{UserID: "U0ALICE", Text: cmd}).Text
				if !strings.Contains(text, tc.want) {
					t.Errorf("/dispatch %s: %q lacks %q", cmd, text, tc.want)
				}
				for _, secret := range []string{"123456789012", "arn:aws", "dispatch-role", "https://"} {
					if strings.Contains(text, secret) {
						t.Errorf("/dispatch %s shows %q: %s", cmd, secret, text)
					}
				}
			}
		})
	}
}
