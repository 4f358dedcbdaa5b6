package bot

import (
	"strings"
	"testing"
)

func TestSlackLimitScale(t *testing.T) {
	base := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
		"GITHUB_TOKEN": "t", "GITHUB_REPO": "acme/alarms", "PAGERDUTY_ROUTING_KEY": "k",
		"DISPATCH_TASK_KEYS": "task-key-one-0123456789abcdef0123456789",
	}
	c, err := LoadConfig(env(base))
	if err != nil || c.SlackLimitScale != 1 {
		t.Fatalf("default: scale %v, %v; want 1", c.SlackLimitScale, err)
	}
	if o := slackOptions(c, nil); o.Limits != nil || o.PostPace != nil {
		t.Errorf("at scale 1 the adapter's own limits must apply: %+v", o)
	}
	base["SLACK_LIMIT_SCALE"] = "60"
	if c, err = LoadConfig(env(base)); err != nil || c.SlackLimitScale != 60 {
		t.Fatalf("60: scale %v, %v", c.SlackLimitScale, err)
	}
	if o := slackOptions(c, nil); o.Limits["chat.update"][0].Span.Seconds() != 1 {
		t.Errorf("chat.update at scale 60: %+v, want a one-second window", o.Limits["chat.update"])
	}
	for _, bad := range []string{"0", "-1", "fast"} {
		base["SLACK_LIMIT_SCALE"] = bad
		if _, err := LoadConfig(env(base)); err == nil || !strings.Contains(err.Error(), "SLACK_LIMIT_SCALE") {
			t.Errorf("SLACK_LIMIT_SCALE=%s: %v", bad, err)
		}
	}
}
