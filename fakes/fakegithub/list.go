package fakegithub

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// page is one page of a paginated listing.
type page struct {
	number  int // 1-based
	perPage int
	last    int // number of the last page; 0 when there is nothing to list
}

// parsePage reads per_page (default 30, at most 100) and page (default 1)
// as GitHub does, ignoring values it cannot parse.
func parsePage(q url.Values, total int) page {
	p := page{number: 1, perPage: 30}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		p.perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		p.number = n
	}
	p.last = (total + p.perPage - 1) / p.perPage
	return p
}

// bounds returns the slice indexes of the page within total items.
func (p page) bounds(total int) (int, int) {
	start := min((p.number-1)*p.perPage, total)
	return start, min(start+p.perPage, total)
}

// setLinkHeader writes a Link header with first/prev/next/last relations
// like github.com's; go-github fills Response.NextPage etc. from it.
func (s *Server) setLinkHeader(w http.ResponseWriter, r *http.Request, p page) {
	if p.last == 0 {
		return
	}
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(p.perPage))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`,
			strings.TrimSuffix(s.baseURL, "/"), r.URL.Path, q.Encode(), rel)
	}
	var parts []string
	if p.number > 1 {
		parts = append(parts, link(min(p.number-1, p.last), "prev"))
	}
	if p.number < p.last {
		parts = append(parts, link(p.number+1, "next"), link(p.last, "last"))
	}
	if p.number > 1 {
		parts = append(parts, link(1, "first"))
	}
	if len(parts) > 0 {
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
}

// sortIssues orders issues by created (default), updated or comments, desc
// (default) or asc; equal keys fall back to the issue number.
func sortIssues(list []*issueRec, key, direction string) {
	asc := direction == "asc"
	slices.SortStableFunc(list, func(a, b *issueRec) int {
		var c int
		switch key {
		case "updated":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case "comments":
			c = cmp.Compare(len(a.Comments), len(b.Comments))
		default:
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if c == 0 {
			c = cmp.Compare(a.Number, b.Number)
		}
		if asc {
			return c
		}
		return -c
	})
}

// hasAllLabels reports whether is carries every label in want (case-insensitive).
func hasAllLabels(is *issueRec, want []string) bool {
	for _, l := range want {
		if !containsFold(is.Labels, l) {
			return false
		}
	}
	return true
}

// parseSince accepts ISO 8601 timestamps (RFC 3339) and plain dates.
func parseSince(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// handleListIssues serves GET /repos/{o}/{r}/issues with state, labels,
// creator, assignee, sort, direction, since, per_page and page; pull requests
// are listed too, as on github.com. It answers conditional requests (see
// writeConditionalLocked): Last-Modified is the page's latest updated_at.
func (s *Server) handleListIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	if state != "open" && state != "closed" && state != "all" {
		writeValidation(w, "Issue", "state", "invalid", "")
		return
	}
	var labels []string
	if v := q.Get("labels"); v != "" {
		for l := range strings.SplitSeq(v, ",") {
			labels = append(labels, strings.TrimSpace(l))
		}
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, ok := parseSince(v)
		if !ok {
			writeValidation(w, "Issue", "since", "invalid", "")
			return
		}
		since = t
	}
	creator, assignee := q.Get("creator"), q.Get("assignee")

	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.lookupRepoLocked(w, r)
	if rp == nil {
		return
	}
	var matched []*issueRec
	for _, is := range rp.issues {
		switch {
		case state != "all" && is.State != state,
			!hasAllLabels(is, labels),
			// GitHub compares whole seconds.
			!since.IsZero() && is.UpdatedAt.Truncate(time.Second).Before(since),
			creator != "" && !strings.EqualFold(is.Author, creator),
			assignee == "none" && len(is.Assignees) > 0,
			assignee != "" && assignee != "*" && assignee != "none" && !containsFold(is.Assignees, assignee),
			assignee == "*" && len(is.Assignees) == 0:
			continue
		}
		matched = append(matched, is)
	}
	sortIssues(matched, q.Get("sort"), q.Get("direction"))
	p := parsePage(q, len(matched))
	start, end := p.bounds(len(matched))
	out := make([]map[string]any, 0, end-start)
	var modified time.Time
	for _, is := range matched[start:end] {
		out = append(out, s.issueJSONLocked(rp, is))
		if is.UpdatedAt.After(modified) {
			modified = is.UpdatedAt
		}
	}
	s.setLinkHeader(w, r, p)
	s.writeConditionalLocked(w, r, out, modified)
}
