package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/retry"
)

// The trust boundaries of the handlers (docs/SECURITY.md): state on GitHub counts only where
// dispatch wrote it, alarm text can't write dispatch's markers or mentions, dedup keys of different
// kinds never meet, and alarms reach only the repositories the operator allowed.

// maxRetryAge bounds how long a transient failure is retried: an answer from its click, a deadline
// from when it came due. Far beyond an outage of hours; past it the work is dead-lettered with its
// reason and announced, instead of going round forever.
const maxRetryAge = 72 * time.Hour

// errForeignIssue: a ticket or task names an issue that is not the dispatch issue it was made for.
var errForeignIssue = errors.New("the issue is not the dispatch issue this button or task was made for")

// ours reports whether login is dispatch's own GitHub identity.
func (r *Router) ours(ctx context.Context, login string) (bool, error) {
	self, err := r.issues.Identity(ctx)
	if err != nil {
		return false, fmt.Errorf("github identity: %w", err)
	}
	return login != "" && strings.EqualFold(login, self), nil
}

// ownIssues keeps the issues dispatch opened itself: an issue anyone else opened, whatever its title,
// labels or markers, is no state of dispatch's.
func (r *Router) ownIssues(ctx context.Context, issues []Issue) ([]Issue, error) {
	var out []Issue
	for _, is := range issues {
		ok, err := r.ours(ctx, is.Author)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, is)
		}
	}
	return out, nil
}

// ownComments returns the bodies of the comments dispatch wrote on an issue, oldest first.
func (r *Router) ownComments(ctx context.Context, repo string, number int) ([]string, error) {
	comments, err := r.issues.Comments(ctx, repo, number)
	if err != nil {
		return nil, fmt.Errorf("list comments: %w", err)
	}
	var out []string
	for _, c := range comments {
		ok, err := r.ours(ctx, c.Author)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c.Body)
		}
	}
	return out, nil
}

// checkIssue verifies that is is the dispatch issue t was made for: opened by dispatch, its
// trailing marker naming t's alarm and user. Anything else is a permanent refusal. Labels are not
// asked for: anyone with triage rights can remove the dispatch label, and that must not refuse a
// No (nobody would be paged); what a triager can't change, the author and the body, says whose it is.
func (r *Router) checkIssue(ctx context.Context, t Ticket, is Issue) error {
	ok, err := r.ours(ctx, is.Author)
	if err != nil {
		return err
	}
	mk, found := findMarker(is.Body)
	switch {
	case !ok:
		return retry.Permanent(fmt.Errorf("%w: %s#%d was opened by %q", errForeignIssue, t.Repo, is.Number, is.Author))
	case !found || mk.Alarm != t.Alarm || mk.Slack != t.User || (t.Key != "" && mk.User != t.Key):
		return retry.Permanent(fmt.Errorf("%w: %s#%d belongs to another alarm or user", errForeignIssue, t.Repo, is.Number))
	}
	return nil
}

// RepoAllowed reports whether repo is one of allowed (GITHUB_ALLOWED_REPOS): "owner/name" or
// "owner/*", matched case-insensitively as GitHub matches names.
func RepoAllowed(allowed []string, repo string) bool {
	owner, _, _ := strings.Cut(repo, "/")
	for _, p := range allowed {
		if strings.EqualFold(p, repo) || (strings.HasSuffix(p, "/*") && strings.EqualFold(strings.TrimSuffix(p, "/*"), owner)) {
			return true
		}
	}
	return false
}

// repoAllowed applies RepoAllowed with the configured list, OWNER/* of DefaultRepo when empty.
func (r *Router) repoAllowed(repo string) bool {
	allowed := r.cfg.AllowedRepos
	if len(allowed) == 0 {
		owner, _, _ := strings.Cut(r.cfg.DefaultRepo, "/")
		allowed = []string{owner + "/*"}
	}
	return RepoAllowed(allowed, repo)
}

// checkRepo refuses an alarm naming a repository outside GITHUB_ALLOWED_REPOS, as bad input.
func (r *Router) checkRepo(repo string) error {
	if r.repoAllowed(repo) {
		return nil
	}
	return &alerts.InvalidError{Problems: []alerts.Problem{{Field: "githubRepo",
		Message: fmt.Sprintf("%q is not one of the repositories dispatch may write to (GITHUB_ALLOWED_REPOS)", repo)}}}
}

// Kinds of dedup key. Each is its own namespace: the fields are hashed length-prefixed, so no input
// of one kind can produce another kind's key.
const (
	keyHighPriority = "hp"       // a high-priority alarm with a requestId
	keyHighTitle    = "hp-title" // a high-priority alarm without one: its service and title
	keyEscalation   = "esc"      // a self-service alarm's escalation: its issue (repository, number), alarm and user
)

// dedupKey is a PagerDuty dedup key: "dispatch:KIND:" and the SHA-256 of the length-prefixed fields.
func dedupKey(kind string, fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return "dispatch:" + kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// mentionPattern finds GitHub @-mentions: an @ that starts a word (an e-mail address is left alone).
var mentionPattern = regexp.MustCompile(`(^|[^A-Za-z0-9_.+-])@([A-Za-z0-9])`)

// inert makes alarm text safe to put in an issue: it can't open or close an HTML comment (so it can't
// hide text, nor supply or displace dispatch's marker), and its @-mentions notify nobody (a zero-width
// joiner after the @). The mentions dispatch writes itself are added outside it.
func inert(s string) string {
	s = strings.NewReplacer("<!--", "&lt;!--", "-->", "--&gt;").Replace(s)
	return mentionPattern.ReplaceAllString(s, "$1@\u200d$2")
}
