package bot

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dispatch-oss/dispatch/githubapi"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// Config is every setting of dispatch, read from the environment (see the README's table).
type Config struct {
	SlackBotToken   string
	SlackAppToken   string
	QueueURL        string
	GitHubToken     string
	GitHubRepo      string
	PagerDutyKey    string
	FallbackChannel string
	GitHubDefault   string
	ServiceKeys     map[string]string

	GitHubAppID          int64
	GitHubInstallationID int64
	GitHubAppKey         string // PEM

	RemindAfter   time.Duration
	EscalateAfter time.Duration

	HTTPAddr  string
	LogLevel  string
	LogFormat string

	SlackAPIURL     string
	GitHubAPIURL    string
	PagerDutyURL    string
	Concurrency     int           // alarms handled at once (DISPATCH_CONCURRENCY)
	ShutdownTimeout time.Duration // how long a stop waits for work in flight (DISPATCH_SHUTDOWN_TIMEOUT)
	// Visibility is the visibility timeout dispatch gives each message it receives, extended while it
	// works on it (DISPATCH_VISIBILITY_TIMEOUT): after a crash, the message is back this soon.
	Visibility time.Duration
	// GitHubLimits are the windows content-creating GitHub requests are paced within
	// (GITHUB_CONTENT_LIMITS, "80/1m,500/1h": github.com's secondary limits; a GitHub Enterprise
	// server may set its own).
	GitHubLimits []pace.Window
	// GitHubPoints are the windows the points of every GitHub request are paced within, a read
	// costing 1 and a write 5 (GITHUB_POINTS_LIMITS, "900/1m": github.com's secondary limit; a
	// GitHub Enterprise server may set its own).
	GitHubPoints []pace.Window
	// SlackLimitScale runs dispatch's pacing of Slack's tiers on a clock this many times faster
	// (SLACK_LIMIT_SCALE, default 1). Only for a benchmark against a fake Slack that runs its
	// limits at the same scale; against slack.com anything but 1 earns 429s.
	SlackLimitScale float64
	// Replicas is how many replicas share the credentials (DISPATCH_REPLICAS, 1 to 10, default 1):
	// every service budget dispatch paces itself within is divided between them (pace.Share), so
	// that together they stay within each credential's limits.
	Replicas int
	// GitHubWatch is how often the index of dispatch's GitHub issues is refreshed when no lookup
	// did it (GITHUB_WATCH_INTERVAL): how soon an issue closed on GitHub settles its Slack prompt.
	// A lookup refreshes the index first only when it is older than this (or when it misses an
	// issue older than one this replica created).
	GitHubWatch time.Duration
	// Pprof serves Go's profiler on the health server (DISPATCH_PPROF, see PprofEnv).
	Pprof bool
	// PagerDutyAPIToken is an optional REST API key (PAGERDUTY_API_TOKEN) with which `dispatch
	// check` finds the routing keys' services; the Events API can only be checked for the keys'
	// format. PagerDutyAPIURL is the REST API base (PAGERDUTY_API_URL).
	PagerDutyAPIToken string
	PagerDutyAPIURL   string
	// PagerDutyEventsQueueURL is the SQS queue PagerDuty's EventBridge rule sends incident events
	// to (PAGERDUTY_EVENTS_QUEUE_URL); "" with PagerDutyAPIToken set, dispatch polls the REST API
	// every PagerDutyPoll (PAGERDUTY_POLL_INTERVAL) instead.
	PagerDutyEventsQueueURL string
	PagerDutyPoll           time.Duration
	// AllowedRepos are the repositories alarms may name, "owner/name" or "owner/*"
	// (GITHUB_ALLOWED_REPOS; default OWNER/* of GITHUB_REPO).
	AllowedRepos []string
	// TaskKeys sign dispatch's own task messages on the queue (DISPATCH_TASK_KEYS, comma-separated,
	// 32 bytes or more each): the first signs, every one verifies. Secrets.
	TaskKeys []string
	// Duo is the second factor a Yes may need (DUO_*, DISPATCH_MFA; issue 19).
	Duo DuoConfig
}

// MaxReplicas is the most replicas DISPATCH_REPLICAS may name: Slack allows an app 10 Socket Mode
// connections, and each replica holds one.
const MaxReplicas = 10

