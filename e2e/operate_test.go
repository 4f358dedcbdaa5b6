package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

func TestSlashCommands(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()

	help := e.Slash("U0ALICE", "help")
	for _, sub := range []string{"/dispatch help", "/dispatch status", "/dispatch list", "/dispatch test"} {
		if !strings.Contains(help.Text, sub) {
			t.Errorf("help lacks %q:\n%s", sub, help.Text)
		}
	}
	if unknown := e.Slash("U0ALICE", "frobnicate now"); !strings.Contains(unknown.Text, "I don't know `frobnicate`") || !strings.Contains(unknown.Text, "/dispatch status") {
		t.Errorf("an unknown subcommand should answer with help:\n%s", unknown.Text)
	}
	if empty := e.Slash("U0ALICE", ""); !strings.Contains(empty.Text, "/dispatch list") {
		t.Errorf("no subcommand should answer with help:\n%s", empty.Text)
	}

	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"alice's alarm"},"slack":{"message":"m"}}}`)
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"bobby"}],"body":{"github":{"title":"bob's alarm"},"slack":{"message":"m"}}}`)
	e.PublishRaw(`{"type":"low","body":{"github":{"title":"a low one"}}}`)
	e.Send(`not json`)
	e.QueueEmpty(wait)

	status := e.Slash("U0ALICE", "status")
	for _, want := range []string{"dispatch dev", "Slack: connected", "Queue: 0 waiting", "Dead-letter queue: 1", "Alarms handled since start: 3", "self-service 2", "low-priority 1", "Errors since start: 1", "Last alarm:"} {
		if !strings.Contains(status.Text, want) {
			t.Errorf("status lacks %q:\n%s", want, status.Text)
		}
	}

	list := e.Slash("U0ALICE", "list")
	if !strings.Contains(list.Text, "alice's alarm") || strings.Contains(list.Text, "bob's alarm") || !strings.Contains(list.Text, "https://github.com/acme/alarms/issues/") {
		t.Errorf("list should show alice's own open alarm with its link, only:\n%s", list.Text)
	}
	if none := e.Slash("U0CAROL", "list"); !strings.Contains(none.Text, "no open alarms") {
		t.Errorf("carol has none:\n%s", none.Text)
	}
}

func TestDispatchTestSendsARealAlarmWhoseNoDoesNotPage(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	reply := e.Slash("U0CAROL", "test")
	if !strings.Contains(reply.Text, "on its way") {
		t.Errorf("reply: %s", reply.Text)
	}
	m := e.DM("U0CAROL", 1)
	bs := stack.Buttons(t, m)
	if len(bs) != 2 {
		t.Fatalf("the test alarm has %d buttons", len(bs))
	}
	e.Click("U0CAROL", m, bs[1].ActionID)
	e.Eventually("the answer to be recorded", wait, func() bool {
		is, _ := e.GitHub.Issue(repo, 1)
		return len(is.Comments) == 1
	})
	is, _ := e.GitHub.Issue(repo, 1)
	if !slices.Contains(is.Labels, "dispatch:test") || !strings.Contains(is.Comments[0].Body, "not paged") {
		t.Errorf("test issue labels %v, comment %q", is.Labels, is.Comments[0].Body)
	}
	if n := len(e.PD.Events()); n != 0 {
		t.Errorf("a No on a test alarm paged (%d events)", n)
	}
}

