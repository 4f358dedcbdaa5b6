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
		"DISPATCH_TASK_KEYS":    "task-key-one-0123456789abcdef0123456789",
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
	if len(ce.Problems) != 11 || !strings.Contains(err.Error(), "DISPATCH_TASK_KEYS is required") {
		t.Errorf("got %d problems, want 11 (with DISPATCH_TASK_KEYS missing): %q", len(ce.Problems), ce.Problems)
	}
	for _, secret := range []string{"swapped-secret-value", "secret-key-without-id"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

// TestTaskKeys: DISPATCH_TASK_KEYS is required, each key 32 bytes or more, the first first; a
// problem is part of the one configuration error and never quotes a key.
func TestTaskKeys(t *testing.T) {
	long1, long2 := strings.Repeat("a", 32), strings.Repeat("b", 40)
	for _, tc := range []struct {
		name, value string
		want        []string // the keys, in order, when valid
		problem     string
	}{
		{name: "one key", value: long1, want: []string{long1}},
		{name: "rotation: new first, old second", value: " " + long2 + " , " + long1, want: []string{long2, long1}},
		{name: "missing", value: "", problem: "DISPATCH_TASK_KEYS is required"},
		{name: "short", value: "short-secret-31-bytes-long-xxxx", problem: "key 1 of 1 is 31 bytes"},
		{name: "one short among good", value: long1 + ",short-secret-key", problem: "key 2 of 2 is 16 bytes"},
		{name: "an empty entry", value: long1 + ",", problem: "key 2 of 2 is 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			m["DISPATCH_TASK_KEYS"] = tc.value
			m["DISPATCH_QUEUE_URL"] = "nope" // a second problem: the key's must be in the same error
			c, err := LoadConfig(env(m))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if tc.problem == "" {
				if len(ce.Problems) != 1 || strings.Join(c.TaskKeys, ",") != strings.Join(tc.want, ",") {
					t.Errorf("keys %q, problems %q", c.TaskKeys, ce.Problems)
				}
				return
			}
			if len(ce.Problems) != 2 || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("problems %q, want the queue URL's and %q", ce.Problems, tc.problem)
			}
			if strings.Contains(err.Error(), "short-secret") {
				t.Errorf("the error quotes a key: %v", err)
			}
		})
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
		"DISPATCH_TASK_KEYS": "task-key-one-0123456789abcdef0123456789",
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

// TestEnvFileMistakesAreNamed: `docker run --env-file` keeps a comment after a value, and quotes
// around it, as part of the value. Each secret is checked for such a shape at start-up, and the
// problem names the setting without quoting the secret.
func TestEnvFileMistakesAreNamed(t *testing.T) {
	const secret = "Zm9vYmFyc2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
	for _, tc := range []struct {
		name, value, problem string
	}{
		{"DISPATCH_TASK_KEYS", secret + "   # openssl rand -base64 48; the same on every replica", "DISPATCH_TASK_KEYS: key 1 of 1 is followed by a comment"},
		{"DISPATCH_TASK_KEYS", secret + "#old", "DISPATCH_TASK_KEYS: key 1 of 1 has a # at character 49"},
		{"DISPATCH_TASK_KEYS", "hex0123456789abcdef0123456789abcdef," + secret + "!", "key 2 of 2 has a character at character 49 that no base64 or hex key has"},
		{"DISPATCH_TASK_KEYS", `"` + secret + `"`, "DISPATCH_TASK_KEYS: key 1 of 1 is in quotes"},
		{"SLACK_BOT_TOKEN", "xoxb-1234-" + secret + " # the bot token", "SLACK_BOT_TOKEN is followed by a comment"},
		{"SLACK_BOT_TOKEN", `"xoxb-1234-` + secret + `"`, "SLACK_BOT_TOKEN is in quotes"},
		{"SLACK_APP_TOKEN", "xapp-1-" + secret[:10] + "\u00a0" + secret[10:], "SLACK_APP_TOKEN has a space or a control character at character 18"},
		{"SLACK_APP_TOKEN", "xapp-1-" + secret + ".", "SLACK_APP_TOKEN has a character at character 56 that no Slack token has"},
		{"GITHUB_TOKEN", "ghp_" + secret + " # machine user", "GITHUB_TOKEN is followed by a comment"},
		{"PAGERDUTY_ROUTING_KEY", secret + "\t#default", "PAGERDUTY_ROUTING_KEY is followed by a comment"},
		{"PAGERDUTY_API_TOKEN", "u+" + secret + " x", "PAGERDUTY_API_TOKEN has a space or a control character at character 51"},
		{"PAGERDUTY_SERVICE_KEYS", "PA=" + secret + " # security", "PAGERDUTY_SERVICE_KEYS: the routing key of entry 1 (PA) is followed by a comment"},
	} {
		t.Run(tc.name+"/"+tc.problem, func(t *testing.T) {
			m := valid()
			m[tc.name] = tc.value
			_, err := LoadConfig(env(m))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0], tc.problem) {
				t.Errorf("problems %q, want one with %q", ce.Problems, tc.problem)
			}
			if strings.Contains(err.Error(), secret[:20]) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	// The forms openssl prints, and the test keys' shape, pass.
	m := valid()
	m["DISPATCH_TASK_KEYS"] = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA+/q83vEjRWeJCrze8SNFZ4kA==, 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := LoadConfig(env(m)); err != nil {
		t.Errorf("base64 and hex keys refused: %v", err)
	}
}
