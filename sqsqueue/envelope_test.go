package sqsqueue

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/handlers"
)

func TestUnwrap(t *testing.T) {
	key := TaskKeys{testKey("one")}
	now := time.Now()
	sealed, err := SealTask(handlers.Task{Kind: handlers.TaskAnswer}, key, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body   string
		wantPayload  string
		wantDelivery string
		wantTask     bool
		wantErr      bool
	}{
		{name: "raw alarm", body: `{"type":"high"}`, wantPayload: `{"type":"high"}`, wantDelivery: "sqs-1"},
		{name: "not JSON is left to the decoder", body: `nope`, wantPayload: `nope`, wantDelivery: "sqs-1"},
		{name: "SNS envelope", body: `{"Type":"Notification","MessageId":"sns-9","Message":"{\"type\":\"low\"}"}`, wantPayload: `{"type":"low"}`, wantDelivery: "sns-9"},
		{name: "both Type and type: an alarm", body: `{"Type":"x","type":"low"}`, wantPayload: `{"Type":"x","type":"low"}`, wantDelivery: "sqs-1"},
		{name: "SNS envelope without Message", body: `{"Type":"Notification","MessageId":"m"}`, wantErr: true},
		{name: "SNS envelope with an object Message", body: `{"Type":"Notification","Message":{}}`, wantErr: true},
		{name: "not a notification", body: `{"Type":"SubscriptionConfirmation"}`, wantErr: true},
		{name: "sealed task", body: string(sealed), wantTask: true, wantDelivery: "sqs-1"},
		{name: "forged task", body: `{"dispatchTask":{"kind":"answer"},"sig":"00"}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Unwrap([]byte(tc.body), "sqs-1", key, now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if (u.Task != nil) != tc.wantTask || u.DeliveryID != tc.wantDelivery || (!tc.wantTask && string(u.Payload) != tc.wantPayload) {
				t.Errorf("Unwrap = %+v (payload %s)", u, u.Payload)
			}
		})
	}
	if _, err := Unwrap(sealed, "x", TaskKeys{testKey("another deployment")}, now); !errors.Is(err, ErrTaskSignature) {
		t.Errorf("a task sealed with another key: err = %v, want ErrTaskSignature", err)
	}
}

// TestEnvelopeErrorQuotesABoundedType: a publisher's "Type" reaches the error (and so the log and
// the fallback channel) quoted and cut, however long it is or whatever it holds.
func TestEnvelopeErrorQuotesABoundedType(t *testing.T) {
	long := strings.Repeat("A", 30000)
	for _, typ := range []string{`"` + long + `"`, `{"x":"` + long + `"}`, "{\n\"line\":\n\"*bold* <!here>" + long + "\"}"} {
		_, err := Unwrap([]byte(`{"Type":`+typ+`}`), "sqs-1", TaskKeys{testKey("one")}, time.Now())
		if err == nil {
			t.Fatalf("Type %.30s…: no error", typ)
		}
		if msg := err.Error(); len(msg) > 200 || strings.ContainsAny(msg, "\n\r") || !strings.Contains(msg, "want Notification") {
			t.Errorf("Type %.30s…: the error is %d bytes: %.300q", typ, len(msg), msg)
		}
	}
}

func testKey(name string) []byte { return []byte(strings.Repeat(name, MinTaskKeyLen/len(name)+1)) }

// TestTaskKeysRotate: the first key signs, every key verifies, so a task sealed before a rotation
// (new key first, old second) still opens after it; one whose key was dropped does not.
func TestTaskKeysRotate(t *testing.T) {
	old, next := testKey("old"), testKey("new")
	now := time.Now()
	task := handlers.Task{Kind: handlers.TaskRemind, Deadline: &handlers.DeadlineTask{Ticket: handlers.Ticket{Alarm: "a1", User: "U1"}, DueAt: now}}
	before, err := SealTask(task, TaskKeys{old}, now)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := SealTask(task, TaskKeys{next, old}, now)
	for _, tc := range []struct {
		name string
		body []byte
		keys TaskKeys
		ok   bool
	}{
		{"sealed before, opened during the rotation", before, TaskKeys{next, old}, true},
		{"sealed during, opened during", after, TaskKeys{next, old}, true},
		{"sealed during, opened after the old key is dropped", after, TaskKeys{next}, true},
		{"sealed before, opened after the old key is dropped", before, TaskKeys{next}, false},
		{"sealed during, opened by a replica not yet rotated", after, TaskKeys{old}, false},
	} {
		u, err := Unwrap(tc.body, "m", tc.keys, now)
		if tc.ok && (err != nil || u.Task == nil || u.Task.Deadline.Ticket.Alarm != "a1" || u.TaskID != "remind/a1/U1") {
			t.Errorf("%s: %+v, %v", tc.name, u, err)
		}
		if !tc.ok && !errors.Is(err, ErrTaskSignature) {
			t.Errorf("%s: err = %v, want ErrTaskSignature", tc.name, err)
		}
	}
}

// TestTaskExpiry: a task carries its expiry under the signature; past it, it is refused as
// expired (not as forged), and changing the expiry breaks the signature.
func TestTaskExpiry(t *testing.T) {
	keys := TaskKeys{testKey("k")}
	click := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	answer := handlers.Task{Kind: handlers.TaskAnswer, Answer: &handlers.AnswerTask{Ticket: handlers.Ticket{Alarm: "a", User: "U1"}, At: click, Attempts: 3}}
	// Re-deferred two days after the click: the expiry still counts from the click.
	body, err := SealTask(answer, keys, click.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unwrap(body, "m", keys, click.Add(handlers.TaskValidity-time.Minute)); err != nil {
		t.Errorf("within its validity: %v", err)
	}
	u, err := Unwrap(body, "m", keys, click.Add(handlers.TaskValidity))
	if !errors.Is(err, ErrTaskExpired) || u.TaskID != "answer/a/U1" {
		t.Errorf("past its expiry: %v (id %q), want ErrTaskExpired", err, u.TaskID)
	}
	forged := bytes.Replace(body, []byte(`"exp":"2026-01-05`), []byte(`"exp":"2036-01-05`), 1)
	if bytes.Equal(forged, body) {
		t.Fatalf("test broken: no expiry found in %s", body)
	}
	if _, err := Unwrap(forged, "m", keys, click.Add(handlers.TaskValidity)); !errors.Is(err, ErrTaskSignature) {
		t.Errorf("an extended expiry: err = %v, want ErrTaskSignature", err)
	}
	due := click.Add(time.Hour)
	deadline := handlers.Task{Kind: handlers.TaskEscalate, Deadline: &handlers.DeadlineTask{DueAt: due}}
	if got := deadline.Expiry(click); !got.Equal(due.Add(handlers.TaskValidity)) {
		t.Errorf("deadline expiry %s, want its due time + grace", got)
	}
	file := handlers.Task{Kind: handlers.TaskFile, File: &handlers.FileTask{Since: click}}
	if got := file.Expiry(click.Add(time.Hour)); !got.Equal(click.Add(handlers.TaskValidity)) {
		t.Errorf("file expiry %s, want from the prompt", got)
	}
}

// FuzzUnwrap: no envelope crashes the parser, and what it returns is consistent.
func FuzzUnwrap(f *testing.F) {
	key := TaskKeys{testKey("k")}
	now := time.Now()
	sealed, _ := SealTask(handlers.Task{Kind: handlers.TaskRemind}, key, now)
	for _, s := range []string{`{"type":"high"}`, `{"Type":"Notification","MessageId":"a","Message":"{}"}`, string(sealed), `{"dispatchTask":1}`, `[`, ``, `{"Type":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := Unwrap(body, "id", key, now)
		if err != nil {
			return
		}
		if u.DeliveryID == "" {
			t.Fatal("no delivery id")
		}
		if u.Task == nil && u.Payload == nil && len(body) > 0 {
			t.Fatal("no payload")
		}
		if u.Task == nil && !bytes.Contains(body, []byte(`"Type"`)) && !bytes.Equal(u.Payload, body) {
			t.Fatal("a raw body was changed")
		}
	})
}
