package fakegithub

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Issue is a snapshot of one issue held by the fake. Values returned by the
// inspection methods are deep copies: changing them does not change the fake.
type Issue struct {
	Number      int
	Title       string
	Body        string
	State       string // "open" or "closed"
	StateReason string // "", "completed", "not_planned" or "reopened"
	Labels      []string
	Assignees   []string
	Comments    []Comment
	Author      string // login of the user who opened it
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ClosedAt    *time.Time
	// PullRequest makes it a pull request (SeedIssue only): listed by GET /issues, as on
	// github.com, with a "pull_request" object, and found by search only with is:pr.
	PullRequest bool
}

// Comment is one comment on an issue.
type Comment struct {
	ID        int64
	Body      string
	Author    string
	CreatedAt time.Time
}

// clone returns a deep copy, so callers never share slices with the store.
func (is Issue) clone() Issue {
	out := is
	out.Labels = slices.Clone(is.Labels)
	out.Assignees = slices.Clone(is.Assignees)
	out.Comments = slices.Clone(is.Comments)
	if is.ClosedAt != nil {
		t := *is.ClosedAt
		out.ClosedAt = &t
	}
	return out
}

// issueRec is the stored form of an issue: the public snapshot plus the
// identifiers GitHub exposes on the wire.
type issueRec struct {
	Issue
	id       int64
	closedBy string
	events   []eventRec
}

// repoRec is one repository and its issues. Owner and repository names are
// matched case-insensitively, as on github.com.
type repoRec struct {
	id       int64
	fullName string // canonical "owner/name" as given to AddRepo
	// labels maps a lower-cased label name to the label as first created;
	// GitHub label names are case-insensitive.
	labels     map[string]labelRec
	issues     map[int]*issueRec
	nextNumber int
}

// maxBodyChars is github.com's limit on issue and comment bodies.
const maxBodyChars = 65536

func repoKey(fullName string) string { return strings.ToLower(fullName) }

// repoLocked returns the repository named "owner/name", or nil. s.mu must be held.
func (s *Server) repoLocked(fullName string) *repoRec {
	return s.repos[repoKey(fullName)]
}

// addRepoLocked creates the repository if it does not exist yet. s.mu must be held.
func (s *Server) addRepoLocked(fullName string) *repoRec {
	if rp := s.repoLocked(fullName); rp != nil {
		return rp
	}
	s.nextID++
	rp := &repoRec{
		id:         s.nextID,
		fullName:   fullName,
		labels:     map[string]labelRec{},
		issues:     map[int]*issueRec{},
		nextNumber: 1,
	}
	s.repos[repoKey(fullName)] = rp
	return rp
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// githubTime formats t the way the REST API does: UTC, whole seconds.
func githubTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func optionalTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return githubTime(*t)
}

func optionalString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userJSONLocked renders a user object; ids are stable per login. s.mu must be held.
func (s *Server) userJSONLocked(login string) map[string]any {
	id, ok := s.userIDs[login]
	if !ok {
		s.nextID++
		id = s.nextID
		s.userIDs[login] = id
	}
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{
		"login":      login,
		"id":         id,
		"node_id":    fmt.Sprintf("U_%d", id),
		"type":       typ,
		"site_admin": false,
		"url":        s.baseURL + "users/" + login,
		"html_url":   "https://github.com/" + login,
	}
}

// issueJSONLocked renders an issue the way GET /repos/{o}/{r}/issues/{n}
// does, with "pull_request" for a pull request. s.mu must be held.
func (s *Server) issueJSONLocked(rp *repoRec, is *issueRec) map[string]any {
	api := fmt.Sprintf("%srepos/%s/issues/%d", s.baseURL, rp.fullName, is.Number)
	assignees := make([]map[string]any, 0, len(is.Assignees))
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userJSONLocked(a))
	}
	var assignee any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	var closedBy any
	if is.closedBy != "" && is.State == "closed" {
		closedBy = s.userJSONLocked(is.closedBy)
	}
	out := map[string]any{
		"id":                 is.id,
		"node_id":            fmt.Sprintf("I_%d", is.id),
		"number":             is.Number,
		"title":              is.Title,
		"body":               optionalString(is.Body),
		"state":              is.State,
		"state_reason":       optionalString(is.StateReason),
		"locked":             false,
		"labels":             s.labelsJSONLocked(rp, is.Labels),
		"user":               s.userJSONLocked(is.Author),
		"assignee":           assignee,
		"assignees":          assignees,
		"comments":           len(is.Comments),
		"created_at":         githubTime(is.CreatedAt),
		"updated_at":         githubTime(is.UpdatedAt),
		"closed_at":          optionalTime(is.ClosedAt),
		"closed_by":          closedBy,
		"author_association": "MEMBER",
		"url":                api,
		"repository_url":     s.baseURL + "repos/" + rp.fullName,
		"comments_url":       api + "/comments",
		"events_url":         api + "/events",
		"labels_url":         api + "/labels{/name}",
		"html_url":           fmt.Sprintf("https://github.com/%s/issues/%d", rp.fullName, is.Number),
	}
	if is.PullRequest {
		out["html_url"] = fmt.Sprintf("https://github.com/%s/pull/%d", rp.fullName, is.Number)
		out["pull_request"] = map[string]any{
			"url":      fmt.Sprintf("%srepos/%s/pulls/%d", s.baseURL, rp.fullName, is.Number),
			"html_url": out["html_url"],
		}
	}
	return out
}
