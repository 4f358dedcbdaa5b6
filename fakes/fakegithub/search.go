package fakegithub

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// maxSearchResults is how far github.com lets search results be paged.
const maxSearchResults = 1000

// maxSearchText is github.com's limit on a query's free text (qualifiers
// not included).
const maxSearchText = 256

// SetSearchLag hides issues created less than d ago from GET /search/issues,
// like github.com's eventually consistent search index. Default 0 (visible
// at once). Edits to older issues are visible to search at once.
func (s *Server) SetSearchLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searchLag = d
}

// searchQuery is a parsed q parameter.
type searchQuery struct {
	repos   []string // any of (repo: qualifiers are ORed)
	preds   []func(repoName string, is *issueRec) bool
	terms   []textTerm
	in      []string // "title", "body", "comments"; empty: all three
	textLen int
}

// textTerm is a word or "quoted phrase", matched case-insensitively as a substring.
type textTerm struct {
	text   string
	negate bool
}

// tokenize splits q on white space outside double quotes; quotes stay in the tokens.
func tokenize(q string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case unicode.IsSpace(r) && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func unquote(s string) string {
	return strings.Trim(s, `"`)
}

// parseSearch understands repo:, is:issue|open|closed|pr, type:, state:,
// label: (quoted too), author:, assignee:, in:title|body|comments (comma
// lists), "-" negation of qualifiers and words, quoted phrases and words.
// As on github.com, an unknown qualifier is searched for as text.
func parseSearch(q string) searchQuery {
	sq := searchQuery{}
	for _, tok := range tokenize(q) {
		negate := false
		if len(tok) > 1 && tok[0] == '-' {
			negate, tok = true, tok[1:]
		}
		key, val, isQual := strings.Cut(tok, ":")
		isQual = isQual && !strings.HasPrefix(key, `"`) && val != ""
		val = unquote(val)
		add := func(p func(string, *issueRec) bool) {
			if negate {
				sq.preds = append(sq.preds, func(r string, is *issueRec) bool { return !p(r, is) })
				return
			}
			sq.preds = append(sq.preds, p)
		}
		switch key = strings.ToLower(key); {
		case isQual && key == "repo" && !negate:
			sq.repos = append(sq.repos, val)
		case isQual && key == "repo":
			add(func(r string, _ *issueRec) bool { return strings.EqualFold(r, val) })
		case isQual && (key == "is" || key == "type" || key == "state"):
			switch v := strings.ToLower(val); v {
			case "open", "closed":
				add(func(_ string, is *issueRec) bool { return is.State == v })
			case "pr", "pull-request":
				add(func(_ string, is *issueRec) bool { return is.PullRequest })
			case "issue":
				add(func(_ string, is *issueRec) bool { return !is.PullRequest })
			}
		case isQual && key == "label":
			add(func(_ string, is *issueRec) bool { return containsFold(is.Labels, val) })
		case isQual && key == "author":
			add(func(_ string, is *issueRec) bool { return strings.EqualFold(is.Author, val) })
		case isQual && key == "assignee":
			add(func(_ string, is *issueRec) bool { return containsFold(is.Assignees, val) })
		case isQual && key == "in":
			for f := range strings.SplitSeq(strings.ToLower(val), ",") {
				sq.in = append(sq.in, f)
			}
		default:
			text := unquote(tok)
			if text == "" {
				continue
			}
			sq.textLen += len([]rune(text))
			sq.terms = append(sq.terms, textTerm{text: strings.ToLower(text), negate: negate})
		}
	}
	return sq
}

// matches reports whether is in repository repoName satisfies the query.
func (sq searchQuery) matches(repoName string, is *issueRec) bool {
	if len(sq.repos) > 0 && !slices.ContainsFunc(sq.repos, func(r string) bool { return strings.EqualFold(r, repoName) }) {
		return false
	}
	for _, p := range sq.preds {
		if !p(repoName, is) {
			return false
		}
	}
	if len(sq.terms) == 0 {
		return true
	}
	in := sq.in
	if len(in) == 0 {
		in = []string{"title", "body", "comments"}
	}
	var hay []string
	for _, f := range in {
		switch f {
		case "title":
			hay = append(hay, strings.ToLower(is.Title))
		case "body":
			hay = append(hay, strings.ToLower(is.Body))
		case "comments":
			for _, c := range is.Comments {
				hay = append(hay, strings.ToLower(c.Body))
			}
		}
	}
	for _, t := range sq.terms {
		found := slices.ContainsFunc(hay, func(h string) bool { return strings.Contains(h, t.text) })
		if found == t.negate {
			return false
		}
	}
	return true
}

// handleSearchIssues serves GET /search/issues?q=…&sort=…&order=…&per_page=…&page=….
// Without sort, results are newest first (the fake has no relevance score).
// As on github.com, a repo: qualifier naming an unknown repository is a 422.
func (s *Server) handleSearchIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if strings.TrimSpace(q.Get("q")) == "" {
		writeValidation(w, "Search", "q", "missing", "")
		return
	}
	sq := parseSearch(q.Get("q"))
	if sq.textLen > maxSearchText {
		writeValidation(w, "Search", "q", "invalid", "The search is longer than 256 characters.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range sq.repos {
		if s.repoLocked(name) == nil {
			writeValidation(w, "Search", "q", "invalid", "The listed users and repositories cannot be searched "+
				"either because the resources do not exist or you do not have permission to view them.")
			return
		}
	}
	now := s.now()
	type hit struct {
		rp *repoRec
		is *issueRec
	}
	var hits []hit
	for _, rp := range s.repos {
		for _, is := range rp.issues {
			if s.searchLag > 0 && now.Sub(is.CreatedAt) < s.searchLag {
				continue
			}
			if sq.matches(rp.fullName, is) {
				hits = append(hits, hit{rp, is})
			}
		}
	}
	// Sort per repository key first so results are deterministic across repos.
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.rp.fullName, b.rp.fullName) })
	list := make([]*issueRec, len(hits))
	owner := make(map[*issueRec]*repoRec, len(hits))
	for i, h := range hits {
		list[i], owner[h.is] = h.is, h.rp
	}
	sortIssues(list, q.Get("sort"), q.Get("order"))

	p := parsePage(q, min(len(list), maxSearchResults))
	if (p.number-1)*p.perPage >= maxSearchResults {
		writeValidation(w, "Search", "q", "invalid", "Only the first 1000 search results are available")
		return
	}
	start, end := p.bounds(min(len(list), maxSearchResults))
	items := make([]map[string]any, 0, end-start)
	for _, is := range list[start:end] {
		items = append(items, s.issueJSONLocked(owner[is], is))
	}
	s.setLinkHeader(w, r, p)
	writeJSON(w, http.StatusOK, map[string]any{
		"total_count":        len(list),
		"incomplete_results": false,
		"items":              items,
	})
}
