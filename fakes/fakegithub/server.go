// Package fakegithub is an in-memory fake of the parts of the GitHub REST API
// that dispatch uses (issues, comments, labels, issue search, rate limits and
// GitHub App installation tokens), served over real HTTP on 127.0.0.1 so the
// real go-github client runs against it unchanged:
//
//	srv := fakegithub.New(fakegithub.Options{})
//	defer srv.Close()
//	srv.AddRepo("acme/alarms")
//	client := github.NewClient(nil).WithAuthToken("ghp_testtoken")
//	client.BaseURL, _ = url.Parse(srv.URL())
//
// The fake records every request and side effect for inspection, enforces
// github.com's primary and secondary rate limits, on by default (5,000 requests an hour; search 30
// a minute, counted apart; at most 100 requests in flight, 900 points a minute, 80
// content-creating requests a minute and 500 an hour), answers conditional requests (ETag,
// Last-Modified) with 304 Not Modified without counting them, and injects faults on demand. All state lives in the Server; any number of servers may
// run in one test binary. Every method is safe for concurrent use.
package fakegithub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/internal/conntrack"
	"github.com/dispatch-oss/dispatch/fakes/internal/servicetime"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Token is the accepted personal access token. Requests must send
	// "Authorization: token X" or "Authorization: Bearer X"; anything else is
	// answered 401 {"message":"Bad credentials"}. Default "ghp_testtoken".
	Token string
	// Login is the authenticated user's login, used as the author of
	// everything created through the API. Default "dispatch-bot".
	Login string
}

// Server is a running fake GitHub API. Create it with New and stop it with Close.
type Server struct {
	srv     *httptest.Server
	mux     *http.ServeMux
	baseURL string // ends in "/"
	login   string
	done    chan struct{}
	once    sync.Once
	conns   conntrack.Tracker

	mu     sync.Mutex
	now    func() time.Time
	nextID int64
	repos  map[string]*repoRec
	tokens map[string]tokenInfo
	// userIDs gives every login a stable numeric id on the wire.
	userIDs map[string]int64

	calls        map[string]int
	contentCalls int
	writes       []Write           // content-creating requests the limits judged, oldest first
	notModified  int               // conditional requests answered 304
	serviceTime  servicetime.Clock // spent answering, SetLatency's delay excluded

	searchLag time.Duration

	limits rateLimits
	faults faults
	apps   appState
}

// tokenInfo describes an accepted credential.
type tokenInfo struct {
	login        string
	installation bool      // minted for a GitHub App installation
	expires      time.Time // zero: never
}

// New starts a fake on an ephemeral port of 127.0.0.1. Call Close when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = "ghp_testtoken"
	}
	if opts.Login == "" {
		opts.Login = "dispatch-bot"
	}
	s := &Server{
		mux:     http.NewServeMux(),
		login:   opts.Login,
		done:    make(chan struct{}),
		now:     time.Now,
		repos:   map[string]*repoRec{},
		tokens:  map[string]tokenInfo{opts.Token: {login: opts.Login}},
		userIDs: map[string]int64{},
		calls:   map[string]int{},
		limits:  defaultRateLimits(),
		apps:    appState{apps: map[int64]*appRec{}, tokenTTL: time.Hour},
	}
	s.routes()
	// The base URL must be known before the first request can arrive.
	s.srv = httptest.NewUnstartedServer(s)
	s.conns.Track(s.srv.Config)
	s.baseURL = "http://" + s.srv.Listener.Addr().String() + "/"
	s.srv.Start()
	return s
}

// TCPConnections reports how many TCP connections clients have opened to the server: with
// keep-alive working, a handful; one per request when clients cannot reuse them.
func (s *Server) TCPConnections() int { return s.conns.Opened() }

// URL returns the base URL of the API, ending in "/", ready for
// go-github's client.BaseURL.
func (s *Server) URL() string { return s.baseURL }

// Close stops the server. Requests held by SetLatency are abandoned.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// AddRepo creates the repository "owner/name" with no issues. Requests for
// repositories that were never added are answered 404 {"message":"Not Found"}.
// Adding an existing repository does nothing.
func (s *Server) AddRepo(fullName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRepoLocked(fullName)
}

// AddToken makes tok an accepted credential for the configured login, with no
// expiry.
func (s *Server) AddToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = tokenInfo{login: s.login}
}

// AddUserToken makes tok an accepted credential of another account, login: what it creates (issues,
// comments) is authored by login, as when a repository's readers and commenters write to it.
func (s *Server) AddUserToken(tok, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = tokenInfo{login: login}
}

