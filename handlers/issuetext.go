package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/dispatch-oss/dispatch/alerts"
)

// marker is hidden in every issue dispatch opens: which alarm made it, for which user. A redelivered
// alarm finds its own issue by it and picks up where the first delivery stopped.
type marker struct {
	Alarm  string
	User   string // "" for an alarm-wide issue
	Slack  string // the addressed Slack user ID of a self-service issue
	Ticket string // a self-service issue's encoded Ticket (without its number), for the App Home buttons
}

// markerPattern matches the marker only at the very end of a body: where dispatch appends it. Alarm
// text in a body is made inert (it can't open a comment), so a trailing marker is dispatch's.
var markerPattern = regexp.MustCompile(`<!-- dispatch alarm=(\S*) user=(\S*)(?: slack=(\S*))?(?: ticket=(\S*))? -->\s*$`)

func (m marker) String() string {
	s := "<!-- dispatch alarm=" + url.QueryEscape(m.Alarm) + " user=" + url.QueryEscape(m.User)
	if m.Slack != "" {
		s += " slack=" + url.QueryEscape(m.Slack)
	}
	if m.Ticket != "" {
		s += " ticket=" + m.Ticket // base64url: no spaces, nothing to escape
	}
	return s + " -->"
}

// findMarker reads the marker dispatch appends at the very end of an issue body; a marker anywhere
// else is not dispatch's. Callers read it only from issues dispatch opened (ownIssues, checkIssue).
func findMarker(body string) (marker, bool) {
	m := markerPattern.FindStringSubmatch(body)
	if m == nil {
		return marker{}, false
	}
	var mk marker
	var err error
	if mk.Alarm, err = url.QueryUnescape(m[1]); err != nil {
		return marker{}, false
	}
	if mk.User, err = url.QueryUnescape(m[2]); err != nil {
		return marker{}, false
	}
	mk.Slack, _ = url.QueryUnescape(m[3])
	mk.Ticket = m[4]
	return mk, true
}

// mention is how an issue names who the alarm concerns: the user's GitHub login, else the default
// user or team.
func (r *Router) mention(u *alerts.User) string {
	login := ""
	if u != nil {
		login = u.GitHub
	}
	if login == "" {
		login = r.cfg.DefaultGitHubUser
	}
	if login == "" {
		return ""
	}
	return "@" + login
}

func (r *Router) lowPriorityIssue(a *alerts.Alarm, id string) NewIssue {
	var first *alerts.User
	if len(a.Users) > 0 {
		first = &a.Users[0]
	}
	return NewIssue{
		Title:  a.GitHubTitle,
		Body:   issueBody(a, id, r.mention(first), ""),
		Labels: r.issueLabels(a),
	}
}

func (r *Router) selfServiceIssue(a *alerts.Alarm, id string, rc recipient) NewIssue {
	who := r.mention(&rc.User)
	asked := fmt.Sprintf("Asked on Slack: %q", inert(a.SlackPrompt))
	if rc.SlackID == "" {
		asked = fmt.Sprintf("Could not be asked on Slack: %s could not be found.", inert(rc.User.Label()))
	}
	return NewIssue{Title: a.GitHubTitle, Body: issueBody(a, id, who, asked), Labels: r.issueLabels(a)}
}

func (r *Router) broadcastIssue(a *alerts.Alarm, id string, rcs []recipient) NewIssue {
	var names []string
	for _, rc := range rcs {
		n := inert(rc.User.Label())
		if rc.User.GitHub != "" {
			n = "@" + rc.User.GitHub
		}
		if rc.SlackID == "" {
			n += " (not found on Slack)"
		}
		names = append(names, n)
	}
	sent := "Broadcast on Slack to: " + strings.Join(names, ", ")
	return NewIssue{Title: a.GitHubTitle, Body: issueBody(a, id, "", sent), Labels: r.issueLabels(a)}
}

func (r *Router) nagIssue(a *alerts.Alarm, id string, rcs []recipient) NewIssue {
	var first *alerts.User
	if len(rcs) > 0 {
		first = &rcs[0].User
	}
	return NewIssue{Title: a.GitHubTitle, Body: issueBody(a, id, r.mention(first), "Nagging on Slack until this issue is closed."), Labels: r.issueLabels(a)}
}

// issueBody lays out an issue: the alarm's text made inert, then dispatch's own line with the
// mention it writes itself. note is dispatch's text, any alarm text in it already inert.
func issueBody(a *alerts.Alarm, id, mention, note string) string {
	var b strings.Builder
	b.WriteString(inert(strings.TrimSpace(a.GitHubBody)))
	b.WriteString("\n\n---\n")
	if mention != "" {
		fmt.Fprintf(&b, "For %s. ", mention)
	}
	if note != "" {
		b.WriteString(note + " ")
	}
	fmt.Fprintf(&b, "\nRaised by dispatch · type `%s` · alarm `%s`", a.Type, id)
	return strings.TrimSpace(b.String())
}

// issueLabels are dispatch's label, dispatch:test on a signed /dispatch test alarm, and the alarm's
// own labels except any of dispatch's (Handle warns of those).
func (r *Router) issueLabels(a *alerts.Alarm) []string {
	labels := []string{LabelDispatch}
	if r.isTest(a) {
		labels = append(labels, LabelTest)
	}
	for _, l := range a.GitHubLabels {
		if !ownLabel(l) {
			labels = append(labels, l)
		}
	}
	return labels
}

// isTest reports whether the alarm is a /dispatch test alarm: the very alarm SampleAlarm made, which
// its requestId's signature covers whole.
func (r *Router) isTest(a *alerts.Alarm) bool { return isSample(r.cfg.TaskKeys, a) }

// digest is a short stable hash of its parts.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}