// Defaults returns a Config with every default set.
func Defaults() Config {
	return Config{
		HTTPAddr:        ":8080",
		LogLevel:        "info",
		LogFormat:       "json",
		SlackAPIURL:     "https://slack.com/api/",
		GitHubAPIURL:    "https://api.github.com/",
		PagerDutyURL:    "https://events.pagerduty.com",
		PagerDutyAPIURL: "https://api.pagerduty.com",
		Concurrency:     32,
		ShutdownTimeout: 25 * time.Second,
		Visibility:      60 * time.Second,
		GitHubLimits:    githubapi.SecondaryLimits,
		GitHubPoints:    githubapi.PointLimits,
		SlackLimitScale: 1,
		Replicas:        1,
		GitHubWatch:     githubapi.DefaultWatchInterval,
		PagerDutyPoll:   DefaultPagerDutyPoll,
	}
}

// ConfigError lists every problem with a configuration.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ")
}

// LoadConfig reads the environment over the defaults and validates the result, reporting every
// problem at once. getenv is os.Getenv in production.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Defaults()
	getenv, problems := secretFiles(getenv, secretNames)
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(dst *string, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	dur := func(dst *time.Duration, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				bad("%s: %q is not a positive duration like 15m or 1h", name, v)
				return
			}
			*dst = d
		}
	}
	num := func(dst *int64, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				bad("%s: %q is not a positive whole number", name, v)
				return
			}
			*dst = n
		}
	}
	str(&c.SlackBotToken, "SLACK_BOT_TOKEN")
	str(&c.SlackAppToken, "SLACK_APP_TOKEN")
	str(&c.QueueURL, "DISPATCH_QUEUE_URL")
	str(&c.GitHubToken, "GITHUB_TOKEN")
	str(&c.GitHubRepo, "GITHUB_REPO")
	str(&c.PagerDutyKey, "PAGERDUTY_ROUTING_KEY")
	str(&c.FallbackChannel, "SLACK_FALLBACK_CHANNEL")
	str(&c.GitHubDefault, "GITHUB_DEFAULT_USER")
	num(&c.GitHubAppID, "GITHUB_APP_ID")
	num(&c.GitHubInstallationID, "GITHUB_APP_INSTALLATION_ID")
	str(&c.GitHubAppKey, "GITHUB_APP_PRIVATE_KEY")
	dur(&c.RemindAfter, "DISPATCH_REMIND_AFTER")
	dur(&c.EscalateAfter, "DISPATCH_ESCALATE_AFTER")
	dur(&c.ShutdownTimeout, "DISPATCH_SHUTDOWN_TIMEOUT")
	dur(&c.Visibility, "DISPATCH_VISIBILITY_TIMEOUT")
	dur(&c.GitHubWatch, "GITHUB_WATCH_INTERVAL")
	str(&c.HTTPAddr, "DISPATCH_HTTP_ADDR")
	str(&c.LogLevel, "LOG_LEVEL")
	str(&c.LogFormat, "LOG_FORMAT")
	str(&c.SlackAPIURL, "SLACK_API_URL")
	str(&c.GitHubAPIURL, "GITHUB_API_URL")
	str(&c.PagerDutyURL, "PAGERDUTY_EVENTS_URL")
	str(&c.PagerDutyAPIToken, "PAGERDUTY_API_TOKEN")
	str(&c.PagerDutyAPIURL, "PAGERDUTY_API_URL")
	str(&c.PagerDutyEventsQueueURL, "PAGERDUTY_EVENTS_QUEUE_URL")
	dur(&c.PagerDutyPoll, "PAGERDUTY_POLL_INTERVAL")
	if v := strings.TrimSpace(getenv("DISPATCH_CONCURRENCY")); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			bad("DISPATCH_CONCURRENCY: %q is not a whole number from 1 to 100", v)
		} else {
			c.Concurrency = n
		}
	}
	if v := strings.TrimSpace(getenv("DISPATCH_REPLICAS")); v != "" {
		// Slack allows an app 10 Socket Mode connections, one a replica.
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > MaxReplicas {
			bad("DISPATCH_REPLICAS: %q is not a whole number from 1 to %d", v, MaxReplicas)
		} else {
			c.Replicas = n
		}
	}
	if v := strings.TrimSpace(getenv(PprofEnv)); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			bad("%s: %q is not true or false", PprofEnv, v)
		}
		c.Pprof = on
	}
	if v := strings.TrimSpace(getenv("SLACK_LIMIT_SCALE")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			bad("SLACK_LIMIT_SCALE: %q is not a positive number", v)
		} else {
			c.SlackLimitScale = f
		}
	}
	windows := func(dst *[]pace.Window, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			ws, err := parseWindows(v)
			if err != nil {
				bad("%s: %v", name, err)
				return
			}
			*dst = ws
		}
	}
	windows(&c.GitHubLimits, "GITHUB_CONTENT_LIMITS")
	windows(&c.GitHubPoints, "GITHUB_POINTS_LIMITS")
	if v := strings.TrimSpace(getenv("PAGERDUTY_SERVICE_KEYS")); v != "" {
		keys, err := parseServiceKeys(v)
		if err != nil {
			bad("PAGERDUTY_SERVICE_KEYS: %v", err)
		}
		c.ServiceKeys = keys
	}
	if v := strings.TrimSpace(getenv("GITHUB_ALLOWED_REPOS")); v != "" {
		repos, err := parseAllowedRepos(v)
		if err != nil {
			bad("GITHUB_ALLOWED_REPOS: %v", err)
		}
		c.AllowedRepos = repos
	} else if owner, _, ok := strings.Cut(c.GitHubRepo, "/"); ok {
		c.AllowedRepos = []string{owner + "/*"}
	}
	if v := getenv("DISPATCH_TASK_KEYS"); v != "" {
		c.TaskKeys = splitTaskKeys(v)
	}
	c.Duo = loadDuo(getenv, bad) // issue 19
	if !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/"
	}
	if !strings.HasSuffix(c.GitHubAPIURL, "/") {
		c.GitHubAPIURL += "/"
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return c, &ConfigError{Problems: problems}
	}
	return c, nil
}

