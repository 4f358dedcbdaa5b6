package bot

import (
	"strings"
	"testing"
	"time"
)

// TestPagerDutyFollowUpConfig: the events queue and the polling interval load, with the interval's
// default, and a bad interval is reported.
func TestPagerDutyFollowUpConfig(t *testing.T) {
	m := valid()
	c, err := LoadConfig(env(m))
	if err != nil || c.PagerDutyEventsQueueURL != "" || c.PagerDutyPoll != DefaultPagerDutyPoll {
		t.Fatalf("defaults: %q, %v, %v", c.PagerDutyEventsQueueURL, c.PagerDutyPoll, err)
	}
	m["PAGERDUTY_EVENTS_QUEUE_URL"] = "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch-pagerduty.fifo"
	m["PAGERDUTY_POLL_INTERVAL"] = "1m"
	if c, err = LoadConfig(env(m)); err != nil || c.PagerDutyEventsQueueURL != m["PAGERDUTY_EVENTS_QUEUE_URL"] || c.PagerDutyPoll != time.Minute {
		t.Fatalf("overrides: %q, %v, %v", c.PagerDutyEventsQueueURL, c.PagerDutyPoll, err)
	}
	m["PAGERDUTY_POLL_INTERVAL"] = "soon"
	if _, err := LoadConfig(env(m)); err == nil || !strings.Contains(err.Error(), "PAGERDUTY_POLL_INTERVAL") {
		t.Errorf("a bad interval: %v", err)
	}
}
