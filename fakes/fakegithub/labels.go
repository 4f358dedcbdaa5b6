package fakegithub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// labelRec is a repository label.
type labelRec struct {
	id   int64
	name string
}

// canonicalLabelsLocked maps requested label names onto the repository's
// labels, creating the missing ones (as github.com does when issues are
// created or labelled) and dropping duplicates. Label names are
// case-insensitive; the spelling first used wins. s.mu must be held.
func (s *Server) canonicalLabelsLocked(rp *repoRec, names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		lr, ok := rp.labels[strings.ToLower(n)]
		if !ok {
			s.nextID++
			lr = labelRec{id: s.nextID, name: n}
			rp.labels[strings.ToLower(n)] = lr
		}
		if !containsFold(out, lr.name) {
			out = append(out, lr.name)
		}
	}
	return out
}

// labelJSONLocked renders a label object. s.mu must be held.
func (s *Server) labelJSONLocked(rp *repoRec, name string) map[string]any {
	lr := rp.labels[strings.ToLower(name)]
	return map[string]any{
		"id":          lr.id,
		"node_id":     fmt.Sprintf("LA_%d", lr.id),
		"url":         s.baseURL + "repos/" + rp.fullName + "/labels/" + lr.name,
		"name":        lr.name,
		"color":       "ededed",
		"default":     false,
		"description": nil,
	}
}

func (s *Server) labelsJSONLocked(rp *repoRec, names []string) []map[string]any {
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, s.labelJSONLocked(rp, n))
	}
	return out
}

// decodeLabelNames accepts every body github.com accepts for adding labels:
// a JSON array (what go-github v60's AddLabelsToIssue sends), {"labels":[…]},
// and either with {"name":…} objects instead of strings.
func decodeLabelNames(raw []byte) ([]string, bool) {
	var wrapped struct {
		Labels json.RawMessage `json:"labels"`
	}
	if trimmed := strings.TrimSpace(string(raw)); strings.HasPrefix(trimmed, "{") {
		if json.Unmarshal(raw, &wrapped) != nil || wrapped.Labels == nil {
			return nil, false
		}
		raw = wrapped.Labels
	}
	var names []string
	if json.Unmarshal(raw, &names) == nil {
		return names, true
	}
	var objs []struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &objs) != nil {
		return nil, false
	}
	for _, o := range objs {
		names = append(names, o.Name)
	}
	return names, true
}

// handleAddLabels adds labels to an issue, creating unknown ones on the
// repository, and answers the issue's labels.
func (s *Server) handleAddLabels(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if !decodeBody(w, r, &raw) {
		return
	}
	names, ok := decodeLabelNames(raw)
	if !ok {
		writeValidation(w, "Label", "labels", "invalid", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	before := is.Labels
	is.Labels = s.canonicalLabelsLocked(rp, append(slices.Clone(is.Labels), names...))
	s.recordLabelChangesLocked(is, before, is.Labels, tokenFrom(r.Context()).login)
	is.UpdatedAt = s.now()
	writeJSON(w, http.StatusOK, s.labelsJSONLocked(rp, is.Labels))
}

// handleRemoveLabel removes one label from an issue and answers the labels
// left; a label the issue does not carry is a 404 "Label does not exist".
func (s *Server) handleRemoveLabel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	i := slices.IndexFunc(is.Labels, func(l string) bool { return strings.EqualFold(l, name) })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Label does not exist")
		return
	}
	s.recordEventLocked(is, "unlabeled", tokenFrom(r.Context()).login, is.Labels[i])
	is.Labels = slices.Delete(is.Labels, i, i+1)
	is.UpdatedAt = s.now()
	writeJSON(w, http.StatusOK, s.labelsJSONLocked(rp, is.Labels))
}
