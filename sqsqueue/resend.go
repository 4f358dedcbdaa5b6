package sqsqueue

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Message attributes a re-sent copy carries (see Resend).
const (
	attrResent    = "dispatch-resent"
	attrResentSig = "dispatch-resent-sig"
)

// Resent is what a re-sent copy of a message carries over from the copies before it, so that the
// alarm keeps its identity, its age and its count of attempts although SQS sees a new message.
type Resent struct {
	DeliveryID  string    `json:"d"` // the first copy's delivery ID (Unwrapped.DeliveryID)
	PublishedAt time.Time `json:"p"` // when the alarm was published, as the first copy said
	FirstSeen   time.Time `json:"f"` // the first copy's first receive
	Receives    int       `json:"n"` // receives of every earlier copy together
	// Stalls counts the earlier copies re-sent because their receives ran out with the work
	// unfinished: the process stopped (a crash, a kill) while working on them.
	Stalls int `json:"s,omitempty"`
}

// Stalls is how many earlier copies of the alarm ran their receives out unfinished (see Resent).
func (m Message) Stalls() int {
	if m.Resent != nil {
		return m.Resent.Stalls
	}
	return 0
}

// Attempts is how many times the alarm has been received, over every copy, this receive included.
func (m Message) Attempts() int {
	if m.Resent != nil {
		return m.Resent.Receives + m.ReceiveCount
	}
	return m.ReceiveCount
}

// FirstSeen is when dispatch first received the alarm, over every copy.
func (m Message) FirstSeen() time.Time {
	if m.Resent != nil {
		return m.Resent.FirstSeen
	}
	if !m.FirstReceivedAt.IsZero() {
		return m.FirstReceivedAt
	}
	return m.SentAt
}

// Resend puts a fresh copy of m on the queue, delayed by delay (at most MaxDelay), carrying its
// history in signed message attributes, then deletes m. The copy starts again at receive count 1,
// so a valid alarm waiting out an outage never reaches the redrive policy's maxReceiveCount. u is
// m's unwrapped content (for its delivery ID and publication time); stalled says m's receives ran
// out with its work unfinished (counted in Resent.Stalls). If the delete fails after the
// send, both copies exist: the alarm is idempotent, and the copy is marked as resent (handlers
// treat it as a redelivery).
func (q *Queue) Resend(ctx context.Context, m Message, u Unwrapped, delay time.Duration, stalled bool) error {
	r := Resent{DeliveryID: u.DeliveryID, PublishedAt: u.PublishedAt, FirstSeen: m.FirstSeen(), Receives: m.Attempts(), Stalls: m.Stalls()}
	if stalled {
		r.Stalls++
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sqs resend: %w", err)
	}
	body := string(m.Body)
	_, err = q.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     &q.url,
		MessageBody:  &body,
		DelaySeconds: int32(ceilSeconds(min(delay, MaxDelay))),
		MessageAttributes: map[string]types.MessageAttributeValue{
			attrResent:    {DataType: aws.String("String"), StringValue: aws.String(string(raw))},
			attrResentSig: {DataType: aws.String("String"), StringValue: aws.String(q.resentSig(raw, m.Body, q.signingKey()))},
		},
	})
	if err != nil {
		return fmt.Errorf("sqs resend: %w", err)
	}
	return q.Delete(ctx, m)
}

// resentSig binds the carried history to the body, so a publisher can't forge one for its alarm
// (to make it look old, or to borrow another alarm's identity). The first task key signs; every
// one verifies (readResent), as for tasks, so a rotation keeps the history of copies in flight.
func (q *Queue) resentSig(raw, body, key []byte) string {
	h := sha256.Sum256(body)
	return sign([]byte("dispatch resent v1\x00"+string(raw)+"\x00"+hex.EncodeToString(h[:])), key)
}

// signingKey is the first task key (nil without any: such a queue's signatures verify nowhere else).
func (q *Queue) signingKey() []byte {
	if len(q.keys) == 0 {
		return nil
	}
	return q.keys[0]
}

// readResent returns the history a received message carries, or nil when it carries none or its
// signature doesn't match (then it is taken as a fresh message).
func (q *Queue) readResent(m types.Message, body []byte) *Resent {
	v, ok := m.MessageAttributes[attrResent]
	s, sok := m.MessageAttributes[attrResentSig]
	if !ok || !sok || v.StringValue == nil || s.StringValue == nil {
		return nil
	}
	raw := []byte(*v.StringValue)
	signed := false
	for _, k := range q.keys {
		signed = signed || hmac.Equal([]byte(q.resentSig(raw, body, k)), []byte(*s.StringValue))
	}
	if !signed {
		return nil
	}
	var r Resent
	if json.Unmarshal(raw, &r) != nil || r.DeliveryID == "" {
		return nil
	}
	return &r
}

// readTimes sets the message's SentAt and FirstReceivedAt from SQS's system attributes.
func readTimes(m types.Message, msg *Message) {
	at := func(name types.MessageSystemAttributeName) time.Time {
		if ms, err := strconv.ParseInt(m.Attributes[string(name)], 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
		return time.Time{}
	}
	msg.SentAt = at(types.MessageSystemAttributeNameSentTimestamp)
	msg.FirstReceivedAt = at(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)
}

// ceilSeconds is d in whole seconds, rounded up: SQS counts delays and visibility timeouts in
// seconds, and rounding a short wait down to 0 would make it no wait at all.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
