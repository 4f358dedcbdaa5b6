package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

func TestPublishReachesTheBot(t *testing.T) {
	e := stack.New(t, stack.Options{})
	const exampleRepo = "acme-infra/security-alarms" // the example's githubRepo
	e.GitHub.AddRepo(exampleRepo)
	e.StartBot()
	if code, out, errs := e.RunCLI("", "publish", "--queue-url", e.Queue.URL, "../docs/examples/low-priority.json"); code != 0 || !strings.Contains(out, "sent") {
		t.Fatalf("publish --queue-url: exit %d\n%s%s", code, out, errs)
	}
	high := `{"type":"high","body":{"pagerduty":{"title":"published through the topic"}}}`
	if code, out, errs := e.RunCLI(high, "publish", "--topic-arn", e.SNSTopic, "-"); code != 0 || !strings.Contains(out, "published") {
		t.Fatalf("publish --topic-arn: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs := e.RunCLI(`{"type":"low"}`, "publish", "--queue-url", e.Queue.URL, "-")
	if code != 1 || !strings.Contains(errs, "body.github.title: is required") || !strings.Contains(errs, "not sent") {
		t.Errorf("an invalid alarm: exit %d, stderr %s", code, errs)
	}
	e.Eventually("both alarms handled", wait, func() bool { return len(e.Issues(exampleRepo)) == 1 && len(e.PD.Events()) == 1 })
	e.QueueEmpty(wait)
	if len(e.Slack.Messages(fallbackChannel)) != 0 {
		t.Error("the invalid alarm reached the queue")
	}
}

func TestValidateAndVersion(t *testing.T) {
	e := stack.New(t, stack.Options{})
	if code, out, _ := e.RunCLI("", "validate", "../docs/examples/seed-high.json"); code != 0 || !strings.Contains(out, "valid high-priority alarm") {
		t.Errorf("validate seed-high: %d %s", code, out)
	}
	code, _, errs := e.RunCLI(`{"type":"self-service","users":[],"body":{}}`, "validate", "-")
	if code != 1 || !strings.Contains(errs, "3 problem(s)") || !strings.Contains(errs, "users:") || !strings.Contains(errs, "body.github.title") || !strings.Contains(errs, "body.slack.message") {
		t.Errorf("validate should list every problem: %d %s", code, errs)
	}
	if code, out, _ := e.RunCLI("", "version"); code != 0 || !strings.HasPrefix(out, "dispatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestCheckCommandPrintsATable(t *testing.T) {
	e := stack.New(t, stack.Options{})
	cmd := exec.Command(stack.Binary(t), "check")
	env := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-wrong-token", "SLACK_APP_TOKEN": e.Config.SlackAppToken, "DISPATCH_QUEUE_URL": e.AWS.URL() + "/100010001000/missing",
		"GITHUB_TOKEN": githubToken, "GITHUB_REPO": repo, "PAGERDUTY_ROUTING_KEY": routingKey,
		"SLACK_API_URL": e.Config.SlackAPIURL, "GITHUB_API_URL": e.Config.GitHubAPIURL, "PAGERDUTY_EVENTS_URL": e.Config.PagerDutyURL,
		"AWS_ENDPOINT_URL": e.AWS.URL(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "HOME": t.TempDir(), "PATH": os.Getenv("PATH"),
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("check should exit 1, got %v:\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"FAIL  Slack bot token (auth.test)", "invalid_auth", "Fix: set SLACK_BOT_TOKEN", "FAIL  SQS queue", "ok    GitHub repository acme/alarms", "2 check(s) failed."} {
		if !strings.Contains(text, want) {
			t.Errorf("check output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "xoxb-wrong-token") || strings.Contains(text, githubToken) {
		t.Error("check printed a token")
	}
}
