package bot

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
	"github.com/dispatch-oss/dispatch/slackapi"
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
	if o := slackOptions(c, nil); !reflect.DeepEqual(o.Limits, slackapi.Limits) || !reflect.DeepEqual(o.PostPace, slackapi.PostLimits) {
		t.Errorf("at scale 1 and one replica the adapter's own limits must apply: %+v", o)
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

// TestReplicasShareEveryBudget: DISPATCH_REPLICAS divides each limit dispatch paces itself within,
// Slack's per method and per channel among them, and is checked like every other setting.
func TestReplicasShareEveryBudget(t *testing.T) {
	m := valid()
	c, err := LoadConfig(env(m))
	if err != nil || c.Replicas != 1 {
		t.Fatalf("default: %d replicas, %v; want 1", c.Replicas, err)
	}
	m["DISPATCH_REPLICAS"] = "2"
	m["SLACK_LIMIT_SCALE"] = "60"
	if c, err = LoadConfig(env(m)); err != nil || c.Replicas != 2 {
		t.Fatalf("DISPATCH_REPLICAS=2: %d, %v", c.Replicas, err)
	}
	o := slackOptions(c, nil)
	if got := o.Limits["chat.update"]; len(got) != 1 || got[0] != (pace.Window{Limit: slackapi.Tier3 / 2, Span: time.Second}) {
		t.Errorf("chat.update for 2 replicas at scale 60: %+v, want %d a second", got, slackapi.Tier3/2)
	}
	if got := o.Limits["chat.postMessage"][0].Limit; got != slackapi.WorkspacePosts/2 {
		t.Errorf("the workspace's chat.postMessage for 2 replicas: %d, want %d", got, slackapi.WorkspacePosts/2)
	}
	if got := o.PostPace[len(o.PostPace)-1].Limit; got != slackapi.PostLimits[len(slackapi.PostLimits)-1].Limit/2 {
		t.Errorf("a channel's chat.postMessage for 2 replicas: %+v", o.PostPace)
	}
	gh := githubOptions(c, nil, nil, retry.Policy{})
	if !reflect.DeepEqual(gh.Pace, []pace.Window{{Limit: 40, Span: time.Minute}, {Limit: 250, Span: time.Hour}}) {
		t.Errorf("GitHub's content-creating windows for 2 replicas: %+v, want 40 a minute and 250 an hour", gh.Pace)
	}
	if !reflect.DeepEqual(gh.Points, []pace.Window{{Limit: 450, Span: time.Minute}}) {
		t.Errorf("GitHub's points for 2 replicas: %+v, want 450 a minute", gh.Points)
	}
	m["GITHUB_POINTS_LIMITS"] = "180/12s"
	if c, err = LoadConfig(env(m)); err != nil {
		t.Fatal(err)
	}
	if gh := githubOptions(c, nil, nil, retry.Policy{}); !reflect.DeepEqual(gh.Points, []pace.Window{{Limit: 90, Span: 12 * time.Second}}) {
		t.Errorf("GITHUB_POINTS_LIMITS=180/12s for 2 replicas: %+v, want 90 in 12s", gh.Points)
	}
	m["GITHUB_POINTS_LIMITS"] = "900"
	if _, err := LoadConfig(env(m)); err == nil || !strings.Contains(err.Error(), "GITHUB_POINTS_LIMITS") {
		t.Errorf("GITHUB_POINTS_LIMITS=900: %v, want it refused", err)
	}
	delete(m, "GITHUB_POINTS_LIMITS")
	for _, bad := range []string{"0", "11", "two", "-1"} {
		m["DISPATCH_REPLICAS"] = bad
		if _, err := LoadConfig(env(m)); err == nil || !strings.Contains(err.Error(), "DISPATCH_REPLICAS") {
			t.Errorf("DISPATCH_REPLICAS=%s: %v, want it refused", bad, err)
		}
	}
}
