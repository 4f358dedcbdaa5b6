package bot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSecret writes content to a file in a temporary directory and returns its path.
func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFilesReadsEverySecretName(t *testing.T) {
	for _, name := range secretNames {
		t.Run(name, func(t *testing.T) {
			want := "value-of-" + strings.ToLower(name)
			m := map[string]string{name + "_FILE": writeSecret(t, name, want+"\n")}
			get, problems := secretFiles(env(m), secretNames)
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			if got := get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\nOgIB\n-----END RSA PRIVATE KEY-----"
	cases := []struct {
		name    string
		env     func(t *testing.T) map[string]string
		want    string // SLACK_BOT_TOKEN as read
		problem string // a problem must contain this ("" = none)
	}{
		{"environment only", func(*testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN": "xoxb-env"}
		}, "xoxb-env", ""},
		{"file, trailing newline dropped", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", "xoxb-file\n")}
		}, "xoxb-file", ""},
		{"file, CRLF dropped", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", "xoxb-file\r\n")}
		}, "xoxb-file", ""},
		{"file without newline", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", "xoxb-file")}
		}, "xoxb-file", ""},
		{"inner newlines kept (a PEM key)", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "key.pem", pem+"\n")}
		}, pem, ""},
		{"both set", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN": "xoxb-env", "SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", "xoxb-file")}
		}, "xoxb-env", "SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set"},
		{"missing file", func(*testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": "/nonexistent/dispatch/token"}
		}, "", "SLACK_BOT_TOKEN_FILE: read the secret file: open /nonexistent/dispatch/token"},
		{"empty file", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", "\n")}
		}, "", "is empty"},
		{"directory", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": t.TempDir()}
		}, "", "SLACK_BOT_TOKEN_FILE: read the secret file"},
		{"huge file", func(t *testing.T) map[string]string {
			return map[string]string{"SLACK_BOT_TOKEN_FILE": writeSecret(t, "tok", strings.Repeat("x", maxSecretFile+1))}
		}, "", "larger than 64 KiB"},
		{"not a secret name: _FILE ignored", func(t *testing.T) map[string]string {
			return map[string]string{"GITHUB_REPO_FILE": writeSecret(t, "repo", "acme/other"), "SLACK_BOT_TOKEN": "xoxb-env"}
		}, "xoxb-env", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.env(t)
			get, problems := secretFiles(env(m), secretNames)
			if got := get("SLACK_BOT_TOKEN"); tc.problem == "" && got != tc.want {
				t.Errorf("SLACK_BOT_TOKEN = %q, want %q", got, tc.want)
			}
			if got := get("GITHUB_REPO"); got != m["GITHUB_REPO"] {
				t.Errorf("a setting that is not a secret must come from the environment only: %q", got)
			}
			joined := strings.Join(problems, "; ")
			switch {
			case tc.problem == "" && len(problems) > 0:
				t.Errorf("unexpected problems: %s", joined)
			case tc.problem != "" && !strings.Contains(joined, tc.problem):
				t.Errorf("problems %q lack %q", joined, tc.problem)
			case len(problems) > 1:
				t.Errorf("one setting, one problem: %q", joined)
			}
			if strings.Contains(joined, "xoxb-") || strings.Contains(joined, "xxxx") {
				t.Errorf("a problem quotes the secret: %q", joined)
			}
		})
	}
}

// LoadConfig takes every secret from files, and reports a file problem in the same one message as
// every other problem.
func TestLoadConfigSecretsFromFiles(t *testing.T) {
	m := valid()
	files := map[string]string{}
	for _, name := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GITHUB_TOKEN", "PAGERDUTY_ROUTING_KEY", "PAGERDUTY_SERVICE_KEYS"} {
		v := m[name]
		if name == "PAGERDUTY_SERVICE_KEYS" {
			v = "PA=key-a"
		}
		files[name] = v
		m[name+"_FILE"] = writeSecret(t, name, v+"\n")
		delete(m, name)
	}
	c, err := LoadConfig(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.SlackBotToken != files["SLACK_BOT_TOKEN"] || c.SlackAppToken != files["SLACK_APP_TOKEN"] || c.GitHubToken != files["GITHUB_TOKEN"] ||
		c.PagerDutyKey != files["PAGERDUTY_ROUTING_KEY"] || c.ServiceKeys["PA"] != "key-a" {
		t.Errorf("secrets from files: %+v", c)
	}

	m["SLACK_BOT_TOKEN"] = "xoxb-also-in-env"
	m["GITHUB_APP_PRIVATE_KEY"] = "inline"
	m["GITHUB_APP_PRIVATE_KEY_FILE"] = writeSecret(t, "key.pem", "-----BEGIN-----\n")
	m["LOG_LEVEL"] = "loud"
	_, err = LoadConfig(env(m))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	msg := err.Error()
	for _, want := range []string{"SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set", "GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_FILE are both set", "LOG_LEVEL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the one message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "xoxb-") || strings.Contains(msg, "BEGIN") {
		t.Errorf("the message quotes a secret: %q", msg)
	}
}

func TestGitHubAppKeyFromFile(t *testing.T) {
	m := valid()
	delete(m, "GITHUB_TOKEN")
	m["GITHUB_APP_ID"], m["GITHUB_APP_INSTALLATION_ID"] = "1", "2"
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"
	m["GITHUB_APP_PRIVATE_KEY_FILE"] = writeSecret(t, "key.pem", pem+"\n")
	c, err := LoadConfig(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.GitHubAppKey != pem {
		t.Errorf("key = %q", c.GitHubAppKey)
	}
}
