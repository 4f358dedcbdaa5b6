package fakegithub

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Issues returns copies of the issues of repo ("owner/name"), ordered by
// number; nil if the repository is unknown.
func (s *Server) Issues(repo string) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(repo)
	if rp == nil {
		return nil
	}
	out := make([]Issue, 0, len(rp.issues))
	for _, n := range slices.Sorted(maps.Keys(rp.issues)) {
		out = append(out, rp.issues[n].clone())
	}
	return out
}

// Issue returns a copy of issue n of repo, and whether it exists.
func (s *Server) Issue(repo string, n int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(repo)
	if rp == nil || rp.issues[n] == nil {
		return Issue{}, false
	}
	return rp.issues[n].clone(), true
}

// IssueCount reports how many issues, open or closed, repo holds.
func (s *Server) IssueCount(repo string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(repo)
	if rp == nil {
		return 0
	}
	return len(rp.issues)
}

// Calls returns how many requests reached the server, keyed by "METHOD
// route" with GitHub's path parameter names, e.g. "POST
// /repos/{owner}/{repo}/issues" or "PATCH
// /repos/{owner}/{repo}/issues/{issue_number}". Every request counts,
// including those refused by authentication, rate limits or injected
// faults; a request matching no route is keyed by its method and raw path.
// Requests go-github refuses locally (after a rate-limit error) never
// arrive and are not counted.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ServiceTime reports how long the fake has spent answering requests, SetLatency's delay
// excluded: the share of a client's wait that is the fake's own work (encoding a page of 100
// issues takes milliseconds), which a benchmark of the client must not count against it.
func (s *Server) ServiceTime() time.Duration { return s.serviceTime.Total() }

// ContentCreatingCalls reports how many POST, PATCH, PUT and DELETE requests
// reached the server (refused ones included), excluding the GitHub App
// token endpoint: the requests github.com's secondary limit counts.
func (s *Server) ContentCreatingCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contentCalls
}

// Write is one authenticated content-creating request as the rate limits judged it (Writes).
type Write struct {
	At         time.Time     // when it was admitted or refused, by the fake's clock
	Token      string        // the credential it came with: replicas given their own tokens tell apart
	Refused    bool          // answered 403 by a primary or secondary limit
	RetryAfter time.Duration // the wait a refusal asked for
}

// Writes lists the authenticated content-creating requests the rate limits judged, oldest first:
// what a test measures windows and refusals on.
func (s *Server) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// recordWrite adds r to Writes.
func (s *Server) recordWrite(r *http.Request, admitted bool, retryAfter string) {
	tok := strings.TrimSpace(r.Header.Get("Authorization"))
	if _, after, ok := strings.Cut(tok, " "); ok {
		tok = after
	}
	secs, _ := strconv.Atoi(retryAfter)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, Write{At: s.now(), Token: tok, Refused: !admitted, RetryAfter: time.Duration(secs) * time.Second})
}

// SeedIssue stores is in repo directly, bypassing the API, rate limits and
// faults, and returns what was stored. The repository is added if needed.
// Zero fields get defaults: Number the next free number, State "open",
// Author the configured login, CreatedAt now, UpdatedAt CreatedAt, and
// ClosedAt (for a closed issue) UpdatedAt; StateReason "completed" for a
// closed issue; comments get fresh IDs and, when zero, CreatedAt. Labels are
// created on the repository. It panics if Number is already taken.
func (s *Server) SeedIssue(repo string, is Issue) Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.addRepoLocked(repo)
	is = is.clone()
	if is.Number == 0 {
		is.Number = rp.nextNumber
	}
	if rp.issues[is.Number] != nil {
		panic(fmt.Sprintf("fakegithub: SeedIssue: %s#%d already exists", repo, is.Number))
	}
	rp.nextNumber = max(rp.nextNumber, is.Number+1)
	if is.State == "" {
		is.State = "open"
	}
	if is.Author == "" {
		is.Author = s.login
	}
	if is.CreatedAt.IsZero() {
		is.CreatedAt = s.now()
	}
	if is.UpdatedAt.IsZero() {
		is.UpdatedAt = is.CreatedAt
	}
	var closedBy string
	if is.State == "closed" {
		closedBy = is.Author
		if is.ClosedAt == nil {
			t := is.UpdatedAt
			is.ClosedAt = &t
		}
		if is.StateReason == "" {
			is.StateReason = "completed"
		}
	}
	is.Labels = s.canonicalLabelsLocked(rp, is.Labels)
	for i := range is.Comments {
		s.nextID++
		is.Comments[i].ID = s.nextID
		if is.Comments[i].CreatedAt.IsZero() {
			is.Comments[i].CreatedAt = is.CreatedAt
		}
		if is.Comments[i].Author == "" {
			is.Comments[i].Author = s.login
		}
	}
	s.nextID++
	rp.issues[is.Number] = &issueRec{Issue: is, id: s.nextID, closedBy: closedBy}
	return is.clone()
}
