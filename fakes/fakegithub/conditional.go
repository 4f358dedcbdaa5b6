package fakegithub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// writeConditionalLocked answers a GET of a single issue or a listing as github.com does: 200 with
// the JSON of v, an ETag (a weak validator computed from the body) and, when modified is set,
// Last-Modified; or 304 Not Modified with no body when If-None-Match names that ETag or, without
// If-None-Match, If-Modified-Since is not before modified (RFC 9110 §13.2.2). A 304 is not counted
// against the primary limit: its request is refunded. s.mu must be held.
func (s *Server) writeConditionalLocked(w http.ResponseWriter, r *http.Request, v any, modified time.Time) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "fakegithub: encoding failed")
		return
	}
	sum := sha256.Sum256(b)
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if !modified.IsZero() {
		h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
	if notModified(r, etag, modified) {
		s.notModified++
		s.refundLocked(h, resourceOf(r.URL.Path))
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// notModified evaluates If-None-Match (weak comparison, a list or "*"), else If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || modified.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	return err == nil && !modified.Truncate(time.Second).After(t)
}

// NotModifiedCalls reports how many conditional requests were answered 304 Not Modified (and
// so not counted against the primary limit).
func (s *Server) NotModifiedCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notModified
}
