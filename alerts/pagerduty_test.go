package alerts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPagerDutyEventIsNoAlarm: a PagerDuty incident event published to the alarm topic (anyone who
// may publish can send any JSON) is refused as bad input with its reason, whatever else it carries,
// so it can never pass for an alarm nor be taken for a change of an incident.
func TestPagerDutyEventIsNoAlarm(t *testing.T) {
	files, _ := filepath.Glob("../testdata/pagerduty/*.json")
	if len(files) == 0 {
		t.Fatal("no samples in testdata/pagerduty")
	}
	bodies := map[string]string{
		"webhook v3 body":                   `{"event":{"id":"e","event_type":"incident.resolved","data":{"incident_key":"dispatch:esc:1"}}}`,
		"an alarm wearing the event's keys": `{"type":"low-priority","body":{"github":{"title":"t"}},"detail-type":"PagerDuty Webhook","detail":{"event":"incident.resolve"}}`,
		"source only":                       `{"type":"low-priority","body":{"github":{"title":"t"}},"source":"aws.partner/pagerduty.com/acme"}`,
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies[filepath.Base(f)] = string(b)
	}
	for name, body := range bodies {
		_, _, err := Decode([]byte(body))
		var inv *InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "PAGERDUTY_EVENTS_QUEUE_URL") {
			t.Errorf("%s: Decode error = %v, want the PagerDuty-event refusal", name, err)
		}
	}
	if _, _, err := Decode([]byte(`{"type":"low-priority","body":{"github":{"title":"t"}},"source":"my-app","event":"deploy"}`)); err != nil {
		t.Errorf("an alarm with its own source and event keys: %v", err)
	}
}
