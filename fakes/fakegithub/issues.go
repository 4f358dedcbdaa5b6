package fakegithub

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// issueRequest is the body of POST and PATCH /repos/{o}/{r}/issues[/{n}].
// Pointers tell "absent" (leave alone) from "empty" (clear).
type issueRequest struct {
	Title       *string   `json:"title"`
	Body        *string   `json:"body"`
	State       *string   `json:"state"`
	StateReason *string   `json:"state_reason"`
	Labels      *[]string `json:"labels"`
	Assignee    *string   `json:"assignee"`
	Assignees   *[]string `json:"assignees"`
}

// lookupIssueLocked resolves {owner}/{repo} and {issue_number}, answering 404
// itself when either is unknown. s.mu must be held.
func (s *Server) lookupIssueLocked(w http.ResponseWriter, r *http.Request) (*repoRec, *issueRec, bool) {
	rp := s.lookupRepoLocked(w, r)
	if rp == nil {
		return nil, nil, false
	}
	n, err := strconv.Atoi(r.PathValue("issue_number"))
	is := rp.issues[n]
	if err != nil || is == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, nil, false
	}
	return rp, is, true
}

// lookupRepoLocked resolves {owner}/{repo}, answering 404 itself when the
// repository is unknown. s.mu must be held.
func (s *Server) lookupRepoLocked(w http.ResponseWriter, r *http.Request) *repoRec {
	rp := s.repoLocked(r.PathValue("owner") + "/" + r.PathValue("repo"))
	if rp == nil {
		writeError(w, http.StatusNotFound, "Not Found")
	}
	return rp
}

// validBody reports a body github.com would accept, answering 422 otherwise.
func validBody(w http.ResponseWriter, resource string, body *string) bool {
	if body != nil && len([]rune(*body)) > maxBodyChars {
		writeValidation(w, resource, "body", "custom",
			fmt.Sprintf("body is too long (maximum is %d characters)", maxBodyChars))
		return false
	}
	return true
}

func (s *Server) handleCreateIssue(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Title == nil || strings.TrimSpace(*req.Title) == "" {
		writeValidation(w, "Issue", "title", "missing_field", "")
		return
	}
	if !validBody(w, "Issue", req.Body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.lookupRepoLocked(w, r)
	if rp == nil {
		return
	}
	now := s.now()
	is := &issueRec{Issue: Issue{
		Number:    rp.nextNumber,
		Title:     *req.Title,
		State:     "open",
		Author:    tokenFrom(r.Context()).login,
		CreatedAt: now,
		UpdatedAt: now,
	}}
	rp.nextNumber++
	s.nextID++
	is.id = s.nextID
	if req.Body != nil {
		is.Body = *req.Body
	}
	if req.Labels != nil {
		is.Labels = s.canonicalLabelsLocked(rp, *req.Labels)
		s.recordLabelChangesLocked(is, nil, is.Labels, is.Author)
	}
	is.Assignees = assigneesOf(req)
	rp.issues[is.Number] = is
	body := s.issueJSONLocked(rp, is)
	w.Header().Set("Location", body["url"].(string))
	writeJSON(w, http.StatusCreated, body)
}

// assigneesOf merges the legacy "assignee" field into "assignees".
func assigneesOf(req issueRequest) []string {
	var out []string
	if req.Assignees != nil {
		out = append(out, *req.Assignees...)
	}
	if req.Assignee != nil && *req.Assignee != "" && !containsFold(out, *req.Assignee) {
		out = append(out, *req.Assignee)
	}
	return out
}

func (s *Server) handleGetIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	s.writeConditionalLocked(w, r, s.issueJSONLocked(rp, is), is.UpdatedAt)
}

func (s *Server) handleEditIssue(w http.ResponseWriter, r *http.Request) {
	var req issueRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Title != nil && strings.TrimSpace(*req.Title) == "" {
		writeValidation(w, "Issue", "title", "missing_field", "")
		return
	}
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		writeValidation(w, "Issue", "state", "invalid", "")
		return
	}
	if req.StateReason != nil {
		switch *req.StateReason {
		case "completed", "not_planned", "reopened":
		default:
			writeValidation(w, "Issue", "state_reason", "invalid", "")
			return
		}
	}
	if !validBody(w, "Issue", req.Body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	now := s.now()
	if req.Title != nil {
		is.Title = *req.Title
	}
	if req.Body != nil {
		is.Body = *req.Body
	}
	actor := tokenFrom(r.Context()).login
	if req.Labels != nil {
		before := is.Labels
		is.Labels = s.canonicalLabelsLocked(rp, *req.Labels)
		s.recordLabelChangesLocked(is, before, is.Labels, actor)
	}
	if req.Assignees != nil || req.Assignee != nil {
		is.Assignees = assigneesOf(req)
	}
	if event := applyStateLocked(is, req.State, req.StateReason, actor, now); event != "" {
		s.recordEventLocked(is, event, actor, "")
	}
	is.UpdatedAt = now
	writeJSON(w, http.StatusOK, s.issueJSONLocked(rp, is))
}

// applyStateLocked follows github.com: closing without a reason means
// "completed", reopening sets "reopened" and clears closed_at, and a reason
// alone on a closed issue changes just the reason. It returns the event to
// record: "closed", "reopened" or "". s.mu must be held.
func applyStateLocked(is *issueRec, state, reason *string, actor string, now time.Time) string {
	switch {
	case state != nil && *state == "closed" && is.State != "closed":
		is.State = "closed"
		is.StateReason = "completed"
		if reason != nil && *reason != "reopened" {
			is.StateReason = *reason
		}
		is.ClosedAt = &now
		is.closedBy = actor
		return "closed"
	case state != nil && *state == "open" && is.State != "open":
		is.State = "open"
		is.StateReason = "reopened"
		is.ClosedAt = nil
		is.closedBy = ""
		return "reopened"
	case reason != nil && is.State == "closed" && *reason != "reopened":
		is.StateReason = *reason
	}
	return ""
}
