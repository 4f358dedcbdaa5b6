package fakegithub

import (
	"fmt"
	"net/http"
)

// commentRequest is the body of POST /repos/{o}/{r}/issues/{n}/comments.
type commentRequest struct {
	Body *string `json:"body"`
}

// handleCreateComment adds a comment and, as on github.com, bumps the
// issue's updated_at and comment count.
func (s *Server) handleCreateComment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Body == nil || *req.Body == "" {
		writeValidation(w, "IssueComment", "body", "missing_field", "")
		return
	}
	if !validBody(w, "IssueComment", req.Body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	now := s.now()
	s.nextID++
	c := Comment{ID: s.nextID, Body: *req.Body, Author: tokenFrom(r.Context()).login, CreatedAt: now}
	is.Comments = append(is.Comments, c)
	is.UpdatedAt = now
	body := s.commentJSONLocked(rp, is, c)
	w.Header().Set("Location", body["url"].(string))
	writeJSON(w, http.StatusCreated, body)
}

// handleListComments lists an issue's comments oldest first, paginated like
// the issue list.
func (s *Server) handleListComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	p := parsePage(r.URL.Query(), len(is.Comments))
	start, end := p.bounds(len(is.Comments))
	out := make([]map[string]any, 0, end-start)
	for _, c := range is.Comments[start:end] {
		out = append(out, s.commentJSONLocked(rp, is, c))
	}
	s.setLinkHeader(w, r, p)
	writeJSON(w, http.StatusOK, out)
}

// commentJSONLocked renders an issue comment. s.mu must be held.
func (s *Server) commentJSONLocked(rp *repoRec, is *issueRec, c Comment) map[string]any {
	return map[string]any{
		"id":                 c.ID,
		"node_id":            fmt.Sprintf("IC_%d", c.ID),
		"body":               c.Body,
		"user":               s.userJSONLocked(c.Author),
		"created_at":         githubTime(c.CreatedAt),
		"updated_at":         githubTime(c.CreatedAt),
		"author_association": "MEMBER",
		"url":                fmt.Sprintf("%srepos/%s/issues/comments/%d", s.baseURL, rp.fullName, c.ID),
		"issue_url":          fmt.Sprintf("%srepos/%s/issues/%d", s.baseURL, rp.fullName, is.Number),
		"html_url": fmt.Sprintf("https://github.com/%s/issues/%d#issuecomment-%d",
			rp.fullName, is.Number, c.ID),
	}
}
