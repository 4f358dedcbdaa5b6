// Package fakeduo is a fake of Duo's Auth API v2 (duo.com/docs/authapi), as strict as Duo where
// dispatch depends on it: it serves TLS with its own certificate (clients must trust CertPEM, as
// DUO_CA_FILE makes dispatch do), checks every request's signature the way Duo does and answers
// 401 on a bad one, and serves /auth/v2/preauth, /auth/v2/auth (factor=push, async) and
// /auth/v2/auth_status. A test decides each user's state (enrolled, with or without a device that
// can push) and what their next push does (approve, deny, time out, or wait for Resolve), and
// inspects the pushes sent. Over its request limit (see DefaultRateLimit) it answers 429.
package fakeduo

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Duo publishes no per-method request limit for the Auth API: its "Duo Rate Limits" page
// (duo.com/docs/rate-limits, last updated January 24th, 2025) lists object limits and SSO limits
// only, and says Duo may rate limit any service, answering 429 ("Too Many Requests", code 42901),
// which Duo's clients retry with backoff from 1 s to 32 s. So the fake enforces a conservative limit
// of its own by default, per integration key: DefaultRateLimit requests in any DefaultRateWindow
// (5 a second; dispatch's 1 s status polls of a few pushes at once stay well inside it).
const (
	DefaultRateLimit  = 50
	DefaultRateWindow = 10 * time.Second
)

// Outcome is what a user does with a push.
type Outcome string

// The outcomes a test can give a push.
const (
	Approve Outcome = "approve" // the user taps Approve
	Deny    Outcome = "deny"    // the user taps Deny
	Timeout Outcome = "timeout" // nobody answers: Duo gives up (result deny, status timeout)
	Wait    Outcome = "wait"    // stays waiting until Resolve
)

// User is one Duo user as a test seeds it.
type User struct {
	Name string // the Duo username (what dispatch sends as username)
	// Unenrolled users get preauth result "enroll", as Duo's new-user policy "require enrollment"
	// answers for a user it doesn't know. An unknown username is unenrolled too.
	Unenrolled bool
	// Denied users get preauth result "deny" (a locked-out user, or a policy that denies them).
	Denied bool
	// NoPush users are enrolled with a device that can't take a push (an SMS-only phone).
	NoPush bool
	// Outcome is what each push to this user does; "" means Approve.
	Outcome Outcome
	// VerifiedCode, when set, is the Verified Duo Push code shown while the push waits, for
	// clients that said client_supports_verified_push.
	VerifiedCode string
}

// Push is a push a client asked for.
type Push struct {
	Username string
	Txid     string
	Pushinfo url.Values // decoded from the pushinfo parameter
	Type     string
	Device   string
	At       time.Time
	Outcome  Outcome // what it did (or will do)
	Verified bool    // the preauth before it said client_supports_verified_push
}

// Server is a running fake Duo.
type Server struct {
	IKey, SKey string

	ts *httptest.Server

	mu        sync.Mutex
	users     map[string]*User
	pushes    []*Push
	byTxid    map[string]*Push
	verified  map[string]bool // username → last preauth said client_supports_verified_push
	requests  int
	badSigs   int
	down      bool
	statusHit map[string]int

	rateLimit   int
	rateWindow  time.Duration
	recent      []time.Time // requests counted against the limit, oldest first
	rateLimited int
}

// New starts a fake Duo with the given integration and secret keys.
func New(ikey, skey string) *Server {
	s := &Server{IKey: ikey, SKey: skey, users: map[string]*User{}, byTxid: map[string]*Push{}, verified: map[string]bool{}, statusHit: map[string]int{},
		rateLimit: DefaultRateLimit, rateWindow: DefaultRateWindow}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Host is the API hostname to configure (DUO_API_HOST): "127.0.0.1:PORT".
func (s *Server) Host() string { return strings.TrimPrefix(s.ts.URL, "https://") }

// CertPEM is the server's certificate in PEM, the CA a client must trust (DUO_CA_FILE).
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// SetUser adds or replaces a user.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Name] = &u
}

