package fakegithub

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// jwtSkew is the clock skew allowed on a JWT's iat.
const jwtSkew = 60 * time.Second

// maxJWTLifetime is how far in the future github.com lets a JWT's exp be.
const maxJWTLifetime = 10 * time.Minute

// appState holds the registered GitHub Apps. It is guarded by Server.mu.
type appState struct {
	apps     map[int64]*appRec
	tokenTTL time.Duration
	minted   int
}

// appRec is one GitHub App: its public key and its installations.
type appRec struct {
	id            int64
	slug          string
	pub           *rsa.PublicKey
	installations map[int64]bool
}

// SetApp registers the GitHub App appID, whose JWTs are verified with pub,
// and installationID as one of its installations. Calling it again for the
// same app replaces the key and adds the installation.
func (s *Server) SetApp(appID int64, installationID int64, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps.apps[appID]
	if a == nil {
		a = &appRec{id: appID, slug: "dispatch", installations: map[int64]bool{}}
		s.apps.apps[appID] = a
	}
	a.pub = pub
	a.installations[installationID] = true
}

// SetAppSlug names the app appID (registered with SetApp; default "dispatch"): GET /app answers
// the slug and, as on github.com, everything its installation tokens write is authored by its bot
// account "slug[bot]".
func (s *Server) SetAppSlug(appID int64, slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps.apps[appID]; a != nil {
		a.slug = slug
	}
}

// handleApp serves GET /app: the app that signed the request's JWT.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) {
	jwt, ok := bearer(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRateHeadersLocked(w.Header(), "core")
	if !ok {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	app, msg := s.verifyJWTLocked(jwt, s.now())
	if app == nil {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": app.id, "slug": app.slug, "name": app.slug, "owner": s.userJSONLocked("acme")})
}

// SetInstallationTokenTTL sets the lifetime of installation tokens minted
// from now on (default one hour, as on github.com).
func (s *Server) SetInstallationTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps.tokenTTL = d
}

// TokensMinted reports how many installation tokens were issued.
func (s *Server) TokensMinted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps.minted
}

// MintedTokens returns every installation token issued, so a test can look for them where they must
// not be (a log).
func (s *Server) MintedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok, info := range s.tokens {
		if info.installation {
			out = append(out, tok)
		}
	}
	return out
}

// handleMintToken serves POST /app/installations/{installation_id}/access_tokens.
// It needs "Authorization: Bearer <JWT>" signed by the app; the token it
// returns is accepted like Options.Token until it expires.
func (s *Server) handleMintToken(w http.ResponseWriter, r *http.Request) {
	jwt, ok := bearer(r)
	if !ok {
		s.writeRateHeaders(w, "core")
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRateHeadersLocked(w.Header(), "core")
	now := s.now()
	app, msg := s.verifyJWTLocked(jwt, now)
	if app == nil {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("installation_id"), 10, 64)
	if err != nil || !app.installations[id] {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	tok := "ghs_" + rand.Text()
	expires := now.Add(s.apps.tokenTTL)
	s.tokens[tok] = tokenInfo{login: app.slug + "[bot]", installation: true, expires: expires}
	s.apps.minted++
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":                tok,
		"expires_at":           githubTime(expires),
		"permissions":          map[string]string{"issues": "write", "metadata": "read"},
		"repository_selection": "all",
	})
}

// jwtClaims are the claims github.com reads from an app JWT. iss may be the
// numeric app id or its decimal string.
type jwtClaims struct {
	Iss json.RawMessage `json:"iss"`
	Iat *float64        `json:"iat"`
	Exp *float64        `json:"exp"`
}

// verifyJWTLocked checks an RS256 JWT against the registered apps and
// returns the app that signed it, or nil and github.com's message saying
// why not. s.mu must be held.
func (s *Server) verifyJWTLocked(tok string, now time.Time) (*appRec, string) {
	const errDecode = "A JSON web token could not be decoded"
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errDecode
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims jwtClaims
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		return nil, errDecode
	}
	if hdr.Alg != "RS256" {
		return nil, errDecode
	}
	iss := strings.Trim(string(claims.Iss), `"`)
	appID, err := strconv.ParseInt(iss, 10, 64)
	app := s.apps.apps[appID]
	if err != nil || app == nil || app.pub == nil {
		return nil, "'Issuer' claim ('iss') must be an Integer"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errDecode
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(app.pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, errDecode
	}
	if claims.Iat == nil || time.Unix(int64(*claims.Iat), 0).After(now.Add(jwtSkew)) {
		return nil, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if claims.Exp == nil || !time.Unix(int64(*claims.Exp), 0).After(now) {
		return nil, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	if time.Unix(int64(*claims.Exp), 0).After(now.Add(maxJWTLifetime + jwtSkew)) {
		return nil, "'Expiration time' claim ('exp') is too far in the future"
	}
	return app, ""
}

// decodeSegment decodes one base64url (unpadded) JSON segment of a JWT.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