func TestReadyzFollowsTheSlackConnection(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := e.StartBot()
	if code, body := e.HTTPGet(r, "/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz = %d %s", code, body)
	}
	e.Eventually("ready", wait, func() bool { code, _ := e.HTTPGet(r, "/readyz"); return code == 200 })

	// Slack refuses new connections for a while; the current one drops.
	e.Slack.FailNext("apps.connections.open", 4, http.StatusInternalServerError, 0)
	e.Slack.DropConnections()
	e.Eventually("not ready while Slack is away", wait, func() bool {
		code, body := e.HTTPGet(r, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"slack_connected":false`)
	})
	e.Eventually("ready again after the reconnect", 60*time.Second, func() bool {
		code, _ := e.HTTPGet(r, "/readyz")
		return code == 200
	})
}

func TestMetricsMoveWithTheTraffic(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := e.StartBot()
	_, before := e.HTTPGet(r, "/metrics")
	if strings.Contains(before, `dispatch_alarms_handled_total{type="low-priority"}`) {
		t.Fatal("counted before any traffic")
	}
	e.PublishRaw(`{"type":"low","body":{"github":{"title":"counted"}}}`)
	e.PublishRaw(`{"type":"high","body":{"pagerduty":{"title":"counted"}}}`)
	e.Send(`{"type":"nope"}`)
	e.QueueEmpty(wait)
	_, after := e.HTTPGet(r, "/metrics")
	for _, want := range []string{
		`dispatch_alarms_received_total 3`,
		`dispatch_alarms_handled_total{type="low-priority"} 1`,
		`dispatch_alarms_handled_total{type="high-priority"} 1`,
		`dispatch_alarms_rejected_total{reason="type"} 1`,
		`dispatch_escalations_total 1`,
		`dispatch_api_calls_total{outcome="2xx",service="github"}`,
		`dispatch_api_calls_total{outcome="2xx",service="pagerduty"} 1`,
		`dispatch_slack_connected 1`,
		`dispatch_alarm_handling_seconds_count 2`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestCheckReportsAWrongTokenAndAnUnreachableQueue(t *testing.T) {
	e := stack.New(t, stack.Options{})
	cfg := e.Config
	cfg.SlackBotToken = "xoxb-not-the-right-token"
	cfg.QueueURL = e.AWS.URL() + "/100010001000/no-such-queue"
	awsCfg := e.AWS.AWSConfig()
	b, err := bot.New(context.Background(), cfg, bot.Options{AWS: &awsCfg}, bot.NewLogger(e.Logs, "debug", "json"))
	if err != nil {
		t.Fatal(err)
	}
	results := b.CheckAll(context.Background(), bot.CheckOptions{})
	byName := map[string]bot.CheckResult{}
	for _, r := range results {
		byName[r.Name] = r
	}
	for name, want := range map[string]struct {
		ok     bool
		detail string
	}{
		"Slack bot token (auth.test)":   {false, "invalid_auth"},
		"Slack app token (Socket Mode)": {true, "accepted"},
		"SQS queue":                     {false, "DISPATCH_QUEUE_URL"},
		"GitHub repository acme/alarms": {true, "write access"},
		"PagerDuty routing key":         {true, "well formed"},
		"PagerDuty service PSERVICE":    {true, "well formed"},
	} {
		got, ok := byName[name]
		if !ok {
			t.Errorf("no check named %q in %+v", name, results)
			continue
		}
		if got.OK != want.ok || !strings.Contains(got.Detail, want.detail) {
			t.Errorf("%s: ok=%v %q, want ok=%v and %q", name, got.OK, got.Detail, want.ok, want.detail)
		}
	}
	if strings.Contains(fmt.Sprint(results), cfg.SlackBotToken) {
		t.Error("a token appears in the check output")
	}
}

func TestStartupSaysWhichSlackTokenIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*bot.Config)
		want      string
		notWant   string
	}{
		{"bot token", func(c *bot.Config) { c.SlackBotToken = "xoxb-wrong" }, "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"},
		{"app token", func(c *bot.Config) { c.SlackAppToken = "xapp-wrong" }, "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stack.New(t, stack.Options{Configure: tc.configure})
			awsCfg := e.AWS.AWSConfig()
			b, err := bot.New(context.Background(), e.Config, bot.Options{AWS: &awsCfg}, bot.NewLogger(e.Logs, "debug", "json"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err = b.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("Run() = %v, want an error naming %s only", err, tc.want)
			}
		})
	}
}

// TestAReplicaStartingWhileSlackIsUnavailableWaitsForIt: a replica restarted during a 429 storm
// or a Slack incident used to read its start-up check's 429 or 503 as a refused token and exit, so
// each restart died into the same storm (the soak's replicas all did, after one such restart). It
// waits for Slack instead, logging why, connects once Slack answers and handles the alarm that
// waited meanwhile. A token Slack refuses still stops it at once (TestStartupSaysWhichSlackTokenIsWrong).
func TestAReplicaStartingWhileSlackIsUnavailableWaitsForIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(e *stack.Env)
	}{
		{"429s with Retry-After", func(e *stack.Env) {
			e.Slack.FailNext("auth.test", 3, http.StatusTooManyRequests, time.Second)
			e.Slack.FailNext("apps.connections.open", 3, http.StatusTooManyRequests, time.Second)
		}},
		{"503 for 4 s", func(e *stack.Env) { e.Slack.FailFor("", 4*time.Second, http.StatusServiceUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stack.New(t, stack.Options{})
			tc.fail(e)
			p := e.StartProcessUnwaited()
			e.Eventually("the replica says it waits for Slack", wait, func() bool {
				return strings.Contains(e.Logs.String(), "Slack is not answering: waiting for it before starting")
			})
			e.Send(`{"type":"low","requestId":"waited-1","body":{"github":{"title":"Waited for Slack"}}}`)
			e.Eventually("the replica connected and handled the alarm", time.Minute, func() bool {
				return e.Slack.Connections() > 0 && e.GitHub.IssueCount(stack.Repo) == 1
			})
			if code := p.Terminate(wait); code != 0 {
				t.Errorf("exit code %d after SIGTERM, want 0 (it must not have exited on its own)", code)
			}
		})
	}
}
