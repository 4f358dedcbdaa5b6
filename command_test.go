package main

import (
	"bytes"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
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