var (
	repoPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	channelPattern    = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	defaultUserFormat = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]+)?$`)
)

// validate checks the settings that must hold before any connection is made. Messages never quote a
// token's value.
func (c *Config) validate() []string {
	p := c.shapeProblems()
	switch {
	case c.SlackBotToken == "":
		p = append(p, "SLACK_BOT_TOKEN is required (the bot token, xoxb-…)")
	case !strings.HasPrefix(strings.Trim(c.SlackBotToken, `"'`), "xoxb-"): // quotes: shapeProblems says
		p = append(p, "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (is it the app token?)")
	}
	switch {
	case c.SlackAppToken == "":
		p = append(p, "SLACK_APP_TOKEN is required (an app-level token with connections:write, xapp-…)")
	case !strings.HasPrefix(strings.Trim(c.SlackAppToken, `"'`), "xapp-"):
		p = append(p, "SLACK_APP_TOKEN must be an app-level token starting with xapp- (is it the bot token?)")
	}
	if c.QueueURL == "" {
		p = append(p, "DISPATCH_QUEUE_URL is required (the URL of the SQS queue subscribed to the dispatch topic)")
	} else if u, err := url.Parse(c.QueueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p = append(p, "DISPATCH_QUEUE_URL must be an SQS queue URL like https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
	}
	app := c.GitHubAppID != 0 || c.GitHubInstallationID != 0 || c.GitHubAppKey != ""
	switch {
	case app && (c.GitHubAppID == 0 || c.GitHubInstallationID == 0 || c.GitHubAppKey == ""):
		p = append(p, "GitHub App authentication needs all of GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)")
	case !app && c.GitHubToken == "":
		p = append(p, "GITHUB_TOKEN is required, or for a GitHub App all of GITHUB_APP_ID, GITHUB_APP_INSTALLATION_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)")
	}
	if c.GitHubRepo == "" {
		p = append(p, "GITHUB_REPO is required (owner/name of the repository for alarm issues)")
	} else if !repoPattern.MatchString(c.GitHubRepo) {
		p = append(p, fmt.Sprintf("GITHUB_REPO: %q is not owner/name", c.GitHubRepo))
	}
	if c.PagerDutyKey == "" {
		p = append(p, "PAGERDUTY_ROUTING_KEY is required (the Events API v2 integration key of the default service)")
	}
	if c.FallbackChannel != "" && !channelPattern.MatchString(c.FallbackChannel) {
		p = append(p, fmt.Sprintf("SLACK_FALLBACK_CHANNEL: %q is not a channel ID (like C0123ABCD; a #name won't do)", c.FallbackChannel))
	}
	if c.GitHubDefault != "" && !defaultUserFormat.MatchString(strings.TrimPrefix(c.GitHubDefault, "@")) {
		p = append(p, fmt.Sprintf("GITHUB_DEFAULT_USER: %q is not a GitHub login or org/team", c.GitHubDefault))
	}
	c.GitHubDefault = strings.TrimPrefix(c.GitHubDefault, "@")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		p = append(p, fmt.Sprintf("LOG_FORMAT: %q is not json or console", c.LogFormat))
	}
	for name, v := range map[string]string{"SLACK_API_URL": c.SlackAPIURL, "GITHUB_API_URL": c.GitHubAPIURL, "PAGERDUTY_EVENTS_URL": c.PagerDutyURL, "PAGERDUTY_API_URL": c.PagerDutyAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p = append(p, fmt.Sprintf("%s: %q is not an http(s) URL", name, v))
		}
	}
	if c.Visibility < 3*time.Second || c.Visibility > 12*time.Hour {
		p = append(p, "DISPATCH_VISIBILITY_TIMEOUT must be from 3s to 12h")
	}
	if c.GitHubRepo != "" && len(c.AllowedRepos) > 0 && !handlers.RepoAllowed(c.AllowedRepos, c.GitHubRepo) {
		p = append(p, fmt.Sprintf("GITHUB_ALLOWED_REPOS must include GITHUB_REPO %q", c.GitHubRepo))
	}
	p = append(p, c.validateTaskKeys()...)
	if c.RemindAfter > 0 && c.EscalateAfter > 0 && c.EscalateAfter <= c.RemindAfter {
		p = append(p, "DISPATCH_ESCALATE_AFTER must be longer than DISPATCH_REMIND_AFTER")
	}
	return p
}

