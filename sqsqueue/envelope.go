package sqsqueue

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dispatch-oss/dispatch/handlers"
)

// snsEnvelope is the part of an SNS notification (raw delivery off) that dispatch reads.
type snsEnvelope struct {
	Type      string  `json:"Type"`
	MessageID string  `json:"MessageId"`
	TopicArn  string  `json:"TopicArn"`
	Message   *string `json:"Message"`
	Timestamp string  `json:"Timestamp"` // when SNS accepted the publish, RFC 3339
}

// taskEnvelope is how dispatch puts a handlers.Task on its own queue, signed so that nobody who can
// merely publish alarms can forge one (an answer, say).
type taskEnvelope struct {
	Task json.RawMessage `json:"dispatchTask"`
	Sig  string          `json:"sig"`
}

// Unwrapped is a queue message's content, once out of its envelope.
type Unwrapped struct {
	Payload    []byte         // the alarm JSON (when Task is nil)
	DeliveryID string         // the SNS MessageId, else the SQS one: the same for every redelivery
	Task       *handlers.Task // set when the message is a deferred task
	// PublishedAt is when the alarm was published: the SNS envelope's Timestamp (Queue.Unwrap falls
	// back on SQS's SentTimestamp); zero when unknown.
	PublishedAt time.Time
	TaskID      string // the task's id (Task.ID), also for an expired one
}

// Unwrap reads a queue body: an SNS notification envelope, one of dispatch's signed tasks, or a raw
// alarm (raw delivery on, or sent straight to the queue). Errors describe a broken envelope, a task
// no key signed (ErrTaskSignature) or one past its expiry at now (ErrTaskExpired); a raw body is not
// checked here (alerts.Decode does that).
func Unwrap(body []byte, sqsMessageID string, keys TaskKeys, now time.Time) (Unwrapped, error) {
	out := Unwrapped{Payload: body, DeliveryID: sqsMessageID}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(trimmed) {
		return out, nil
	}
	// Only the top-level keys matter here; a body that isn't one JSON object is left to Decode.
	var probe map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(trimmed)).Decode(&probe); err != nil {
		return out, nil
	}
	if _, ok := probe["dispatchTask"]; ok {
		task, id, err := openTask(trimmed, keys, now)
		out.TaskID = id
		if err != nil {
			return out, err
		}
		out.Task = task
		return out, nil
	}
	_, snsType := probe["Type"]
	_, alarmType := probe["type"]
	if !snsType || alarmType {
		// "type" (lower case) is the alarm's own; "Type" alone is SNS's.
		return out, nil
	}
	var env snsEnvelope
	if err := json.Unmarshal(probe["Type"], &env.Type); err != nil || env.Type != "Notification" {
		// A "Type" that isn't a notification is not something SNS delivers to a queue. The value is
		// the publisher's: quoted and cut, as it ends up in logs and the fallback channel.
		typ := string(probe["Type"]) // not a JSON string: its raw text
		if err == nil {
			typ = env.Type
		}
		return out, fmt.Errorf("SNS envelope of type %s, want Notification", quoteCut(typ, maxQuotedType))
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return out, fmt.Errorf("SNS envelope: %w", err)
	}
	if env.Message == nil {
		return out, errors.New("SNS envelope has no Message string")
	}
	out.Payload = []byte(*env.Message)
	if t, err := time.Parse(time.RFC3339Nano, env.Timestamp); err == nil {
		out.PublishedAt = t
	}
	if env.MessageID != "" {
		out.DeliveryID = env.MessageID
	}
	return out, nil
}

// maxQuotedType bounds how much of an envelope's "Type" value its error quotes: a real SNS type is a
// word; anything longer is a publisher's text, which needs no more to be recognised.
const maxQuotedType = 40

// quoteCut quotes s (Go escapes: no newline, control character or quote of its own survives), cut to
// its first n characters, the cut marked with an ellipsis.
func quoteCut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) > n {
		return strconv.Quote(string([]rune(s)[:n])) + "…"
	}
	return strconv.Quote(s)
}

// TaskKeys are the keys of dispatch's own tasks (DISPATCH_TASK_KEYS): the first signs, every one
// verifies, so a key is rotated by putting the new one first and dropping the old one once the tasks
// it signed are gone (handlers.TaskValidity). They are dispatch's alone, shared by every
// replica, and never derived from a third-party token: whoever holds the Slack app token cannot
// forge a task, and rotating that token strands none.
type TaskKeys [][]byte

// MinTaskKeyLen is the shortest task key accepted: 32 bytes, the size of the HMAC-SHA256 output.
const MinTaskKeyLen = 32

// ErrTaskExpired is returned (wrapped) for a correctly signed task past its expiry: it is to be
// dropped, logged and counted, not dead-lettered.
var ErrTaskExpired = errors.New("task expired")

// ErrTaskSignature is returned (wrapped) for a task no key of this deployment signed.
var ErrTaskSignature = errors.New("task envelope: bad signature (not sent by this dispatch deployment, or signed with a key no longer in DISPATCH_TASK_KEYS)")

// sealedTask is what a task signature covers: the task, with an id for the logs and its validity.
type sealedTask struct {
	ID       string    `json:"id"`  // the work's id (Task.ID): the same for every copy of it
	IssuedAt time.Time `json:"iat"` // when this copy was sealed
	Expires  time.Time `json:"exp"` // Task.Expiry: not acted on after
	handlers.Task
}

// taskMACPrefix separates task signatures from anything else signed with the same keys (the
// button tickets), so one can never pass for the other.
const taskMACPrefix = "dispatch task v2\x00"

// SealTask serialises and signs a task with the first key, stamping it issued now and valid until
// t.Expiry(now).
func SealTask(t handlers.Task, keys TaskKeys, now time.Time) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("no task key")
	}
	raw, err := json.Marshal(sealedTask{ID: t.ID(), IssuedAt: now.UTC(), Expires: t.Expiry(now).UTC(), Task: t})
	if err != nil {
		return nil, err
	}
	return json.Marshal(taskEnvelope{Task: raw, Sig: sign(raw, keys[0])})
}

// openTask checks a task's signature against every key, then its expiry. The signature is checked
// first: nothing of an unsigned body is believed, its expiry included.
func openTask(body []byte, keys TaskKeys, now time.Time) (*handlers.Task, string, error) {
	var env taskEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, "", fmt.Errorf("task envelope: %w", err)
	}
	signed := false
	for _, k := range keys {
		if hmac.Equal([]byte(env.Sig), []byte(sign(env.Task, k))) {
			signed = true
			break
		}
	}
	if !signed {
		return nil, "", ErrTaskSignature
	}
	var st sealedTask
	if err := json.Unmarshal(env.Task, &st); err != nil {
		return nil, "", fmt.Errorf("task: %w", err)
	}
	if st.Expires.IsZero() || !now.Before(st.Expires) {
		return nil, st.ID, fmt.Errorf("%w: %s task %s expired at %s", ErrTaskExpired, st.Kind, st.ID, st.Expires.Format(time.RFC3339))
	}
	return &st.Task, st.ID, nil
}

func sign(data, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(taskMACPrefix))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}
