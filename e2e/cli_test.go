package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

func TestPublishReachesTheBot(t *testing.T) {
	const exampleRepo = "acme-infra/security-alarms" // the example's githubRepo, allowed like this
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) { c.AllowedRepos = []string{"acme/*", exampleRepo} }})
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
	// Every example at once, by a pattern the binary expands itself, the flag after it: one JSON
	// line per file.
	examples, _ := filepath.Glob("../docs/examples/*.json")
	code, out, errs := e.RunCLI("", "validate", "../docs/examples/*.json", "--format", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || errs != "" || len(examples) < 5 || len(lines) != len(examples) || strings.Contains(out, `"valid":false`) {
		t.Errorf("validate of %d examples: exit %d, %d lines:\n%s%s", len(examples), code, len(lines), out, errs)
	}
	// What the queue receives: the SNS notification, unwrapped as the bot does.
	envelope := `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"type\":\"high\",\"body\":{\"pagerduty\":{\"title\":\"p\"}}}"}`
	if code, out, errs := e.RunCLI(envelope, "validate", "-"); code != 0 || !strings.Contains(out, "valid high-priority alarm (in an SNS envelope)") {
		t.Errorf("validate of an SNS envelope: %d %s%s", code, out, errs)
	}
	if code, _, errs := e.RunCLI("{\n\"type\": high}", "validate", "-"); code != 1 || !strings.Contains(errs, "line 2, column 9") {
		t.Errorf("a syntax error should say where: %d %s", code, errs)
	}
	if code, out, _ := e.RunCLI("", "version"); code != 0 || !strings.HasPrefix(out, "dispatch ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// cliRun is one run of the binary: its exit code, output and how long it took.
type cliRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runBinary runs the dispatch binary in dir with exactly env ("KEY=value"; PATH and a HOME of its
// own added), killing it after bound (then code is -1).
func runBinary(t *testing.T, env []string, dir string, bound time.Duration, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code = -1
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run dispatch: %v", err)
	}
	return r
}

// withEnv returns env with each "KEY=value" of overrides replacing KEY's entry ("KEY=" drops it).
func withEnv(env []string, overrides ...string) []string {
	out := append([]string(nil), env...)
	for _, o := range overrides {
		key := o[:strings.Index(o, "=")+1]
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, key) })
		if o != key {
			out = append(out, o)
		}
	}
	return out
}

// recorder is a TCP listener that counts the connections made to it and closes each at once.
type recorder struct {
	ln    net.Listener
	count atomic.Int64
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.count.Add(1)
			c.Close()
		}
	}()
	return r
}

// connections returns how many connections were made before now: it makes one itself and waits
// for the listener to accept it, so that none made earlier is still in the backlog.
func (r *recorder) connections(t *testing.T) int64 {
	t.Helper()
	before := r.count.Load()
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(wait)
	for r.count.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the recorder accepted nothing")
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
	return r.count.Load() - 1
}

