package bot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1234-secret", "SLACK_APP_TOKEN": "xapp-1-secret",
		"DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch",
		"GITHUB_TOKEN":       "ghp_secretsecret", "GITHUB_REPO": "acme/alarms",
		"PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
	}
}

func TestLoadConfigDefaultsAndOverrides(t *testing.T) {
	m := valid()
	m["SLACK_API_URL"] = "http://127.0.0.1:9/api"
	m["PAGERDUTY_SERVICE_KEYS"] = "PA=key-a, PB=key-b"
	m["GITHUB_DEFAULT_USER"] = "@acme/security"
	m["DISPATCH_VISIBILITY_TIMEOUT"] = "30s"
	c, err := LoadConfig(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.SlackAPIURL != "http://127.0.0.1:9/api/" {
		t.Errorf("a missing trailing / must be added: %q", c.SlackAPIURL)
	}
	if c.HTTPAddr != ":8080" || c.LogFormat != "json" || c.Concurrency != 32 || c.GitHubAPIURL != "https://api.github.com/" {
		t.Errorf("defaults: %+v", c)
	}
	if c.ServiceKeys["PA"] != "key-a" || c.ServiceKeys["PB"] != "key-b" || c.GitHubDefault != "acme/security" || c.Visibility != 30*time.Second {
		t.Errorf("overrides: %+v", c)
	}
}

func TestLoadConfigReportsEveryProblemAtOnceWithoutSecrets(t *testing.T) {
	m := map[string]string{
		"SLACK_BOT_TOKEN":        "xapp-swapped-secret-value",
		"SLACK_APP_TOKEN":        "xoxb-swapped-secret-value",
		"DISPATCH_QUEUE_URL":     "dispatch-queue",
		"GITHUB_REPO":            "just-a-name",
		"SLACK_FALLBACK_CHANNEL": "#alerts",
		"PAGERDUTY_SERVICE_KEYS": "PA=ok,secret-key-without-id",
		"LOG_LEVEL":              "loud",
		"DISPATCH_REMIND_AFTER":  "soon",
		"GITHUB_APP_ID":          "12",
	}
	_, err := LoadConfig(env(m))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	for _, want := range []string{
		"SLACK_BOT_TOKEN must be a bot token", "SLACK_APP_TOKEN must be an app-level token", "DISPATCH_QUEUE_URL must be",
		"GitHub App authentication needs all of", "GITHUB_REPO:", "PAGERDUTY_ROUTING_KEY is required",
		"SLACK_FALLBACK_CHANNEL:", "PAGERDUTY_SERVICE_KEYS: entry 2", "LOG_LEVEL:", "DISPATCH_REMIND_AFTER:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if len(ce.Problems) != 10 {
		t.Errorf("got %d problems, want 10: %q", len(ce.Problems), ce.Problems)
	}
	for _, secret := range []string{"swapped-secret-value", "secret-key-without-id"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

func TestLoggerRedactsSecrets(t *testing.T) {
	var b strings.Builder
	log := NewLogger(&b, "debug", "json", "xoxb-1234-secret", "short")
	log.Info().Str("url", "https://x/?token=xoxb-1234-secret").Msg("a library logged a token: xoxb-1234-secret")
	log.Info().Msg("a short value is left alone")
	if strings.Contains(b.String(), "xoxb-1234-secret") || !strings.Contains(b.String(), "[redacted]") {
		t.Errorf("log = %s", b.String())
	}
	if !strings.Contains(b.String(), "short value") {
		t.Error("short secrets must not blank ordinary text")
	}
}

// TestWithoutGitHubCredentialsTheErrorNamesEveryVariable: a newcomer with no GitHub credential is
// told both ways in, by name.
func TestWithoutGitHubCredentialsTheErrorNamesEveryVariable(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
		"GITHUB_REPO": "acme/alarms", "PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
	}))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("err = %v, want one problem", err)
	}
	for _, name := range []string{"GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_FILE"} {
		if !strings.Contains(ce.Problems[0], name) {
			t.Errorf("%q does not name %s", ce.Problems[0], name)
		}
	}
}
