package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DefaultMaxReceiveCount is the redrive policy's maxReceiveCount when QueueOptions gives none: the
// one deploy/dispatch.yaml deploys.
const DefaultMaxReceiveCount = 5

// QueueOptions configures NewQueue. The zero value is a standard queue with
// the server's default visibility timeout and no dead-letter queue.
type QueueOptions struct {
	// VisibilityTimeout is how long a received message stays hidden. Zero
	// means DefaultVisibilityTimeout; SQS counts whole seconds, so anything
	// else is rounded up to the next second.
	VisibilityTimeout time.Duration
	// DLQ adds a dead-letter queue and a redrive policy that moves a message
	// there once it has been received MaxReceiveCount times without being
	// deleted.
	DLQ bool
	// MaxReceiveCount is the redrive policy's maxReceiveCount; zero means
	// DefaultMaxReceiveCount. Ignored without DLQ.
	MaxReceiveCount int
	// FIFO makes a FIFO queue (and FIFO dead-letter queue): the names end in
	// ".fifo", messages need a MessageGroupId, one message per group is in
	// flight at a time, and MessageDeduplicationId deduplicates.
	FIFO bool
}

// Queue names a queue made by NewQueue. DLQURL and DLQARN are empty without
// QueueOptions.DLQ.
//
// URL points at the server itself ("http://127.0.0.1:PORT/ACCOUNT/NAME").
// goaws's own CreateQueue answer puts the region in front of the IP address,
// which does not resolve; goaws routes by the last path segment either way.
type Queue struct {
	URL, ARN, Name string
	DLQURL, DLQARN string
}

// NewQueue creates a queue named after t.Name() plus a process-wide counter,
// with a dead-letter queue and redrive policy when opts.DLQ is set, and
// deletes both in t.Cleanup. It fails the test (t.Fatal) if goaws refuses.
func (s *Server) NewQueue(t testing.TB, opts QueueOptions) Queue {
	t.Helper()
	ctx, cancel := cleanupContext()
	defer cancel()
	q, err := s.CreateQueue(ctx, t.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := s.DeleteQueue(ctx, q); err != nil {
			t.Error(err)
		}
	})
	return q
}

// CreateQueue is NewQueue for code that is not a test (the demo): the queue is
// named after base plus a process-wide counter, and the caller deletes it with
// DeleteQueue. When the main queue cannot be made, the dead-letter queue
// already made is deleted again and the error returned.
func (s *Server) CreateQueue(ctx context.Context, base string, opts QueueOptions) (Queue, error) {
	// SQS names: up to 80 characters of [A-Za-z0-9_-], ".fifo" included.
	base = s.newName(base, 80-len("-dlq.fifo"))
	q := Queue{Name: base}
	if opts.FIFO {
		q.Name += ".fifo"
	}
	attrs := map[string]string{}
	if opts.FIFO {
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	if opts.VisibilityTimeout > 0 {
		secs := (opts.VisibilityTimeout + time.Second - 1) / time.Second
		attrs[string(types.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int(secs))
	}

	if opts.DLQ {
		dlqName := base + "-dlq"
		if opts.FIFO {
			dlqName += ".fifo"
		}
		dlqAttrs := map[string]string{}
		if opts.FIFO {
			dlqAttrs[string(types.QueueAttributeNameFifoQueue)] = "true"
		}
		var err error
		if q.DLQURL, q.DLQARN, err = s.createQueue(ctx, dlqName, dlqAttrs); err != nil {
			return Queue{}, err
		}
		maxReceive := opts.MaxReceiveCount
		if maxReceive <= 0 {
			maxReceive = DefaultMaxReceiveCount
		}
		policy, err := json.Marshal(map[string]string{
			"deadLetterTargetArn": q.DLQARN,
			"maxReceiveCount":     strconv.Itoa(maxReceive),
		})
		if err != nil {
			return Queue{}, errors.Join(fmt.Errorf("awstest: redrive policy: %w", err), s.deleteQueue(ctx, q.DLQURL))
		}
		attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	var err error
	if q.URL, q.ARN, err = s.createQueue(ctx, q.Name, attrs); err != nil {
		if q.DLQURL != "" {
			err = errors.Join(err, s.deleteQueue(ctx, q.DLQURL))
		}
		return Queue{}, err
	}
	return q, nil
}

// DeleteQueue deletes a queue made by CreateQueue and its dead-letter queue,
// returning every failure.
func (s *Server) DeleteQueue(ctx context.Context, q Queue) error {
	err := s.deleteQueue(ctx, q.URL)
	if q.DLQURL != "" {
		err = errors.Join(err, s.deleteQueue(ctx, q.DLQURL))
	}
	return err
}

// createQueue creates a queue and returns its URL and ARN.
func (s *Server) createQueue(ctx context.Context, name string, attrs map[string]string) (url, arn string, err error) {
	if _, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}); err != nil {
		return "", "", fmt.Errorf("awstest: create queue %s: %w", name, err)
	}
	url = s.url + "/" + AccountID + "/" + name
	return url, fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, AccountID, name), nil
}

func (s *Server) deleteQueue(ctx context.Context, url string) error {
	if _, err := s.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		return fmt.Errorf("awstest: delete queue %s: %w", url[strings.LastIndex(url, "/")+1:], err)
	}
	return nil
}

// Depth returns the queue's ApproximateNumberOfMessages. Unlike AWS, goaws
// counts in-flight and delayed messages too, so this is every message not
// yet deleted (or moved to a dead-letter queue).
func (s *Server) Depth(ctx context.Context, queueURL string) (int, error) {
	out, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("awstest: depth of %s: %w", queueURL, err)
	}
	v, ok := out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)]
	if !ok {
		return 0, fmt.Errorf("awstest: depth of %s: no ApproximateNumberOfMessages in answer", queueURL)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("awstest: depth of %s: %w", queueURL, err)
	}
	return n, nil
}

// Drain receives and deletes every message visible in the queue, ten at a
// time, until a receive comes back empty, and returns their bodies in the
// order received. It does not wait for in-flight or delayed messages, nor for
// dead-letter moves still to come: poll it with a deadline for those. On an
// error, including ctx ending, it returns the bodies drained so far with the
// error.
func (s *Server) Drain(ctx context.Context, queueURL string) ([]string, error) {
	var bodies []string
	for {
		if err := ctx.Err(); err != nil {
			return bodies, err
		}
		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 10,
		})
		if err != nil {
			return bodies, fmt.Errorf("awstest: drain %s: %w", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return bodies, nil
		}
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, len(out.Messages))
		for i, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		del, err := s.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return bodies, fmt.Errorf("awstest: drain %s: delete: %w", queueURL, err)
		}
		if len(del.Failed) > 0 {
			f := del.Failed[0]
			return bodies, fmt.Errorf("awstest: drain %s: delete: %d failed, first: %s %s",
				queueURL, len(del.Failed), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
}
