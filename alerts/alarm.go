// Package alerts is dispatch's domain: the alarm message spec, its decoding and validation, and what
// each alarm type asks for. It imports no vendor SDK; the rest of dispatch depends on it, never the
// other way round.
package alerts

import (
	"strings"
	"time"
)

// Type is an alarm type as named by the message spec.
type Type string

// The alarm types. Aliases ("high", "low") are folded into these by ParseType.
const (
	SelfService  Type = "self-service"
	Broadcast    Type = "broadcast"
	HighPriority Type = "high-priority"
	LowPriority  Type = "low-priority"
	Nag          Type = "nag"
)

// Types lists every alarm type, in the order the spec presents them.
var Types = []Type{SelfService, Broadcast, HighPriority, LowPriority, Nag}

// ParseType maps a message's "type" to a Type, folding the aliases "high" and "low". It reports false
// for anything else (matching is exact: the original was case-sensitive too).
func ParseType(s string) (Type, bool) {
	switch s {
	case "high":
		return HighPriority, true
	case "low":
		return LowPriority, true
	}
	for _, t := range Types {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// OpensIssue reports whether alarms of this type keep an audit issue on GitHub.
func (t Type) OpensIssue() bool { return t != HighPriority }

// NeedsUsers reports whether alarms of this type are delivered to people on Slack.
func (t Type) NeedsUsers() bool { return t == SelfService || t == Broadcast || t == Nag }

// User is one recipient of an alarm. Any of the fields may be empty; SlackID wins over Slack, which
// wins over Email, when the user is resolved on Slack.
type User struct {
	SlackID string // a Slack user ID, used as is
	Slack   string // a Slack user ID, an email address or a handle (username, or a display name only one user has)
	Email   string // an email address known to Slack
	GitHub  string // a GitHub login, without "@"
}

// Label is the best short human name for the user, for logs and notices.
func (u User) Label() string {
	for _, s := range []string{u.SlackID, u.Slack, u.Email, u.GitHub} {
		if s != "" {
			return s
		}
	}
	return "(unnamed user)"
}

// Actions are the self-service button labels and the replies shown after an answer.
type Actions struct {
	Yes, No                 string
	Wrong                   string // label of the "not about me" button; "" means no such button
	YesResponse, NoResponse string
}

// Defaults applied when a self-service alarm leaves them out.
const (
	DefaultPrompt      = "Was this you?"
	DefaultYes         = "Yes, this was me"
	DefaultNo          = "No, this wasn't me"
	DefaultYesResponse = "Thanks for confirming. The alarm is closed."
	DefaultNoResponse  = "Thanks. This has been escalated to the on-call responder."
)

// Alarm is a decoded, validated alarm message. Optional text fields hold their defaults after Decode.
type Alarm struct {
	Type      Type
	RequestID string // as sent; empty when the message had none (see ID)
	// GitHubRepo is the override as sent: "" (use the default), "name" or "owner/name".
	GitHubRepo         string
	PagerDutyServiceID string
	Retrigger          bool
	Users              []User

	GitHubTitle  string
	GitHubBody   string
	GitHubLabels []string

	SlackMessage string
	SlackPrompt  string
	Actions      Actions

	PagerDutyTitle string
	PagerDutyBody  string

	RemindAfter, EscalateAfter time.Duration

	// MFA is the message's "mfa": whether a Yes needs a Duo push; nil leaves it to DISPATCH_MFA.
	MFA *bool
	// Reason is which answers ask for the user's words in a modal: ReasonNo ("" too, the
	// default), ReasonYes, ReasonBoth or ReasonNone.
	Reason string
}

// The values of "reason".
const (
	ReasonNo   = "no"
	ReasonYes  = "yes"
	ReasonBoth = "both"
	ReasonNone = "none"
)

// ID is the alarm's identity for logs and de-duplication: the message's requestId when it has one,
// else "msg-" and the given delivery identity (an SNS or SQS message id), which stays the same when
// a message is delivered again, so a redelivery is recognised as the same alarm.
func (a *Alarm) ID(deliveryID string) string {
	if a.RequestID != "" {
		return a.RequestID
	}
	return "msg-" + deliveryID
}

// Repo resolves the alarm's githubRepo override against the default repository ("owner/name").
func (a *Alarm) Repo(defaultRepo string) string {
	switch {
	case a.GitHubRepo == "":
		return defaultRepo
	case strings.Contains(a.GitHubRepo, "/"):
		return a.GitHubRepo
	}
	owner, _, _ := strings.Cut(defaultRepo, "/")
	return owner + "/" + a.GitHubRepo
}

// Summary is a one-line description of the alarm for notices and incidents.
func (a *Alarm) Summary() string {
	switch {
	case a.PagerDutyTitle != "" && a.Type == HighPriority:
		return a.PagerDutyTitle
	case a.GitHubTitle != "":
		return a.GitHubTitle
	case a.SlackMessage != "":
		return a.SlackMessage
	}
	return a.PagerDutyTitle
}
