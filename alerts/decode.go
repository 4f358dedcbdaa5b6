package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a message may carry. SQS refuses bodies over 256 KiB, so a larger one can only be a
// mistake; the text limits are GitHub's (an issue title is at most 256 characters, a body 65,536).
const (
	MaxMessageBytes = 256 * 1024
	MaxUsers        = 100
	MaxTitleRunes   = 256
	MaxBodyRunes    = 65536
	MaxLabels       = 20
	MaxLabelRunes   = 50
	MaxRequestID    = 128
	MaxServiceID    = 64
	MaxSummaryRunes = 1024 // PagerDuty's limit on an incident summary
	MaxShortRunes   = 256  // handles, emails, button labels
	MaxPromptRunes  = 3000 // one Slack section
	MaxDuration     = 7 * 24 * time.Hour
)

var (
	repoPattern    = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]{0,38}/)?[A-Za-z0-9._-]{1,100}$`)
	githubLogin    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	requestIDChars = regexp.MustCompile(`^[A-Za-z0-9._:/@+=-]+$`)
	serviceIDChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Problem is one thing wrong with a message: the field it concerns (a JSON path such as
// "users[1].slack", or "" for the message as a whole) and what is wrong, in words.
type Problem struct {
	Field   string
	Message string
	// Line and Column (from 1, in characters) locate a JSON syntax error in the message; 0 for
	// any other problem. Message says them too.
	Line, Column int
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// InvalidError is returned by Decode when a message can't be routed. It lists every problem found,
// not just the first.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid alarm: " + strings.Join(parts, "; ")
}

// Reason is a short reason for metrics labels: the first problem's field, or "message".
func (e *InvalidError) Reason() string {
	if len(e.Problems) == 0 || e.Problems[0].Field == "" {
		return "message"
	}
	f := e.Problems[0].Field
	if i := strings.IndexAny(f, "[."); i > 0 {
		f = f[:i]
	}
	return f
}

// Decode parses and validates one alarm message. Unknown keys are ignored, and reported in warnings
// with the nearest known key; characters after the first complete JSON object are ignored and
// reported in warnings (the original's own high-priority example ends in an extra "}"), a second
// JSON value as such. On failure the error is an *InvalidError naming every problem at once.
func Decode(data []byte) (Alarm, []string, error) {
	var warnings []string
	if len(data) > MaxMessageBytes {
		return Alarm{}, nil, invalid("", fmt.Sprintf("message is %d bytes, more than the %d allowed", len(data), MaxMessageBytes))
	}
	if !utf8.Valid(data) {
		return Alarm{}, nil, invalid("", "message is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return Alarm{}, nil, invalid("", "message is empty")
		}
		return Alarm{}, nil, notJSON(data, err)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return Alarm{}, nil, invalid("", "message must be a JSON object, got "+kind(raw))
	}
	if pagerDutyEvent(obj) {
		return Alarm{}, nil, invalid("", notAnAlarm)
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		warnings = append(warnings, trailingWarning(dec, rest))
	}

	r := reader{}
	a := r.alarm(obj)
	if len(r.problems) > 0 {
		return Alarm{}, append(warnings, r.warnings...), &InvalidError{Problems: r.problems}
	}
	return a, append(warnings, r.warnings...), nil
}

// trailingWarning describes what follows the first JSON value: a second value (a publisher batching
// alarms into one message, of which only the first is routed), or stray characters.
func trailingWarning(dec *json.Decoder, rest []byte) string {
	var second any
	if err := dec.Decode(&second); err == nil {
		return fmt.Sprintf("a second JSON value (%s) follows the alarm and is ignored: publish one alarm per message", kind(second))
	}
	return fmt.Sprintf("ignored %d trailing characters after the JSON object", utf8.RuneCount(rest))
}

// notJSON reports a syntax error with where it is, as an editor counts: line and column from 1,
// columns in characters. A message cut short is located at its end.
func notJSON(data []byte, err error) error {
	at := -1
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		at = int(se.Offset) - 1 // Offset counts the bytes read, the offending one included
	case errors.Is(err, io.ErrUnexpectedEOF):
		at = len(data)
	}
	if at < 0 {
		return invalid("", "message is not JSON: "+err.Error())
	}
	before := data[:min(at, len(data))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return &InvalidError{Problems: []Problem{{Message: fmt.Sprintf("message is not JSON: line %d, column %d: %v", line, col, err), Line: line, Column: col}}}
}

func invalid(field, msg string) error {
	return &InvalidError{Problems: []Problem{{Field: field, Message: msg}}}
}

// reader walks the decoded JSON, collecting problems instead of stopping at the first.
type reader struct {
	problems []Problem
	warnings []string
	failed   map[string]bool // fields with a problem already: one problem per field is enough
}

func (r *reader) fail(field, format string, args ...any) {
	if r.failed[field] {
		return
	}
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	r.failed[field] = true
	r.problems = append(r.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (r *reader) alarm(obj map[string]any) Alarm {
	var a Alarm
	r.unknownKeys(obj, "", alarmKeys)
	typeName, present := r.str(obj, "type", "type")
	if !present {
		r.fail("type", "is required (one of self-service, broadcast, high-priority, low-priority, nag)")
	} else if t, ok := ParseType(typeName); ok {
		a.Type = t
	} else if !r.failed["type"] {
		r.fail("type", "%q is not a known type (one of self-service, broadcast, high-priority or high, low-priority or low, nag)", truncate(typeName, 40))
	}

	a.RequestID, _ = r.str(obj, "requestId", "requestId")
	if a.RequestID != "" && (len(a.RequestID) > MaxRequestID || !requestIDChars.MatchString(a.RequestID)) {
		r.fail("requestId", "must be at most %d characters of letters, digits and ._:/@+=-", MaxRequestID)
	}
	a.GitHubRepo, _ = r.str(obj, "githubRepo", "githubRepo")
	if a.GitHubRepo != "" && (!repoPattern.MatchString(a.GitHubRepo) || dotName(a.GitHubRepo)) {
		r.fail("githubRepo", "must be a repository name or owner/name")
	}
	a.PagerDutyServiceID, _ = r.str(obj, "pagerDutyServiceId", "pagerDutyServiceId")
	if a.PagerDutyServiceID != "" && (len(a.PagerDutyServiceID) > MaxServiceID || !serviceIDChars.MatchString(a.PagerDutyServiceID)) {
		r.fail("pagerDutyServiceId", "must be a PagerDuty service ID: at most %d letters, digits and ._-", MaxServiceID)
	}
	a.Retrigger = true
	if v, ok := obj["retrigger"]; ok && v != nil {
		if b, isBool := v.(bool); isBool {
			a.Retrigger = b
		} else {
			r.fail("retrigger", "must be true or false, got %s", kind(v))
		}
	}
	a.Users = r.users(obj["users"])

	body := r.object(obj, "body", "body")
	r.unknownKeys(body, "body", bodyKeys)
	gh := r.object(body, "github", "body.github")
	r.unknownKeys(gh, "body.github", githubKeys)
	a.GitHubTitle, _ = r.str(gh, "title", "body.github.title")
	a.GitHubBody, _ = r.str(gh, "body", "body.github.body")
	a.GitHubLabels = r.labels(gh["labels"], "body.github.labels")
	sl := r.object(body, "slack", "body.slack")
	r.unknownKeys(sl, "body.slack", slackKeys)
	a.SlackMessage, _ = r.str(sl, "message", "body.slack.message")
	a.SlackPrompt, _ = r.str(sl, "prompt", "body.slack.prompt")
	act := r.object(sl, "actions", "body.slack.actions")
	r.unknownKeys(act, "body.slack.actions", actionKeys)
	a.Actions.Yes, _ = r.str(act, "yes", "body.slack.actions.yes")
	a.Actions.No, _ = r.str(act, "no", "body.slack.actions.no")
	a.Actions.Wrong, _ = r.str(act, "wrong", "body.slack.actions.wrong")
	a.Actions.YesResponse, _ = r.str(act, "yes_response", "body.slack.actions.yes_response")
	a.Actions.NoResponse, _ = r.str(act, "no_response", "body.slack.actions.no_response")
	pd := r.object(body, "pagerduty", "body.pagerduty")
	r.unknownKeys(pd, "body.pagerduty", pagerdutyKeys)
	a.PagerDutyTitle, _ = r.str(pd, "title", "body.pagerduty.title")
	a.PagerDutyBody, _ = r.str(pd, "body", "body.pagerduty.body")

	a.RemindAfter = r.duration(obj, "remindAfter")
	a.EscalateAfter = r.duration(obj, "escalateAfter")
	if v, ok := obj["mfa"]; ok && v != nil {
		if b, isBool := v.(bool); isBool {
			a.MFA = &b
		} else {
			r.fail("mfa", "must be true or false, got %s", kind(v))
		}
	}
	a.Reason, _ = r.str(obj, "reason", "reason")
	switch a.Reason {
	case "", ReasonNo, ReasonYes, ReasonBoth, ReasonNone:
	default:
		r.fail("reason", "must be one of no, yes, both, none")
	}

	r.lengths(&a)
	if a.Type != "" {
		r.required(&a)
	}
	applyDefaults(&a)
	return a
}

func (r *reader) users(v any) []User {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fail("users", "must be an array of users, got %s", kind(v))
		return nil
	}
	if len(list) > MaxUsers {
		r.fail("users", "has %d users, more than the %d allowed", len(list), MaxUsers)
		return nil
	}
	users := make([]User, 0, len(list))
	for i, item := range list {
		field := fmt.Sprintf("users[%d]", i)
		obj, ok := item.(map[string]any)
		if !ok {
			r.fail(field, "must be an object like {\"slack\": \"handle\", \"github\": \"login\"}, got %s", kind(item))
			continue
		}
		r.unknownKeys(obj, field, userKeys)
		var u User
		u.SlackID, _ = r.str(obj, "slackId", field+".slackId")
		u.Slack, _ = r.str(obj, "slack", field+".slack")
		u.Email, _ = r.str(obj, "email", field+".email")
		u.GitHub, _ = r.str(obj, "github", field+".github")
		u.SlackID = strings.TrimSpace(u.SlackID)
		u.Slack = strings.TrimPrefix(strings.TrimSpace(u.Slack), "@")
		u.Email = strings.TrimSpace(u.Email)
		u.GitHub = strings.TrimPrefix(strings.TrimSpace(u.GitHub), "@")
		if u.GitHub != "" && !githubLogin.MatchString(u.GitHub) {
			r.fail(field+".github", "%q is not a GitHub login", truncate(u.GitHub, 40))
		}
		users = append(users, u)
	}
	return users
}

func (r *reader) labels(v any, field string) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fail(field, "must be an array of strings, got %s", kind(v))
		return nil
	}
	if len(list) > MaxLabels {
		r.fail(field, "has %d labels, more than the %d allowed", len(list), MaxLabels)
		return nil
	}
	var labels []string
	for i, item := range list {
		s, ok := item.(string)
		switch {
		case !ok:
			r.fail(fmt.Sprintf("%s[%d]", field, i), "must be a string, got %s", kind(item))
		case strings.TrimSpace(s) == "":
			r.fail(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		case strings.ContainsRune(s, 0):
			r.fail(fmt.Sprintf("%s[%d]", field, i), "must not contain NUL characters")
		case utf8.RuneCountInString(s) > MaxLabelRunes || strings.Contains(s, ","):
			r.fail(fmt.Sprintf("%s[%d]", field, i), "must be at most %d characters without commas", MaxLabelRunes)
		default:
			labels = append(labels, strings.TrimSpace(s))
		}
	}
	return labels
}

func (r *reader) duration(obj map[string]any, key string) time.Duration {
	s, present := r.str(obj, key, key)
	if !present || s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxDuration {
		r.fail(key, "must be a positive duration up to 168h, like \"15m\" or \"1h\", got %q", truncate(s, 40))
		return 0
	}
	return d
}

// required checks the fields each type needs.
func (r *reader) required(a *Alarm) {
	if a.Type.NeedsUsers() {
		if len(a.Users) == 0 && !r.failed["users"] {
			r.fail("users", "%s alarms need at least one user", a.Type)
		}
		for i, u := range a.Users {
			if u.SlackID == "" && u.Slack == "" && u.Email == "" {
				r.fail(fmt.Sprintf("users[%d]", i), "needs slackId, slack or email to be reached on Slack")
			}
		}
		if strings.TrimSpace(a.SlackMessage) == "" && !r.failed["body.slack.message"] {
			r.fail("body.slack.message", "is required for %s alarms", a.Type)
		}
	}
	if a.Type.OpensIssue() && strings.TrimSpace(a.GitHubTitle) == "" && !r.failed["body.github.title"] {
		r.fail("body.github.title", "is required for %s alarms", a.Type)
	}
	if a.Type == HighPriority && strings.TrimSpace(a.PagerDutyTitle) == "" && !r.failed["body.pagerduty.title"] {
		r.fail("body.pagerduty.title", "is required for high-priority alarms")
	}
	if a.Type != SelfService && (a.RemindAfter > 0 || a.EscalateAfter > 0) {
		r.warnings = append(r.warnings, "remindAfter and escalateAfter apply to self-service alarms only; ignored")
		a.RemindAfter, a.EscalateAfter = 0, 0
	}
}

func (r *reader) lengths(a *Alarm) {
	a.GitHubTitle = strings.TrimSpace(a.GitHubTitle)
	type limit struct {
		field string
		value string
		max   int
	}
	limits := []limit{
		{"body.github.title", a.GitHubTitle, MaxTitleRunes},
		{"body.github.body", a.GitHubBody, MaxBodyRunes},
		{"body.pagerduty.title", a.PagerDutyTitle, MaxSummaryRunes},
		{"body.pagerduty.body", a.PagerDutyBody, MaxBodyRunes},
		{"body.slack.message", a.SlackMessage, MaxBodyRunes},
		{"body.slack.prompt", a.SlackPrompt, MaxPromptRunes},
		{"body.slack.actions.yes", a.Actions.Yes, MaxShortRunes},
		{"body.slack.actions.no", a.Actions.No, MaxShortRunes},
		{"body.slack.actions.wrong", a.Actions.Wrong, MaxShortRunes},
		{"body.slack.actions.yes_response", a.Actions.YesResponse, MaxPromptRunes},
		{"body.slack.actions.no_response", a.Actions.NoResponse, MaxPromptRunes},
	}
	for i, u := range a.Users {
		limits = append(limits,
			limit{fmt.Sprintf("users[%d].slackId", i), u.SlackID, MaxShortRunes},
			limit{fmt.Sprintf("users[%d].slack", i), u.Slack, MaxShortRunes},
			limit{fmt.Sprintf("users[%d].email", i), u.Email, MaxShortRunes})
	}
	for _, f := range limits {
		if n := utf8.RuneCountInString(f.value); n > f.max {
			r.fail(f.field, "is %d characters, more than the %d allowed", n, f.max)
		}
	}
}

func applyDefaults(a *Alarm) {
	for _, d := range []struct {
		field *string
		value string
	}{
		{&a.SlackPrompt, DefaultPrompt},
		{&a.Actions.Yes, DefaultYes},
		{&a.Actions.No, DefaultNo},
		{&a.Actions.YesResponse, DefaultYesResponse},
		{&a.Actions.NoResponse, DefaultNoResponse},
	} {
		if strings.TrimSpace(*d.field) == "" {
			*d.field = d.value
		}
	}
}

// object returns obj[key] as an object; a missing or null key is an empty object, anything else a
// problem.
func (r *reader) object(obj map[string]any, key, field string) map[string]any {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(field, "must be an object, got %s", kind(v))
		return nil
	}
	return m
}

// str returns obj[key] as a string and whether the key was present (null counts as absent).
func (r *reader) str(obj map[string]any, key, field string) (string, bool) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		r.fail(field, "must be a string, got %s", kind(v))
		return "", true
	}
	if strings.ContainsRune(s, 0) {
		r.fail(field, "must not contain NUL characters")
		return "", true
	}
	return s, true
}

// dotName reports a repository name of "." or "..", which GitHub doesn't allow and which would
// change the meaning of an API path.
func dotName(repo string) bool {
	name := repo[strings.LastIndex(repo, "/")+1:]
	return strings.Trim(name, ".") == ""
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