// splitTaskKeys reads DISPATCH_TASK_KEYS: comma-separated, blanks around each key dropped.
func splitTaskKeys(v string) []string {
	var keys []string
	for _, k := range strings.Split(v, ",") {
		keys = append(keys, strings.TrimSpace(k))
	}
	return keys
}

// validateTaskKeys requires at least one task key, each of 32 bytes or more. Keys are named by
// their position only: they are secrets.
func (c *Config) validateTaskKeys() []string {
	if len(c.TaskKeys) == 0 {
		return []string{fmt.Sprintf("DISPATCH_TASK_KEYS is required: one or more comma-separated random keys of %d bytes or more, the same on every replica, that sign dispatch's own queue tasks (make one with: openssl rand -base64 48)", sqsqueue.MinTaskKeyLen)}
	}
	var p []string
	for i, k := range c.TaskKeys {
		if len(k) < sqsqueue.MinTaskKeyLen {
			p = append(p, fmt.Sprintf("DISPATCH_TASK_KEYS: key %d of %d is %d bytes; each must be %d bytes or more (openssl rand -base64 48)", i+1, len(c.TaskKeys), len(k), sqsqueue.MinTaskKeyLen))
		}
	}
	return p
}

// parseWindows reads "N/DURATION,…", e.g. "80/1m,500/1h".
func parseWindows(v string) ([]pace.Window, error) {
	var out []pace.Window
	for _, part := range strings.Split(v, ",") {
		n, span, ok := strings.Cut(strings.TrimSpace(part), "/")
		limit, err := strconv.Atoi(n)
		d, derr := time.ParseDuration(span)
		if !ok || err != nil || derr != nil || limit < 1 || d <= 0 {
			return nil, fmt.Errorf("%q is not COUNT/DURATION like 80/1m", part)
		}
		out = append(out, pace.Window{Limit: limit, Span: d})
	}
	return out, nil
}

func parseServiceKeys(v string) (map[string]string, error) {
	keys := map[string]string{}
	var bad []string
	for i, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		id, key, ok := strings.Cut(pair, "=")
		id, key = strings.TrimSpace(id), strings.TrimSpace(key)
		if !ok || id == "" || key == "" {
			// Name the entry by its position only: it may hold a key, a secret.
			bad = append(bad, fmt.Sprintf("entry %d is not SERVICEID=routingkey", i+1))
			continue
		}
		keys[id] = key
		if why := valueShape(key, nil, "routing key"); why != "" {
			bad = append(bad, fmt.Sprintf("the routing key of entry %d (%s) %s", i+1, id, why))
		}
	}
	if len(bad) > 0 {
		return keys, fmt.Errorf("%s", strings.Join(bad, ", "))
	}
	return keys, nil
}

// parseAllowedRepos reads GITHUB_ALLOWED_REPOS: comma-separated "owner/name" or "owner/*".
func parseAllowedRepos(v string) ([]string, error) {
	var out, bad []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if owner, ok := strings.CutSuffix(p, "/*"); ok && repoPattern.MatchString(owner+"/x") {
			out = append(out, p)
		} else if repoPattern.MatchString(p) {
			out = append(out, p)
		} else {
			bad = append(bad, fmt.Sprintf("%q is not owner/name or owner/*", p))
		}
	}
	if len(bad) > 0 {
		return out, errors.New(strings.Join(bad, ", "))
	}
	if len(out) == 0 {
		return nil, errors.New("names no repository")
	}
	return out, nil
}