// SetDown makes every request fail with 503 (Duo unreachable as far as a client can tell) while on.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetRateLimit allows n requests in any window (the default is DefaultRateLimit in
// DefaultRateWindow); more are answered 429 as Duo does.
func (s *Server) SetRateLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit, s.rateWindow, s.recent = n, window, nil
}

// RateLimited counts requests answered 429.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// overLimitLocked counts a request against the limit, reporting whether it is over.
func (s *Server) overLimitLocked(now time.Time) bool {
	i := 0
	for i < len(s.recent) && now.Sub(s.recent[i]) >= s.rateWindow {
		i++
	}
	s.recent = s.recent[i:]
	if len(s.recent) >= s.rateLimit {
		s.rateLimited++
		return true
	}
	s.recent = append(s.recent, now)
	return false
}

// Pushes returns the pushes sent so far, oldest first.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Push, len(s.pushes))
	for i, p := range s.pushes {
		out[i] = *p
	}
	return out
}

// BadSignatures counts requests refused with 401.
func (s *Server) BadSignatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badSigs
}

// Resolve decides a waiting push.
func (s *Server) Resolve(txid string, o Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byTxid[txid]
	if !ok {
		return fmt.Errorf("fakeduo: no push %s", txid)
	}
	p.Outcome = o
	return nil
}

type failure struct {
	status  int
	code    int
	message string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.requests++
	s.mu.Unlock()
	if down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeFail(w, failure{400, 40002, "Invalid request parameters"})
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	if f, ok := s.checkSignature(r, params); !ok {
		s.mu.Lock()
		s.badSigs++
		s.mu.Unlock()
		writeFail(w, f)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overLimitLocked(time.Now()) {
		writeFail(w, failure{http.StatusTooManyRequests, 42901, "Too Many Requests"})
		return
	}
	switch {
	case r.URL.Path == "/auth/v2/preauth" && r.Method == http.MethodPost:
		s.preauth(w, params)
	case r.URL.Path == "/auth/v2/auth" && r.Method == http.MethodPost:
		s.auth(w, params)
	case r.URL.Path == "/auth/v2/auth_status" && r.Method == http.MethodGet:
		s.authStatus(w, params)
	default:
		writeFail(w, failure{404, 40401, "Resource not found"})
	}
}

// checkSignature verifies HTTP Basic ikey:hex(HMAC-SHA512(skey, canon)) over Date, method, lower
// host, path and the sorted, %20-encoded parameters, and a Date within 5 minutes of now.
func (s *Server) checkSignature(r *http.Request, params url.Values) (failure, bool) {
	bad := failure{401, 40103, "Invalid signature in request credentials"}
	user, sig, ok := r.BasicAuth()
	if !ok {
		return failure{401, 40101, "Missing request credentials"}, false
	}
	if user != s.IKey {
		return failure{401, 40102, "Invalid integration key in request credentials"}, false
	}
	date := r.Header.Get("Date")
	t, err := time.Parse(time.RFC1123Z, date)
	if err != nil || time.Since(t).Abs() > 5*time.Minute {
		return failure{401, 40105, "Request has an invalid or expired date"}, false
	}
	canon := strings.Join([]string{date, strings.ToUpper(r.Method), strings.ToLower(r.Host), r.URL.Path, canonParams(params)}, "\n")
	m := hmac.New(sha512.New, []byte(s.SKey))
	m.Write([]byte(canon))
	if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig)) {
		return bad, false
	}
	return failure{}, true
}

