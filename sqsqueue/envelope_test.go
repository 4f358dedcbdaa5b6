package sqsqueue

import (
	"bytes"
	"testing"

	"github.com/dispatch-oss/dispatch/handlers"
)

func TestUnwrap(t *testing.T) {
	key := TaskKey("xapp-secret")
	sealed, err := SealTask(handlers.Task{Kind: handlers.TaskAnswer}, key)
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
			u, err := Unwrap([]byte(tc.body), "sqs-1", key)
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
	if _, err := Unwrap(sealed, "x", TaskKey("another deployment")); err == nil {
		t.Error("a task sealed with another key was accepted")
	}
}

// FuzzUnwrap: no envelope crashes the parser, and what it returns is consistent.
func FuzzUnwrap(f *testing.F) {
	key := TaskKey("k")
	sealed, _ := SealTask(handlers.Task{Kind: handlers.TaskRemind}, key)
	for _, s := range []string{`{"type":"high"}`, `{"Type":"Notification","MessageId":"a","Message":"{}"}`, string(sealed), `{"dispatchTask":1}`, `[`, ``, `{"Type":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := Unwrap(body, "id", key)
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