// TestEveryCommandsHelpDoesNothingButPrint runs `CMD --help`, `CMD -h` and `help CMD` for every
// command `dispatch help` lists, with a complete configuration whose every address (the services,
// AWS, any proxy, the instance metadata) is a listener that records connections, in a folder
// holding files named "--help" and "-h". Each must print CMD's usage on standard output and exit 0
// promptly, reading no file and contacting nothing. A control run of `check` proves that the
// recorder would have seen a contact.
func TestEveryCommandsHelpDoesNothingButPrint(t *testing.T) {
	rec := newRecorder(t)
	url := "http://" + rec.ln.Addr().String()
	env := []string{
		"SLACK_BOT_TOKEN=xoxb-help-test", "SLACK_APP_TOKEN=xapp-help-test", "DISPATCH_QUEUE_URL=" + url + "/100010001000/dispatch",
		"GITHUB_TOKEN=help-test-token", "GITHUB_REPO=acme/alarms", "PAGERDUTY_ROUTING_KEY=" + routingKey, "DISPATCH_TASK_KEYS=" + stack.TaskKey,
		"SLACK_API_URL=" + url + "/api/", "GITHUB_API_URL=" + url + "/", "PAGERDUTY_EVENTS_URL=" + url,
		"DISPATCH_HTTP_ADDR=127.0.0.1:0", "AWS_ENDPOINT_URL=" + url, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDHELPTEST", "AWS_SECRET_ACCESS_KEY=help-test-secret", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + url,
		"HTTPS_PROXY=" + url, "HTTP_PROXY=" + url, "NO_PROXY=",
	}
	dir := t.TempDir()
	alarm := []byte(`{"type":"high","body":{"pagerduty":{"title":"opened by --help"}}}`)
	for _, name := range []string{"--help", "-h"} {
		if err := os.WriteFile(filepath.Join(dir, name), alarm, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	general := runBinary(t, env, dir, time.Minute, "help")
	var names []string
	if i := strings.Index(general.stdout, "Commands:\n"); i >= 0 {
		for _, line := range strings.Split(general.stdout[i+len("Commands:\n"):], "\n") {
			if !strings.HasPrefix(line, "  ") {
				break
			}
			names = append(names, strings.Fields(line)[0])
		}
	}
	for _, want := range []string{"run", "check", "validate", "publish", "version", "help"} {
		if !slices.Contains(names, want) {
			t.Fatalf("`dispatch help` does not list %q (it lists %q):\n%s", want, names, general.stdout)
		}
	}

	for _, name := range names {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			r := runBinary(t, env, dir, time.Minute, args...)
			what := "dispatch " + strings.Join(args, " ")
			switch {
			case r.code == -1:
				t.Errorf("%s did not return within a minute: it did more than print\n%s%s", what, r.stdout, r.stderr)
			case r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: dispatch "+name) || r.stderr != "":
				t.Errorf("%s: exit %d, want 0 with the usage on stdout and nothing on stderr\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
			case strings.Contains(r.stdout, "valid high-priority alarm"):
				t.Errorf("%s opened the file named %q", what, args[1])
			}
		}
	}
	if n := rec.connections(t); n != 0 {
		t.Errorf("the --help runs made %d connection(s)", n)
	}

	// The control: the same environment does lead a command that reaches out to the recorder.
	if r := runBinary(t, env, dir, time.Minute, "check", "--timeout", "5s"); r.code != 1 {
		t.Errorf("check against the recorder: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := rec.connections(t); n == 0 {
		t.Error("check made no connection to the recorder: the environment does not point the binary at it, so the test above proves nothing")
	}
}

// TestPublishSaysWhatToSet: without a region or without credentials, publish says in one line
// what to set and sends nothing; with no region set, it takes the topic ARN's.
func TestPublishSaysWhatToSet(t *testing.T) {
	e := stack.New(t, stack.Options{})
	alarm := filepath.Join(t.TempDir(), "high.json")
	if err := os.WriteFile(alarm, []byte(`{"type":"high","body":{"pagerduty":{"title":"published without AWS_REGION"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing of this machine's AWS set-up is read: no files, no instance metadata.
	base := []string{"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=" + e.AWS.URL()}
	creds := []string{"AWS_ACCESS_KEY_ID=AKIDPUBLISHTEST", "AWS_SECRET_ACCESS_KEY=publish-test-secret"}
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer imds.Close()

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no region, none in the queue URL", append(base, creds...), []string{"--queue-url", e.Queue.URL},
			"dispatch publish: no AWS region: set AWS_REGION (e.g. AWS_REGION=us-east-1)"},
		{"no credentials", append(base, "AWS_REGION=us-east-1"), []string{"--queue-url", e.Queue.URL},
			"dispatch publish: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"},
		// The SDK's own warnings are not printed (here its "falling back to IMDSv1", for instance
		// metadata that refuses a token, as this machine's network does).
		{"no credentials, instance metadata tried", withEnv(base, "AWS_EC2_METADATA_DISABLED=", "AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds.URL, "AWS_REGION=us-east-1"),
			[]string{"--queue-url", e.Queue.URL}, "dispatch publish: no AWS credentials found"},
	} {
		r := runBinary(t, tc.env, t.TempDir(), 2*time.Minute, append(append([]string{"publish"}, tc.args...), alarm)...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("%s: exit %d (want 2), stdout %q, stderr %q: want one line starting %q", tc.name, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	e.StartBot()
	// goaws's topic ARNs name us-east-1.
	if !strings.HasPrefix(e.SNSTopic, "arn:aws:sns:us-east-1:") {
		t.Fatalf("topic ARN %q", e.SNSTopic)
	}
	r := runBinary(t, append(base, creds...), t.TempDir(), 2*time.Minute, "publish", "--topic-arn", e.SNSTopic, alarm)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "published ") {
		t.Fatalf("publish with the region from the ARN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	e.Eventually("the alarm paged", wait, func() bool {
		ev := e.PD.Events()
		return len(ev) == 1 && ev[0].Summary == "published without AWS_REGION"
	})
}

// TestStartupFailureIsOneJSONLine: when the services refuse the bot at start-up, the JSON log says
// so in one line whose "errors" array has a problem each, not one string with embedded newlines.
func TestStartupFailureIsOneJSONLine(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := runBinary(t, withEnv(e.Environ(), "SLACK_BOT_TOKEN=xoxb-wrong-token", "SLACK_APP_TOKEN=xapp-wrong-token",
		"DISPATCH_QUEUE_URL="+e.AWS.URL()+"/100010001000/no-such-queue"), t.TempDir(), 2*time.Minute, "run")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var failure struct {
		Message string
		Errors  []string
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if err := json.Unmarshal([]byte(line), &failure); err != nil {
			t.Errorf("not a JSON line (%v): %q", err, line)
		} else if failure.Message == "dispatch could not start" {
			found++
			if len(failure.Errors) != 3 {
				t.Errorf("errors = %q, want the 3 problems", failure.Errors)
			}
			for _, p := range failure.Errors {
				if strings.Contains(p, "\n") {
					t.Errorf("a problem spans lines: %q", p)
				}
			}
		}
	}
	if found != 1 {
		t.Errorf("%d lines say dispatch could not start, want 1:\n%s", found, r.stderr)
	}
}
