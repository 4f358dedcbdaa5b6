package githubapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/retry"
)

// TokenTransport authenticates every request to baseURL's host with a personal or fine-grained
// access token ("Authorization: Bearer token") and sends it through next (http.DefaultTransport when
// nil). A request to any other host (a redirect the client follows) leaves without the token: Go
// strips Authorization on a cross-host redirect only when it was set on the original request, and a
// RoundTripper sets it again on every hop.
func TokenTransport(baseURL, token string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	host := hostOf(baseURL)
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		if sameHost(r.URL, host) {
			r.Header.Set("Authorization", "Bearer "+token)
		} else {
			r.Header.Del("Authorization")
		}
		return next.RoundTrip(r)
	})
}

// hostOf is the host (with port) of a base URL, https://api.github.com/ when empty.
func hostOf(baseURL string) string {
	if baseURL == "" {
		baseURL = "https://api.github.com/"
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// sameHost: u is on host, the only place a credential may go.
func sameHost(u *url.URL, host string) bool {
	return host != "" && strings.EqualFold(u.Host, host)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const (
	// refreshMargin: a token is replaced once less than this remains, so a request never leaves with
	// a token that expires on the way (GitHub's tokens live an hour).
	refreshMargin = 5 * time.Minute
	// mintTimeout bounds one mint. The mint outlives the request that started it (others may be
	// waiting for it), so it cannot borrow that request's deadline.
	mintTimeout = 30 * time.Second
)

// AppAuth is an http.RoundTripper that authenticates as one installation of a GitHub App. It
// mints installation tokens with a JWT signed by the app's private key, caches them, and replaces
// them before they expire; concurrent requests share one mint. It is safe for concurrent use.
type AppAuth struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	mintURL               string
	baseURL               string // ends in "/"
	next                  http.RoundTripper
	host                  string       // the only host the tokens go to
	onSecret              func(string) // told every JWT and token minted (SetOnSecret)

	now    func() time.Time // tests move time
	margin time.Duration    // tests shorten it

	mu        sync.Mutex
	token     string
	expires   time.Time
	refreshAt time.Time
	flight    *mint // the mint in progress, if any
}

// mint is one token request that any number of callers wait for.
type mint struct {
	done    chan struct{}
	token   string
	expires time.Time
	err     error
}

// NewAppAuth makes an AppAuth for installationID of app appID. privateKeyPEM is the app's private
// key as GitHub hands it out (PKCS#1, "RSA PRIVATE KEY") or converted to PKCS#8 ("PRIVATE KEY").
// baseURL is the REST base (https://api.github.com/ when empty, a GitHub Enterprise /api/v3/ too);
// requests go through next (http.DefaultTransport when nil). It makes no request. Its errors name
// the setting at fault and never quote the key.
func NewAppAuth(appID, installationID int64, privateKeyPEM []byte, baseURL string, next http.RoundTripper) (*AppAuth, error) {
	if appID <= 0 {
		return nil, fmt.Errorf("GITHUB_APP_ID must be a positive number, not %d", appID)
	}
	if installationID <= 0 {
		return nil, fmt.Errorf("GITHUB_APP_INSTALLATION_ID must be a positive number, not %d", installationID)
	}
	key, err := parseAppKey(privateKeyPEM)
	if err != nil {
		return nil, err
	}
	if baseURL == "" {
		baseURL = "https://api.github.com/"
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	if u, err := url.Parse(baseURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("github base url %q is not an absolute URL", baseURL)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &AppAuth{
		appID: appID, installationID: installationID, key: key, next: next,
		mintURL: fmt.Sprintf("%sapp/installations/%d/access_tokens", baseURL, installationID), baseURL: baseURL,
		host: hostOf(baseURL), now: time.Now, margin: refreshMargin,
	}, nil
}

// SetOnSecret has f told every credential a run mints (each app JWT and installation token) before
// it is used, so the log filter can blank it (bot.Secrets.Add). Call it before the first request.
func (a *AppAuth) SetOnSecret(f func(secret string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onSecret = f
}

// tell passes a freshly minted credential to the SetOnSecret callback.
func (a *AppAuth) tell(secret string) {
	a.mu.Lock()
	f := a.onSecret
	a.mu.Unlock()
	if f != nil && secret != "" {
		f(secret)
	}
}

// parseAppKey reads the first private key block of a PEM file. Its errors describe the block, never
// its content.
func parseAppKey(data []byte) (*rsa.PrivateKey, error) {
	const setting = "GITHUB_APP_PRIVATE_KEY"
	// Secret stores and .env files often flatten the key to one line with literal \n.
	if !bytes.Contains(data, []byte("\n")) && bytes.Contains(data, []byte(`\n`)) {
		data = bytes.ReplaceAll(data, []byte(`\n`), []byte("\n"))
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM private key (expected the .pem file downloaded from the app's settings, an RSA PRIVATE KEY block)", setting)
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue // a certificate or a public key next to the private key
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
			return nil, fmt.Errorf("%s is encrypted; give the unencrypted key GitHub issued", setting)
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: the RSA PRIVATE KEY block is damaged: %w", setting, err)
			}
			return key, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: the PRIVATE KEY block is damaged: %w", setting, err)
			}
			key, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s is a %T key; GitHub Apps sign with RSA", setting, k)
			}
			return key, nil
		default:
			return nil, fmt.Errorf("%s is a %q block; GitHub Apps sign with RSA (RSA PRIVATE KEY or PRIVATE KEY)", setting, block.Type)
		}
	}
}

// RoundTrip sends r with the installation token, minting one first when there is none or it is
// about to expire. A 401 answer makes it mint once more and resend r when its body can be replayed.
// Mint failures come back as the error, marked retry.Permanent when retrying cannot help (the app
// or its key rejected, the installation unknown); they never contain the key or a token.
func (a *AppAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if !sameHost(r.URL, a.host) {
		// A redirect to another host: it gets no credential, and no mint on a 401.
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
		return a.next.RoundTrip(r)
	}
	tok, err := a.tokenFor(r.Context())
	if err != nil {
		if r.Body != nil {
			r.Body.Close() // the RoundTripper contract, even on errors
		}
		return nil, err
	}
	resp, err := a.send(r, r.Body, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// Revoked, or expired earlier than our clock thinks: drop it so no one else uses it.
	a.invalidate(tok)
	body := r.Body
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return resp, nil
		}
		if body, err = r.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if tok, err = a.tokenFor(r.Context()); err != nil {
		// Says more than the 401 would: the app was uninstalled, or its key revoked.
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	return a.send(r, body, tok)
}

func (a *AppAuth) send(r *http.Request, body io.ReadCloser, tok string) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok)
	return a.next.RoundTrip(r)
}

// tokenFor returns a token good for a while, waiting for (or starting) the one mint in flight.
func (a *AppAuth) tokenFor(ctx context.Context) (string, error) {
	a.mu.Lock()
	if a.token != "" && a.now().Before(a.refreshAt) {
		tok := a.token
		a.mu.Unlock()
		return tok, nil
	}
	m := a.flight
	if m == nil {
		m = &mint{done: make(chan struct{})}
		a.flight = m
		go a.run(context.WithoutCancel(ctx), m)
	}
	a.mu.Unlock()

	select {
	case <-m.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if m.err == nil {
		return m.token, nil
	}
	// A failed refresh need not fail requests while the old token still works.
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires) {
		return a.token, nil
	}
	return "", m.err
}

func (a *AppAuth) run(ctx context.Context, m *mint) {
	ctx, cancel := context.WithTimeout(ctx, mintTimeout)
	defer cancel()
	m.token, m.expires, m.err = a.mint(ctx)

	a.mu.Lock()
	if m.err == nil {
		now := a.now()
		// Short-lived tokens (or a skewed clock) would otherwise be replaced on every request.
		margin := min(a.margin, m.expires.Sub(now)/2)
		a.token, a.expires, a.refreshAt = m.token, m.expires, m.expires.Add(-margin)
	}
	a.flight = nil
	a.mu.Unlock()
	close(m.done)
}

// invalidate forgets tok, unless it was already replaced.
func (a *AppAuth) invalidate(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == tok {
		a.token = ""
	}
}

// mint asks GitHub for an installation token.
func (a *AppAuth) mint(ctx context.Context) (string, time.Time, error) {
	jwt, err := a.jwt(a.now())
	if err != nil {
		return "", time.Time{}, retry.Permanent(fmt.Errorf("github app auth: sign the app JWT: %w", err))
	}
	a.tell(jwt)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.mintURL, http.NoBody)
	if err != nil {
		return "", time.Time{}, retry.Permanent(fmt.Errorf("github app auth: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github app auth: mint installation token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github app auth: mint installation token: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", time.Time{}, a.mintError(resp, body, jwt)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" || out.ExpiresAt.IsZero() {
		return "", time.Time{}, fmt.Errorf("github app auth: mint installation token: status %d without a token and expiry", resp.StatusCode)
	}
	a.tell(out.Token)
	return out.Token, out.ExpiresAt, nil
}

// mintError classifies a refused mint: rate limits and 5xx are transient, the rest is a setting
// to fix.
func (a *AppAuth) mintError(resp *http.Response, body []byte, jwt string) error {
	var ge struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &ge)
	msg := strings.ReplaceAll(ge.Message, jwt, "[redacted]")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	code := resp.StatusCode
	err := fmt.Errorf("github app auth: mint installation token: status %d: %s", code, msg)
	switch {
	case code == http.StatusUnauthorized:
		hint := ""
		if strings.Contains(msg, "('iat')") || strings.Contains(msg, "('exp')") {
			hint = "; check this machine's clock"
		}
		return retry.Permanent(fmt.Errorf("github app auth: GITHUB_APP_ID / GITHUB_APP_PRIVATE_KEY rejected (app %d): %s%s", a.appID, msg, hint))
	case code == http.StatusNotFound:
		return retry.Permanent(fmt.Errorf("github app auth: installation %d not found for app %d (check GITHUB_APP_INSTALLATION_ID and that the app is installed)", a.installationID, a.appID))
	case code == http.StatusTooManyRequests || (code == http.StatusForbidden && resp.Header.Get("X-RateLimit-Remaining") == "0"):
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
			return retry.After(err, time.Duration(s)*time.Second)
		}
		if reset, perr := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); perr == nil {
			return retry.After(err, time.Until(time.Unix(reset, 0))+time.Second)
		}
		return err
	case code >= 500:
		return err
	default: // a suspended installation (403), a malformed request (422)
		return retry.Permanent(err)
	}
}

// jwt signs the app's RS256 JWT: backdated a minute for clock drift, valid 9 of GitHub's 10
// allowed minutes.
func (a *AppAuth) jwt(now time.Time) (string, error) {
	claims, err := json.Marshal(struct {
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
		Iss string `json:"iss"`
	}{now.Add(-time.Minute).Unix(), now.Add(9 * time.Minute).Unix(), strconv.FormatInt(a.appID, 10)})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}
