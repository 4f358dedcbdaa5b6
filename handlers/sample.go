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

	"github.com/dispatch-oss/dispatch/alerts"
)

// SampleAlarm is the self-service alarm /dispatch test sends to userID: the whole pipeline, end to
// end. Its requestId carries a signature (keys[0]) over the whole alarm, which is what makes it a
// test (a No never pages, nor does a missed deadline; its issue is labelled dispatch:test): a label
// in an alarm can't, as anyone who publishes alarms can write one, nor can the requestId alone, which
// the member reads in the DM and a publisher could put on a real alarm. Only this very alarm,
// addressed to this user with this text, is a test. Its title ends with a random suffix, so two tests
// never share a title (a second would be taken for a duplicate of the first).
func SampleAlarm(userID string, now time.Time, keys [][]byte) []byte {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	id := fmt.Sprintf("%s%s-%d-%x", sampleIDPrefix, userID, now.UnixNano(), suffix)
	msg := map[string]any{
		"type":      "self-service",
		"requestId": id,
		"users":     []map[string]string{{"slackId": userID}},
		"body": map[string]any{
			"github": map[string]any{
				"title": fmt.Sprintf("dispatch test alarm for %s at %s (%x)", userID, now.UTC().Format(time.RFC3339), suffix),
				"body":  "A test alarm sent with `/dispatch test`. Answer it in Slack to see the whole loop work.",
			},
			"slack": map[string]any{
				"message": "This is a test alarm from `/dispatch test`. Nothing happened: answer either way to see what dispatch does.",
				"prompt":  "Did you ask for this test alarm?",
				// Spelled out, not left to the defaults: the signature covers them, and a replica
				// whose defaults differ (a rolling upgrade) must still see the same alarm.
				"actions": map[string]any{"yes": alerts.DefaultYes, "no": alerts.DefaultNo,
					"yes_response": alerts.DefaultYesResponse, "no_response": alerts.DefaultNoResponse},
			},
		},
	}
	b, _ := json.Marshal(msg)
	a, _, _ := alerts.Decode(b)
	msg["requestId"] = id + "." + sampleMAC(keys[0], id, a)
	b, _ = json.Marshal(msg)
	return b
}

// sampleIDPrefix starts the requestId of every /dispatch test alarm.
const sampleIDPrefix = "dispatch-test-"

// sampleContext separates a test alarm's signature from the other uses of the task keys. v2 signs
// the whole alarm; v1 signed only its id, which any alarm could reuse.
const sampleContext = "dispatch sample v2\x00"

// sampleMAC signs id and everything else of the decoded alarm a: its user, its texts, its repo,
// service, labels and deadlines, so no other alarm carries the same signature.
func sampleMAC(key []byte, id string, a alerts.Alarm) string {
	a.RequestID = ""
	whole, _ := json.Marshal(a)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sampleContext))
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write(whole)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:22] // 132 bits
}

// isSample reports whether a is, field for field, an alarm SampleAlarm made and signed with one of
// keys: the same requestId on any other alarm is not.
func isSample(keys [][]byte, a *alerts.Alarm) bool {
	id, sig, ok := strings.Cut(a.RequestID, ".")
	if !ok || !strings.HasPrefix(id, sampleIDPrefix) {
		return false
	}
	for _, k := range keys {
		if hmac.Equal([]byte(sampleMAC(k, id, *a)), []byte(sig)) {
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
