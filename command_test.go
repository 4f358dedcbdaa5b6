package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// TestEveryCommandHasItsOwnUsage: `CMD --help`, `CMD -h` and `help CMD` print CMD's usage, with
// its exit codes, to standard output and exit 0. (e2e/cli_test.go proves, with the binary, that
// they do nothing else.)
func TestEveryCommandHasItsOwnUsage(t *testing.T) {
	for _, c := range commands {
		if c.name == "" || c.summary == "" || c.description == "" {
			t.Errorf("command %+v lacks a name, a summary or a description", c)
		}
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			var stdout, stderr bytes.Buffer
			code := run(args, strings.NewReader(""), &stdout, &stderr)
			out := stdout.String()
			if code != exitOK || stderr.Len() != 0 || !strings.HasPrefix(out, "Usage: dispatch "+c.name) || !strings.Contains(out, "Exit codes: 0 ") {
				t.Errorf("dispatch %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr.String())
			}
		}
	}
}

func TestGeneralUsageAndUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // a prefix
		stderrHas  string
		stderrNone bool
	}{
		{args: []string{"--help"}, code: exitOK, stdout: "dispatch routes alarms", stderrNone: true},
		{args: []string{"-h"}, code: exitOK, stdout: "dispatch routes alarms", stderrNone: true},
		{args: []string{"help"}, code: exitOK, stdout: "dispatch routes alarms", stderrNone: true},
		{args: []string{"frobnicate"}, code: exitUsage, stderrHas: `unknown command "frobnicate"`},
		{args: []string{"help", "frobnicate"}, code: exitUsage, stderrHas: `unknown command "frobnicate"`},
		{args: []string{"validate"}, code: exitUsage, stderrHas: "Usage: dispatch validate"},
		{args: []string{"validate", "--stirct", "-"}, code: exitUsage, stderrHas: "flag provided but not defined: -stirct"},
		{args: []string{"validate", "-", "--stirct"}, code: exitUsage, stderrHas: "flag provided but not defined: -stirct"},
		{args: []string{"validate", "-", "--format", "yaml"}, code: exitUsage, stderrHas: `--format "yaml": use text or json`},
		{args: []string{"validate", "--strict"}, code: exitUsage, stderrHas: "validate takes one or more FILEs or GLOBs"},
		{args: []string{"publish", "-"}, code: exitUsage, stderrHas: "give one of --topic-arn and --queue-url"},
		{args: []string{"check", "--timeout", "0s"}, code: exitUsage, stderrHas: "--timeout must be positive"},
		{args: []string{"version", "extra"}, code: exitUsage, stderrHas: "version takes no arguments"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || !strings.HasPrefix(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderrHas) || tc.stderrNone && stderr.Len() > 0 {
			t.Errorf("dispatch %s: exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), code, stdout.String(), stderr.String())
		}
	}
}

func TestValidateStrict(t *testing.T) {
	const misspelt = `{"type":"high","body":{"pagerduty":{"title":"p"}},"retriger":false}`
	for _, tc := range []struct {
		args      []string
		code      int
		stderrHas string
	}{
		{[]string{"validate", "-"}, exitOK, "warning: retriger: unknown key, ignored: did you mean `retrigger`?"},
		{[]string{"validate", "--strict", "-"}, exitFailure, "invalid with --strict: 1 warning(s)"},
		{[]string{"validate", "-", "--strict"}, exitFailure, "invalid with --strict: 1 warning(s)"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, strings.NewReader(misspelt), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderrHas) {
			t.Errorf("dispatch %s: exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--strict", "-"}, strings.NewReader(`{"type":"high","body":{"pagerduty":{"title":"p"}}}`), &stdout, &stderr); code != exitOK {
		t.Errorf("--strict refused a clean alarm: exit %d, %s", code, stderr.String())
	}
}

func TestVersionFallsBackToTheBuildInfo(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/dispatch-oss/dispatch", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", info("(devel)", "vcs.revision", "0123456789abcdef"), "v1.2.3"},
		{"dev", info("v1.4.0"), "v1.4.0"},
		{"dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"), "(devel) revision 0123456789ab"},
		{"dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "(devel) revision 0123456789ab dirty"},
		{"dev", info("v0.0.0-20261203061436-0123456789ab+dirty", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "v0.0.0-20261203061436-0123456789ab+dirty"},
		{"dev", nil, "dev"},
	} {
		if got := version(tc.stamped, tc.info); got != tc.want {
			t.Errorf("version(%q, %+v) = %q, want %q", tc.stamped, tc.info, got, tc.want)
		}
	}
}

func TestRegionOf(t *testing.T) {
	for _, tc := range []struct{ topic, queue, want string }{
		{"arn:aws:sns:eu-west-1:123456789012:dispatch", "", "eu-west-1"},
		{"arn:aws-cn:sns:cn-north-1:123456789012:dispatch", "", "cn-north-1"},
		{"dispatch", "", ""},
		{"arn:aws:sqs:eu-west-1:123456789012:dispatch", "", ""},
		{"", "https://sqs.ap-southeast-2.amazonaws.com/123456789012/dispatch", "ap-southeast-2"},
		{"", "https://us-west-2.queue.amazonaws.com/123456789012/dispatch", "us-west-2"},
		{"", "http://127.0.0.1:4100/100010001000/dispatch", ""},
		{"", "not a url\x00", ""},
	} {
		if got := regionOf(tc.topic, tc.queue); got != tc.want {
			t.Errorf("regionOf(%q, %q) = %q, want %q", tc.topic, tc.queue, got, tc.want)
		}
	}
}

// TestValidateManyFiles: validate takes several files and glob patterns, flags before or after
// them, and gives one result line per file, in text or (--format json) as one JSON object per line;
// the exit code is the worst of them.
func TestValidateManyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a-good.json", `{"type":"high","body":{"pagerduty":{"title":"p"}}}`)
	write("b-bad.json", "{\n  \"type\": \"high\",\n  \"body\": {x}\n}")
	write("c-warn.json", `{"type":"low","body":{"github":{"title":"t"}},"retriger":false}`)
	glob := filepath.Join(dir, "*.json")

	var stdout, stderr bytes.Buffer
	code := run([]string{"validate", glob, "--strict", filepath.Join(dir, "missing.json")}, strings.NewReader(""), &stdout, &stderr)
	out, errs := stdout.String(), stderr.String()
	if code != exitUsage {
		t.Errorf("exit %d, want %d (an unreadable file is the worst)", code, exitUsage)
	}
	for _, want := range []string{
		filepath.Join(dir, "b-bad.json") + ": invalid: 1 problem(s):\n  - message is not JSON: line 3, column 12: invalid character 'x'",
		filepath.Join(dir, "c-warn.json") + ": invalid with --strict: 1 warning(s)\n  error (--strict): retriger: unknown key",
		filepath.Join(dir, "missing.json") + ": unreadable: no such file or directory",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if out != filepath.Join(dir, "a-good.json")+": valid high-priority alarm\n" {
		t.Errorf("stdout %q, want the one valid file's line", out)
	}

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"validate", "--format", "json", glob}, strings.NewReader(""), &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if code != exitFailure || stderr.Len() != 0 || len(lines) != 3 {
		t.Fatalf("--format json: exit %d, %d lines, stderr %q:\n%s", code, len(lines), stderr.String(), stdout.String())
	}
	var bad verdict
	if err := json.Unmarshal([]byte(lines[1]), &bad); err != nil {
		t.Fatal(err)
	}
	if bad.Valid || len(bad.Problems) != 1 || bad.Problems[0].Line != 3 || bad.Problems[0].Column != 12 {
		t.Errorf("the bad file's line: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"valid":true`) || !strings.Contains(lines[2], `"warnings":["retriger: unknown key`) {
		t.Errorf("the warned file's line: %s", lines[2])
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"validate", filepath.Join(dir, "nothing*.json")}, strings.NewReader(""), &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "nothing*.json: unreadable: no file matches this pattern") {
		t.Errorf("a pattern matching nothing: exit %d, %q", code, stderr.String())
	}
}

// TestValidateUnwrapsAsTheBotDoes: what the queue receives, an SNS notification with the alarm as
// its Message, validates as the bot reads it; a broken envelope, or one of dispatch's own tasks,
// is invalid, saying why.
func TestValidateUnwrapsAsTheBotDoes(t *testing.T) {
	alarm := `{"type":"high","body":{"pagerduty":{"title":"p"}}}`
	envelope := func(typ, message string) string {
		b, _ := json.Marshal(map[string]string{"Type": typ, "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:dispatch", "Message": message, "Timestamp": "2026-12-03T06:00:00Z"})
		return string(b)
	}
	task, err := sqsqueue.SealTask(handlers.Task{Kind: handlers.TaskRemind}, sqsqueue.TaskKeys{[]byte(strings.Repeat("k", 32))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		code     int
		has      string
	}{
		{"raw alarm", alarm, exitOK, "standard input: valid high-priority alarm\n"},
		{"SNS notification", envelope("Notification", alarm), exitOK, "standard input: valid high-priority alarm (in an SNS envelope)\n"},
		{"SNS notification of a bad alarm", envelope("Notification", `{"type": hi}`), exitFailure, "invalid (in an SNS envelope): 1 problem(s):\n  - message is not JSON: line 1, column 10"},
		{"not a notification", envelope("SubscriptionConfirmation", alarm), exitFailure, "SNS envelope of type \"SubscriptionConfirmation\", want Notification"},
		{"a dispatch task", string(task), exitFailure, "one of dispatch's own task messages, not an alarm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"validate", "-"}, strings.NewReader(tc.in), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.has) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout.String(), stderr.String(), tc.code, tc.has)
			}
		})
	}
}

// TestConfigErrorFollowsLogFormat: `dispatch run` with a broken configuration says so in one JSON
// line when logs are JSON (the default) and stderr is not a terminal, as a log pipeline reads it,
// and as text with LOG_FORMAT=console.
func TestConfigErrorFollowsLogFormat(t *testing.T) {
	for _, name := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISPATCH_QUEUE_URL", "GITHUB_TOKEN", "GITHUB_REPO",
		"PAGERDUTY_ROUTING_KEY", "DISPATCH_TASK_KEYS", "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PRIVATE_KEY"} {
		t.Setenv(name, "")
	}
	t.Setenv("DISPATCH_CONCURRENCY", "lots")
	for _, format := range []string{"", "json", "console"} {
		t.Setenv("LOG_FORMAT", format)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"run"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Fatalf("LOG_FORMAT=%q: exit %d, want %d; stderr %s", format, code, exitUsage, stderr.String())
		}
		out := stderr.String()
		if format == "console" {
			if !strings.HasPrefix(out, "dispatch: the configuration has problems:\n") || !strings.Contains(out, "DISPATCH_CONCURRENCY") {
				t.Errorf("LOG_FORMAT=console: want the problems as text, got %q", out)
			}
			continue
		}
		var line struct {
			Level    string   `json:"level"`
			Problems []string `json:"problems"`
			Message  string   `json:"message"`
		}
		if strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &line) != nil {
			t.Fatalf("LOG_FORMAT=%q: want one JSON line, got %q", format, out)
		}
		if line.Level != "error" || !strings.Contains(line.Message, "configuration") || len(line.Problems) < 2 ||
			!strings.Contains(strings.Join(line.Problems, "\n"), "DISPATCH_CONCURRENCY") {
			t.Errorf("LOG_FORMAT=%q: the line does not list every problem: %s", format, out)
		}
	}
}
