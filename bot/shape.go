package bot

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// valueShape says what is wrong with a secret's value as written, or "" when nothing is. It checks
// for the usual mistakes of an env file, which `docker run --env-file` and systemd's
// EnvironmentFile keep as part of the value: a comment after it, quotes around it, and spaces or
// control characters from a paste. allowed, when not nil, is every character the value may hold;
// kind names the value ("Slack token") in the message. The message never quotes the value: it is a
// secret.
func valueShape(v string, allowed func(rune) bool, kind string) string {
	if v == "" {
		return ""
	}
	if q := v[0]; q == '"' || q == '\'' || v[len(v)-1] == '"' || v[len(v)-1] == '\'' {
		return "is in quotes: docker run --env-file and systemd keep quotes as part of the value; remove them"
	}
	const comment = "docker run --env-file and systemd keep everything after = as the value, so put comments on a line of their own"
	pos := 0
	for i, r := range v {
		pos++
		switch {
		case r == '#':
			return fmt.Sprintf("has a # at character %d: is a comment after the value? %s", pos, comment)
		case unicode.IsSpace(r) && strings.HasPrefix(strings.TrimSpace(v[i:]), "#"):
			return fmt.Sprintf("is followed by a comment (from character %d): %s", pos, comment)
		case unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError:
			return fmt.Sprintf("has a space or a control character at character %d; a %s has none", pos, kind)
		case allowed != nil && !allowed(r):
			return fmt.Sprintf("has a character at character %d that no %s has", pos, kind)
		}
	}
	return ""
}

// slackTokenChar is a character of a Slack token (xoxb-…, xapp-…): letters, digits and hyphens.
func slackTokenChar(r rune) bool { return r < utf8.RuneSelf && (isAlnum(r) || r == '-') }

// taskKeyChar is a character of base64 (standard or URL alphabet) or hex, the forms `openssl rand`
// prints.
func taskKeyChar(r rune) bool {
	return r < utf8.RuneSelf && (isAlnum(r) || strings.ContainsRune("+/=_-", r))
}

func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// shapeProblems checks the shape of every secret but the GitHub App's PEM key (which has spaces
// and lines by nature), naming the setting and never the value.
func (c *Config) shapeProblems() []string {
	var p []string
	for _, s := range []struct {
		name, value string
		allowed     func(rune) bool
		kind        string
	}{
		{"SLACK_BOT_TOKEN", c.SlackBotToken, slackTokenChar, "Slack token"},
		{"SLACK_APP_TOKEN", c.SlackAppToken, slackTokenChar, "Slack token"},
		{"GITHUB_TOKEN", c.GitHubToken, nil, "GitHub token"},
		{"PAGERDUTY_ROUTING_KEY", c.PagerDutyKey, nil, "routing key"},
		{"PAGERDUTY_API_TOKEN", c.PagerDutyAPIToken, nil, "PagerDuty API key"},
	} {
		if why := valueShape(s.value, s.allowed, s.kind); why != "" {
			p = append(p, s.name+" "+why)
		}
	}
	for i, k := range c.TaskKeys {
		if why := valueShape(k, taskKeyChar, "base64 or hex key"); why != "" {
			p = append(p, fmt.Sprintf("DISPATCH_TASK_KEYS: key %d of %d %s (make keys with: openssl rand -base64 48)", i+1, len(c.TaskKeys), why))
		}
	}
	return p
}
