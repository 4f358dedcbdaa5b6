package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SampleAlarm is the self-service alarm /dispatch test sends to userID: the whole pipeline, end to
// end. Its requestId is signed with keys[0], which is what makes it a test (a No never pages, its
// issue is labelled dispatch:test): a label in an alarm can't, as anyone who publishes alarms can
// write one. Its title ends with a random suffix, so two tests never share a title (a second would
// be taken for a duplicate of the first).
func SampleAlarm(userID string, now time.Time, keys [][]byte) []byte {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	id := fmt.Sprintf("%s%s-%d-%x", sampleIDPrefix, userID, now.UnixNano(), suffix)
	msg := map[string]any{
		"type":      "self-service",
		"requestId": id + "." + sampleMAC(keys[0], id),
		"users":     []map[string]string{{"slackId": userID}},
		"body": map[string]any{
			"github": map[string]any{
				"title": fmt.Sprintf("dispatch test alarm for %s at %s (%x)", userID, now.UTC().Format(time.RFC3339), suffix),
				"body":  "A test alarm sent with `/dispatch test`. Answer it in Slack to see the whole loop work.",
			},
			"slack": map[string]any{
				"message": "This is a test alarm from `/dispatch test`. Nothing happened: answer either way to see what dispatch does.",
				"prompt":  "Did you ask for this test alarm?",
			},
		},
	}
	b, _ := json.Marshal(msg)
	return b
}

// sampleIDPrefix starts the requestId of every /dispatch test alarm.
const sampleIDPrefix = "dispatch-test-"

// sampleContext separates a test alarm's signature from the other uses of the task keys.
const sampleContext = "dispatch sample v1\x00"

func sampleMAC(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sampleContext))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:22] // 132 bits
}

// isSample reports whether requestID is one SampleAlarm signed with one of keys.
func isSample(keys [][]byte, requestID string) bool {
	id, sig, ok := strings.Cut(requestID, ".")
	if !ok || !strings.HasPrefix(id, sampleIDPrefix) {
		return false
	}
	for _, k := range keys {
		if hmac.Equal([]byte(sampleMAC(k, id)), []byte(sig)) {
			return true
		}
	}
	return false
}

// ownLabel reports whether an alarm's label is one of dispatch's own, which only dispatch sets: its
// state (dispatch:escalated, dispatch:test) is read back from them.
func ownLabel(l string) bool {
	l = strings.ToLower(l)
	return l == LabelDispatch || strings.HasPrefix(l, LabelDispatch+":")
}
