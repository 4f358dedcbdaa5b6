package sqsqueue

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Unwrap reads a queue body: an SNS notification envelope, one of dispatch's signed tasks, or a raw
// alarm (raw delivery on, or sent straight to the queue). Errors describe a broken envelope; a raw
// body is not checked here (alerts.Decode does that).
func Unwrap(body []byte, sqsMessageID string, taskKey []byte) (Unwrapped, error) {
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
		task, err := openTask(trimmed, taskKey)
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
		// A "Type" that isn't a notification is not something SNS delivers to a queue.
		return out, fmt.Errorf("SNS envelope of type %s, want Notification", string(probe["Type"]))
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

// SealTask serialises and signs a task.
func SealTask(t handlers.Task, key []byte) ([]byte, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return json.Marshal(taskEnvelope{Task: raw, Sig: sign(raw, key)})
}

func openTask(body, key []byte) (*handlers.Task, error) {
	var env taskEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("task envelope: %w", err)
	}
	if !hmac.Equal([]byte(env.Sig), []byte(sign(env.Task, key))) {
		return nil, errors.New("task envelope: bad signature (not sent by this dispatch deployment)")
	}
	var t handlers.Task
	if err := json.Unmarshal(env.Task, &t); err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	return &t, nil
}

func sign(data, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// TaskKey derives the task-signing key from a secret every replica shares (the Slack app token), so
// no extra setting is needed. The derived key is never logged, nor is the secret.
func TaskKey(secret string) []byte {
	sum := sha256.Sum256([]byte("dispatch task key v1\x00" + secret))
	return sum[:]
}
