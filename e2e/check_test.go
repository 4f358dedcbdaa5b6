package e2e

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// closedPort returns an address of 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentListener accepts connections and never answers (until the test ends).
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, unread
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestCheckTellsFailuresApart: `dispatch check` names a refused connection (Slack on a closed
// port), a host name that does not resolve (GitHub at nonexistent.invalid), no answer (the queue
// behind a listener that never answers, with --timeout 2s) and a rejected token (the fake Slack's
// invalid_auth, the fake GitHub's 401), each with its own fix, one line per check as it goes, and
// says that PagerDuty routing keys can only be checked for their format.
func TestCheckTellsFailuresApart(t *testing.T) {
	e := stack.New(t, stack.Options{})
	refused, silent := closedPort(t), silentListener(t)

	r := runBinary(t, withEnv(e.Environ(),
		"SLACK_API_URL=http://"+refused+"/api/",
		"GITHUB_API_URL=http://nonexistent.invalid/",
		"AWS_ENDPOINT_URL=http://"+silent, "DISPATCH_QUEUE_URL=http://"+silent+"/100010001000/dispatch",
	), t.TempDir(), 2*time.Minute, "check", "--timeout", "2s")
	lines := checkLines(t, r)
	for name, want := range map[string][]string{
		"Slack bot token (auth.test)":   {"FAIL: connection refused by " + refused, "Fix: check the host and port in SLACK_API_URL"},
		"Slack app token (Socket Mode)": {"FAIL: connection refused by " + refused},
		"GitHub repository acme/alarms": {`FAIL: DNS failure: the host name "nonexistent.invalid" does not resolve`, "Fix: check GITHUB_API_URL for a typo"},
		"SQS queue":                     {"FAIL: timed out: no answer from " + silent + " within 2s", "Fix: something (a firewall, a proxy"},
		"SQS dead-letter queue":         {"FAIL: not checked: the queue is not reachable"},
		"PagerDuty routing key":         {"ok: well formed (32 characters). Only its format can be checked", "Set PAGERDUTY_API_TOKEN"},
		"PagerDuty service PSERVICE":    {"ok: well formed"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[name], w) {
				t.Errorf("%s: %q lacks %q", name, lines[name], w)
			}
		}
		if strings.Contains(lines[name], "SLACK_BOT_TOKEN") && !strings.Contains(name, "Slack bot token") {
			t.Errorf("%s blames a token: %q", name, lines[name])
		}
	}
	if strings.Contains(r.stdout, "Fix: set SLACK_BOT_TOKEN") {
		t.Errorf("a refused connection blamed the token:\n%s", r.stdout)
	}
	if r.code != 1 || !strings.Contains(r.stdout, "5 check(s) failed.") {
		t.Errorf("exit %d, want 1 and 5 failed checks:\n%s", r.code, r.stdout)
	}
	// Unbounded, the silent queue would hold the check for the HTTP client's 30 s, times the SDK's
	// three attempts.
	if r.took > 30*time.Second {
		t.Errorf("check took %v against a listener that never answers, with --timeout 2s", r.took)
	}

	e.PD.SetRESTToken("pagerduty-rest-key")
	r = runBinary(t, withEnv(e.Environ(), "SLACK_BOT_TOKEN=xoxb-wrong-token", "GITHUB_TOKEN=wrong-github-token",
		"PAGERDUTY_API_URL="+e.PD.URL(), "PAGERDUTY_API_TOKEN=wrong-pagerduty-key"),
		t.TempDir(), 2*time.Minute, "check")
	lines = checkLines(t, r)
	for name, want := range map[string]string{
		"Slack bot token (auth.test)":   "FAIL: the credentials were rejected (Slack said invalid_auth). Fix: set SLACK_BOT_TOKEN",
		"Slack app token (Socket Mode)": "ok: apps.connections.open accepted",
		"SQS queue":                     "ok: " + e.Config.QueueURL + " reachable",
		"GitHub repository acme/alarms": "FAIL: the credentials were rejected (GitHub answered 401",
		"PagerDuty routing key":         "FAIL: the credentials were rejected (PagerDuty answered 401). Fix: set PAGERDUTY_API_TOKEN",
	} {
		if !strings.Contains(lines[name], want) {
			t.Errorf("%s: %q lacks %q", name, lines[name], want)
		}
	}
	if r.code != 1 || strings.Contains(r.stdout+r.stderr, "xoxb-wrong-token") || strings.Contains(r.stdout+r.stderr, "wrong-github-token") {
		t.Errorf("exit %d (want 1), or a token was printed:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// With a REST API key, the routing keys are looked up: the stack's are found, a well-formed
	// key no service has is not.
	unknownKey := strings.Repeat("0f", 16)
	r = runBinary(t, withEnv(e.Environ(), "PAGERDUTY_API_URL="+e.PD.URL(), "PAGERDUTY_API_TOKEN=pagerduty-rest-key",
		"PAGERDUTY_SERVICE_KEYS=PSERVICE="+stack.ServiceKey+",PUNKNOWN="+unknownKey), t.TempDir(), 2*time.Minute, "check")
	lines = checkLines(t, r)
	for name, want := range map[string]string{
		"PagerDuty routing key":      `ok: belongs to service "Service `,
		"PagerDuty service PSERVICE": `ok: belongs to service "Service `,
		"PagerDuty service PUNKNOWN": "FAIL: no integration of the PagerDuty account's services has this routing key. Fix: copy the Integration Key of an Events API v2 integration into its entry in PAGERDUTY_SERVICE_KEYS.",
	} {
		if !strings.Contains(lines[name], want) {
			t.Errorf("%s: %q lacks %q", name, lines[name], want)
		}
	}
}

// checkLines maps each check's name to the rest of its line of `dispatch check` output, failing
// the test if a line is not "NAME … ok: …" or "NAME … FAIL: …".
func checkLines(t *testing.T, r cliRun) map[string]string {
	t.Helper()
	t.Logf("dispatch check:\n%s%s", r.stdout, r.stderr)
	lines := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			break // the summary follows
		}
		name, rest, ok := strings.Cut(line, " … ")
		if !ok || !strings.HasPrefix(rest, "ok: ") && !strings.HasPrefix(rest, "FAIL: ") {
			t.Errorf("not a check line: %q", line)
			continue
		}
		lines[name] = rest
	}
	if len(lines) == 0 {
		t.Fatalf("check printed no check lines (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	return lines
}
