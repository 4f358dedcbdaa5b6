package handlers

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// SampleAlarm is the self-service alarm /dispatch test sends to userID: the whole pipeline, end to
// end, with a label that marks its issue as a test. Its title ends with a random suffix, so two
// tests never share a title (a second would be taken for a duplicate of the first).
func SampleAlarm(userID string, now time.Time) []byte {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	msg := map[string]any{
		"type":      "self-service",
		"requestId": fmt.Sprintf("dispatch-test-%s-%d-%x", userID, now.UnixNano(), suffix),
		"users":     []map[string]string{{"slackId": userID}},
		"body": map[string]any{
			"github": map[string]any{
				"title":  fmt.Sprintf("dispatch test alarm for %s at %s (%x)", userID, now.UTC().Format(time.RFC3339), suffix),
				"body":   "A test alarm sent with `/dispatch test`. Answer it in Slack to see the whole loop work.",
				"labels": []string{LabelTest},
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