// SetClock replaces the clock used for timestamps, search lag, token expiry
// and rate-limit windows (default time.Now), so tests can move time forward
// without sleeping. Rate-limit reset headers are derived from it too, and
// go-github compares them with the real clock.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// routes registers every endpoint. Patterns double as the keys of Calls.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /user", s.handleUser)
	s.mux.HandleFunc("GET /rate_limit", s.handleRateLimit)
	s.mux.HandleFunc("GET /repos/{owner}/{repo}", s.handleRepo)
	s.mux.HandleFunc("POST /repos/{owner}/{repo}/issues", s.handleCreateIssue)
	s.mux.HandleFunc("GET /repos/{owner}/{repo}/issues", s.handleListIssues)
	s.mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{issue_number}", s.handleGetIssue)
	s.mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{issue_number}", s.handleEditIssue)
	s.mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", s.handleCreateComment)
	s.mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", s.handleListComments)
	s.mux.HandleFunc("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}", s.handleDeleteComment)
	s.mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{issue_number}/labels", s.handleAddLabels)
	s.mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{issue_number}/events", s.handleListEvents)
	s.mux.HandleFunc("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", s.handleRemoveLabel)
	s.mux.HandleFunc("GET /search/issues", s.handleSearchIssues)
	s.mux.HandleFunc("POST /app/installations/{installation_id}/access_tokens", s.handleMintToken)
	s.mux.HandleFunc("GET /app", s.handleApp)
}

// ServeHTTP records the call, then applies, in order: latency, the handler
// hook, injected failures, authentication, rate limits, and finally the
// endpoint. Unknown routes are answered 404 like unknown repositories.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	route := pattern
	if route == "" {
		route = r.Method + " " + r.URL.Path
	}
	// App endpoints authenticate with a JWT, checked by their handler, and
	// count neither against rate limits nor as content creation.
	appRoute := strings.HasPrefix(pattern, "POST /app/") || pattern == "GET /app"
	s.mu.Lock()
	s.calls[route]++
	if isContentCreating(r.Method) && !appRoute {
		s.contentCalls++
	}
	latency, hook := s.faults.latency, s.faults.hook
	if conntrack.First(r) {
		latency += s.faults.connectLatency
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	start := time.Now()
	defer s.serviceTime.Since(start)
	// The hook runs without the lock so it may call the inspection methods.
	if hook != nil {
		if status, fail := hook(r); fail {
			s.writeFault(w, status)
			return
		}
	}
	if loc, status, ok := s.takeRedirect(r); ok {
		http.Redirect(w, r, loc, status)
		return
	}
	if status, fail := s.takeFault(); fail {
		s.writeFault(w, status)
		return
	}

	if appRoute {
		s.mux.ServeHTTP(w, r)
		return
	}
	tok, ok := s.authenticate(r)
	if !ok {
		s.writeRateHeaders(w, resourceOf(r.URL.Path))
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	release, ok := s.admit(w, r)
	if isContentCreating(r.Method) {
		s.recordWrite(r, ok, w.Header().Get("Retry-After"))
	}
	if !ok {
		return
	}
	defer release()
	if pattern == "" {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	r = r.WithContext(withToken(r.Context(), tok))
	s.mux.ServeHTTP(w, r)
}

func isContentCreating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// authenticate returns the credential behind the Authorization header, if it
// is accepted and unexpired.
func (s *Server) authenticate(r *http.Request) (tokenInfo, bool) {
	tok, ok := bearer(r)
	if !ok {
		return tokenInfo{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ti, ok := s.tokens[tok]
	if !ok {
		return tokenInfo{}, false
	}
	if !ti.expires.IsZero() && !s.now().Before(ti.expires) {
		delete(s.tokens, tok)
		return tokenInfo{}, false
	}
	return ti, true
}

// bearer extracts X from "token X" or "Bearer X" (scheme case-insensitive).
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer")) {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	if tok.installation {
		// github.com refuses GET /user to installation tokens.
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	s.mu.Lock()
	u := s.userJSONLocked(tok.login)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(r.PathValue("owner") + "/" + r.PathValue("repo"))
	if rp == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	owner, name, _ := strings.Cut(rp.fullName, "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"id":             rp.id,
		"node_id":        fmt.Sprintf("R_%d", rp.id),
		"name":           name,
		"full_name":      rp.fullName,
		"owner":          s.userJSONLocked(owner),
		"private":        false,
		"html_url":       "https://github.com/" + rp.fullName,
		"url":            s.baseURL + "repos/" + rp.fullName,
		"default_branch": "main",
		"has_issues":     true,
		"archived":       false,
		"permissions":    map[string]bool{"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
	})
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"fakegithub: encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes GitHub's error shape {"message": msg, "documentation_url": ...}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
	})
}

// writeValidation writes a 422 "Validation Failed" with one error entry.
func writeValidation(w http.ResponseWriter, resource, field, code, msg string) {
	e := map[string]string{"resource": resource, "field": field, "code": code}
	if msg != "" {
		e["message"] = msg
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{e},
		"documentation_url": "https://docs.github.com/rest",
	})
}

// decodeBody decodes a JSON request body into v, answering 400 as GitHub
// does when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 25<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "Payload too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// tokenKey carries the authenticated tokenInfo in a request's context.
type tokenKey struct{}

func withToken(ctx context.Context, t tokenInfo) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// tokenFrom returns the credential ServeHTTP authenticated the request with.
func tokenFrom(ctx context.Context) tokenInfo {
	t, _ := ctx.Value(tokenKey{}).(tokenInfo)
	return t
}
