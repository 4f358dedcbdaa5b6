package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// dispatchBinary builds the dispatch command once per test run.
func dispatchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dispatch-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dispatch")
		out, err := exec.Command("go", "build", "-o", binPath, "..").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// runCLI runs the dispatch binary with the AWS SDK pointed at goaws.
func (e *env) runCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	cmd := exec.Command(dispatchBinary(e.t), args...)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL="+e.aws.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		e.t.Fatalf("run dispatch: %v", err)
	}
	return 0, out.String(), errb.String()
}

func TestPublishReachesTheBot(t *testing.T) {
	e := newEnv(t, envOptions{})
	const exampleRepo = "acme-infra/security-alarms" // the example's githubRepo
	e.github.AddRepo(exampleRepo)
	e.startBot()
	if code, out, errs := e.runCLI("", "publish", "--queue-url", e.queue.URL, "../docs/examples/low-priority.json"); code != 0 || !strings.Contains(out, "sent") {
		t.Fatalf("publish --queue-url: exit %d\n%s%s", code, out, errs)
	}
	high := `{"type":"high","body":{"pagerduty":{"title":"published through the topic"}}}`
	if code, out, errs := e.runCLI(high, "publish", "--topic-arn", e.sns, "-"); code != 0 || !strings.Contains(out, "published") {
		t.Fatalf("publish --topic-arn: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs := e.runCLI(`{"type":"low"}`, "publish", "--queue-url", e.queue.URL, "-")
	if code != 1 || !strings.Contains(errs, "body.github.title: is required") || !strings.Contains(errs, "not sent") {
		t.Errorf("an invalid alarm: exit %d, stderr %s", code, errs)
	}
	e.eventually("both alarms handled", wait, func() bool { return len(e.issues(exampleRepo)) == 1 && len(e.pd.Events()) == 1 })
	e.queueEmpty(wait)
	if len(e.slack.Messages(fallbackChannel)) != 0 {
		t.Error("the invalid alarm reached the queue")
	}
}

func TestValidateAndVersion(t *testing.T) {
	e := newEnv(t, envOptions{})
	if code, out, _ := e.runCLI("", "validate", "../docs/examples/seed-high.json"); code != 0 || !strings.Contains(out, "valid high-priority alarm") {
		t.Errorf("validate seed-high: %d %s", code, out)
	}
	code, _, errs := e.runCLI(`{"type":"self-service","users":[],"body":{}}`, "validate", "-")
	if code != 1 || !strings.Contains(errs, "3 problem(s)") || !strings.Contains(errs, "users:") || !strings.Contains(errs, "body.github.title") || !strings.Contains(errs, "body.slack.message") {
		t.Errorf("validate should list every problem: %d %s", code, errs)
	}
	if code, out, _ := e.runCLI("", "version"); code != 0 || !strings.HasPrefix(out, "dispatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestCheckCommandPrintsATable(t *testing.T) {
	e := newEnv(t, envOptions{})
	cmd := exec.Command(dispatchBinary(t), "check")
	env := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-wrong-token", "SLACK_APP_TOKEN": e.cfg.SlackAppToken, "DISPATCH_QUEUE_URL": e.aws.URL() + "/100010001000/missing",
		"GITHUB_TOKEN": githubToken, "GITHUB_REPO": repo, "PAGERDUTY_ROUTING_KEY": routingKey,
		"SLACK_API_URL": e.cfg.SlackAPIURL, "GITHUB_API_URL": e.cfg.GitHubAPIURL, "PAGERDUTY_EVENTS_URL": e.cfg.PagerDutyURL,
		"AWS_ENDPOINT_URL": e.aws.URL(), "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
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