// canonParams is Duo's parameter canonicalisation, written out here rather than borrowed from
// the client, so a client that signs differently is caught.
func canonParams(p url.Values) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), p[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func (s *Server) preauth(w http.ResponseWriter, p url.Values) {
	name := p.Get("username")
	if name == "" {
		writeFail(w, failure{400, 40002, "Missing required request parameters: username"})
		return
	}
	s.verified[name] = p.Get("client_supports_verified_push") == "1"
	u := s.users[name]
	switch {
	case u == nil || u.Unenrolled:
		writeOK(w, map[string]any{"result": "enroll", "status_msg": "Enroll an authentication device to proceed", "enroll_portal_url": "https://fake.duo/portal"})
	case u.Denied:
		writeOK(w, map[string]any{"result": "deny", "status_msg": "Your account is disabled"})
	default:
		caps := []string{"auto", "push", "sms", "phone", "mobile_otp"}
		if u.NoPush {
			caps = []string{"sms", "phone"}
		}
		writeOK(w, map[string]any{"result": "auth", "status_msg": "Account is active", "devices": []any{map[string]any{
			"device": "DPFZRS9FB0D46QFTM891", "type": "phone", "name": "phone1", "number": "XXX-XXX-0100", "capabilities": caps,
		}}})
	}
}

func (s *Server) auth(w http.ResponseWriter, p url.Values) {
	name := p.Get("username")
	u := s.users[name]
	switch {
	case p.Get("factor") != "push":
		writeFail(w, failure{400, 40002, "Invalid request parameters: factor (this fake serves push only)"})
		return
	case p.Get("async") != "1":
		writeFail(w, failure{400, 40002, "Invalid request parameters: async (this fake serves async only)"})
		return
	case u == nil || u.Unenrolled || u.Denied || u.NoPush:
		writeFail(w, failure{400, 40002, "Invalid request parameters: username has no device that can push"})
		return
	}
	pushinfo, err := url.ParseQuery(p.Get("pushinfo"))
	if err != nil {
		writeFail(w, failure{400, 40002, "Invalid request parameters: pushinfo"})
		return
	}
	o := u.Outcome
	if o == "" {
		o = Approve
	}
	txid := fmt.Sprintf("tx-%04d-%s", len(s.pushes)+1, hex.EncodeToString([]byte(name))[:min(8, 2*len(name))])
	push := &Push{Username: name, Txid: txid, Pushinfo: pushinfo, Type: p.Get("type"), Device: p.Get("device"), At: time.Now(), Outcome: o, Verified: s.verified[name]}
	s.pushes = append(s.pushes, push)
	s.byTxid[txid] = push
	writeOK(w, map[string]any{"txid": txid})
}

func (s *Server) authStatus(w http.ResponseWriter, p url.Values) {
	push, ok := s.byTxid[p.Get("txid")]
	if !ok {
		writeFail(w, failure{400, 40002, "Invalid request parameters: txid"})
		return
	}
	s.statusHit[push.Txid]++
	// The first status answer is always "waiting" (the push is on its way to the phone), so a
	// client that shows a waiting state has one to show.
	if s.statusHit[push.Txid] == 1 || push.Outcome == Wait {
		msg := "Pushed a login request to your device..."
		u := s.users[push.Username]
		if push.Verified && u != nil && u.VerifiedCode != "" {
			msg = "Enter the code " + u.VerifiedCode + " in Duo Mobile to approve"
		}
		writeOK(w, map[string]any{"result": "waiting", "status": "pushed", "status_msg": msg})
		return
	}
	switch push.Outcome {
	case Approve:
		writeOK(w, map[string]any{"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})
	case Deny:
		writeOK(w, map[string]any{"result": "deny", "status": "deny", "status_msg": "Login request denied."})
	case Timeout:
		writeOK(w, map[string]any{"result": "deny", "status": "timeout", "status_msg": "Login timed out."})
	}
}

func writeOK(w http.ResponseWriter, resp any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"stat": "OK", "response": resp})
}

func writeFail(w http.ResponseWriter, f failure) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"stat": "FAIL", "code": f.code, "message": f.message})
}
