package sqsqueue

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatch-oss/dispatch/fakes/awstest"
)

func receiveOne(t *testing.T, q *Queue) Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		msgs, err := q.Receive(t.Context(), 1, time.Second, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 {
			return msgs[0]
		}
	}
	t.Fatal("no message")
	return Message{}
}

// TestResendCarriesTheAlarmsHistory: a fresh copy starts again at receive count 1 but keeps the
// first copy's delivery ID, publication time, first receive and attempts; the original is gone.
func TestResendCarriesTheAlarmsHistory(t *testing.T) {
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{DLQ: true})
	q := New(s.SQS(), aq.URL, TaskKeys{testKey("resend")})
	if err := q.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(t.Context(), []byte(`{"type":"nag"}`)); err != nil {
		t.Fatal(err)
	}
	first := receiveOne(t, q)
	u, err := q.Unwrap(first)
	if err != nil || first.ReceiveCount != 1 || first.Resent != nil || u.PublishedAt.IsZero() || first.FirstSeen().IsZero() {
		t.Fatalf("first receive: %+v %+v %v", first, u, err)
	}
	if err := q.Resend(t.Context(), first, u, 0, false); err != nil {
		t.Fatal(err)
	}
	copy := receiveOne(t, q)
	cu, err := q.Unwrap(copy)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case copy.ID == first.ID:
		t.Error("the copy has the original's SQS message ID: not a fresh message")
	case copy.ReceiveCount != 1 || copy.Attempts() != 2:
		t.Errorf("copy: receive count %d, attempts %d; want 1 and 2", copy.ReceiveCount, copy.Attempts())
	case cu.DeliveryID != u.DeliveryID || !cu.PublishedAt.Equal(u.PublishedAt) || !copy.FirstSeen().Equal(first.FirstSeen()):
		t.Errorf("copy: delivery %s published %s first seen %s; want %s %s %s",
			cu.DeliveryID, cu.PublishedAt, copy.FirstSeen(), u.DeliveryID, u.PublishedAt, first.FirstSeen())
	case string(copy.Body) != string(first.Body):
		t.Errorf("copy body %q", copy.Body)
	}
	if n, err := s.Depth(t.Context(), aq.URL); err != nil || n != 1 {
		t.Errorf("queue depth %d (%v), want 1: the original deleted", n, err)
	}
}

// TestForgedHistoryIsIgnored: a publisher who sets dispatch's attributes itself (to make its alarm
// look old, or borrow another alarm's identity) gets a fresh message.
func TestForgedHistoryIsIgnored(t *testing.T) {
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{})
	q := New(s.SQS(), aq.URL, TaskKeys{testKey("resend")})
	_, err = s.SQS().SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(aq.URL), MessageBody: aws.String(`{"type":"nag"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			attrResent:    {DataType: aws.String("String"), StringValue: aws.String(`{"d":"someone-elses-alarm","p":"2020-01-01T00:00:00Z","f":"2020-01-01T00:00:00Z","n":99}`)},
			attrResentSig: {DataType: aws.String("String"), StringValue: aws.String("00")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, q)
	u, _ := q.Unwrap(m)
	if m.Resent != nil || u.DeliveryID != m.ID || m.Attempts() != 1 {
		t.Errorf("forged history honoured: %+v, delivery %s", m.Resent, u.DeliveryID)
	}
}
