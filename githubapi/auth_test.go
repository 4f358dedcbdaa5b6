package githubapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

const (
	testRepo           = "acme/alarms"
	testAppID          = 4242
	testInstallationID = 777
	mintRoute          = "POST /app/installations/{installation_id}/access_tokens"
	createRoute        = "POST /repos/{owner}/{repo}/issues"
)

// clock is a manual clock shared by the fake and the AppAuth under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pkcs1PEM(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// appEnv is a fake GitHub with one app installation, and an AppAuth and Client pointed at it.
type appEnv struct {
	fake   *fakegithub.Server
	clock  *clock
	key    *rsa.PrivateKey
	auth   *AppAuth
	client *Client
}

// newAppEnv registers key's public half as the app's; the AppAuth signs with signer (key when nil)
// for installation inst (testInstallationID when 0). wrap, when set, sits between the go-github
// client and the AppAuth.
func newAppEnv(t *testing.T, signer *rsa.PrivateKey, inst int64, attempts int, wrap func(http.RoundTripper) http.RoundTripper) *appEnv {
	t.Helper()
	e := &appEnv{fake: fakegithub.New(fakegithub.Options{}), clock: &clock{t: time.Now().Truncate(time.Second)}, key: newKey(t)}
	t.Cleanup(e.fake.Close)
	e.fake.AddRepo(testRepo)
	e.fake.SetClock(e.clock.Now)
	e.fake.SetApp(testAppID, testInstallationID, &e.key.PublicKey)
	if signer == nil {
		signer = e.key
	}
	if inst == 0 {
		inst = testInstallationID
	}
	auth, err := NewAppAuth(testAppID, inst, pkcs1PEM(signer), e.fake.URL(), strictBodies{})
	if err != nil {
		t.Fatalf("NewAppAuth: %v", err)
	}
	auth.now = e.clock.Now
	e.auth = auth
	var rt http.RoundTripper = auth
	if wrap != nil {
		rt = wrap(auth)
	}
	e.client, err = New(Options{
		BaseURL: e.fake.URL(), HTTPClient: &http.Client{Transport: rt, Timeout: 20 * time.Second},
		Pace: []pace.Window{}, Retry: retry.Policy{Attempts: attempts, Initial: time.Millisecond, Max: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// strictBodies is a transport that refuses a body shorter than its Content-Length. net/http's own
// Transport quietly rewinds such a body with GetBody when nothing reached the wire yet, which would
// hide a replay that forgot to.
type strictBodies struct{}

func (strictBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return http.DefaultTransport.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil || (r.ContentLength > 0 && int64(len(b)) != r.ContentLength) {
		return nil, fmt.Errorf("request body: read %d of %d bytes (%v)", len(b), r.ContentLength, err)
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return http.DefaultTransport.RoundTrip(r)
}

func (e *appEnv) create(t *testing.T, title string) (handlers.Issue, error) {
	t.Helper()
	return e.client.Create(context.Background(), testRepo, handlers.NewIssue{Title: title, Body: "body of " + title})
}

func TestAppAuthCreatesIssueWithInstallationToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	e := newAppEnv(t, nil, 0, 1, nil)
	e.fake.SetHandlerHook(func(r *http.Request) (int, bool) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/repos/") {
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization"))
			mu.Unlock()
		}
		return 0, false
	})
	for _, title := range []string{"first", "second"} {
		if _, err := e.create(t, title); err != nil {
			t.Fatalf("create %s: %v", title, err)
		}
	}
	if n := e.fake.IssueCount(testRepo); n != 2 {
		t.Errorf("%d issues, want 2", n)
	}
	if n := e.fake.TokensMinted(); n != 1 {
		t.Errorf("minted %d tokens, want 1 (the second call reuses it)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !strings.HasPrefix(seen[0], "Bearer ghs_") || seen[0] != seen[1] {
		t.Errorf("issue requests sent Authorization %q, want the same minted Bearer ghs_ token twice", seen)
	}
}

func TestAppAuthRefreshesBeforeExpiry(t *testing.T) {
	e := newAppEnv(t, nil, 0, 1, nil)
	e.fake.SetInstallationTokenTTL(2 * time.Second)
	e.auth.margin = time.Second
	ctx := context.Background()
	if _, err := e.create(t, "alarm"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		minted  int
	}{
		{500 * time.Millisecond, 1}, // 1.5 s left: the token is kept
		{600 * time.Millisecond, 2}, // 0.9 s left, inside the margin: replaced
		{0, 2},
		{1100 * time.Millisecond, 3},
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		if _, err := e.client.Get(ctx, testRepo, 1); err != nil {
			t.Fatalf("step %d: get: %v", i, err)
		}
		if n := e.fake.TokensMinted(); n != s.minted {
			t.Fatalf("step %d (+%v): minted %d, want %d", i, s.advance, n, s.minted)
		}
	}
}

func TestAppAuthColdStartMintsOnce(t *testing.T) {
	const callers = 20
	allIn := make(chan struct{})
	var entered atomic.Int32
	e := newAppEnv(t, nil, 0, 1, func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if entered.Add(1) == callers {
				close(allIn)
			}
			return next.RoundTrip(r)
		})
	})
	// Hold the first mint until every caller is inside the AppAuth, so any of them that mints on its
	// own is counted.
	e.fake.SetHandlerHook(func(r *http.Request) (int, bool) {
		if strings.HasPrefix(r.URL.Path, "/app/") {
			select {
			case <-allIn:
			case <-time.After(10 * time.Second):
				return http.StatusInternalServerError, true
			}
		}
		return 0, false
	})
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			if _, err := e.create(t, "alarm "+string(rune('a'+i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, calls := e.fake.TokensMinted(), e.fake.Calls()[mintRoute]; n != 1 || calls != 1 {
		t.Errorf("minted %d tokens in %d requests, want 1 in 1", n, calls)
	}
	if n := e.fake.IssueCount(testRepo); n != callers {
		t.Errorf("%d issues, want %d", n, callers)
	}
}

// secretFree fails the test if msg quotes the private key, a JWT or a token.
func secretFree(t *testing.T, msg string, key *rsa.PrivateKey) {
	t.Helper()
	for _, bad := range []string{"BEGIN", "PRIVATE KEY-----", "ghs_", "ghp_", "eyJ"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error quotes %q: %s", bad, msg)
		}
	}
	for line := range strings.Lines(string(pkcs1PEM(key)) + string(pkcs8PEM(t, key))) {
		if line = strings.TrimSpace(line); len(line) >= 16 && strings.Contains(msg, line) {
			t.Errorf("error quotes key material: %s", msg)
		}
	}
}

func TestAppAuthMintRefused(t *testing.T) {
	other := newKey(t)
	tests := []struct {
		name      string
		signer    *rsa.PrivateKey
		inst      int64
		fail      func(*fakegithub.Server)
		permanent bool
		mints     int // mint requests made under a policy of 3 attempts
		want      []string
	}{
		{name: "wrong key", signer: other, permanent: true, mints: 1,
			want: []string{"GITHUB_APP_ID / GITHUB_APP_PRIVATE_KEY rejected", "app 4242"}},
		{name: "unknown installation", inst: 99, permanent: true, mints: 1,
			want: []string{"installation 99 not found", "GITHUB_APP_INSTALLATION_ID"}},
		{name: "suspended (403)", fail: func(s *fakegithub.Server) { s.FailNext(3, http.StatusForbidden) }, permanent: true, mints: 1,
			want: []string{"status 403"}},
		{name: "server error", fail: func(s *fakegithub.Server) { s.FailNext(3, http.StatusBadGateway) }, mints: 3,
			want: []string{"status 502"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAppEnv(t, tt.signer, tt.inst, 3, nil)
			if tt.fail != nil {
				tt.fail(e.fake)
			}
			_, err := e.create(t, "alarm")
			if err == nil {
				t.Fatal("create succeeded")
			}
			if retry.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", retry.IsPermanent(err), tt.permanent, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := e.fake.Calls()[mintRoute]; n != tt.mints {
				t.Errorf("%d mint requests, want %d", n, tt.mints)
			}
			if n := e.fake.Calls()[createRoute]; n != 0 {
				t.Errorf("%d issue requests sent without a token", n)
			}
			secretFree(t, err.Error(), e.key)
			secretFree(t, err.Error(), other)
		})
	}
}

func TestAppAuthTransientMintFailureRecovers(t *testing.T) {
	e := newAppEnv(t, nil, 0, 3, nil)
	e.fake.FailNext(1, http.StatusServiceUnavailable)
	if _, err := e.create(t, "alarm"); err != nil {
		t.Fatalf("create after one failed mint: %v", err)
	}
	if n, calls := e.fake.TokensMinted(), e.fake.Calls()[mintRoute]; n != 1 || calls != 2 {
		t.Errorf("minted %d in %d requests, want 1 in 2", n, calls)
	}

	// No server at all is a network failure: transient.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	auth, err := NewAppAuth(testAppID, testInstallationID, pkcs1PEM(e.key), down.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, down.URL+"/repos/acme/alarms", nil)
	if _, err := auth.RoundTrip(req); err == nil || retry.IsPermanent(err) {
		t.Errorf("unreachable GitHub: %v, want a transient error", err)
	}
}

func TestAppAuthKeepsTokenWhileRefreshFails(t *testing.T) {
	e := newAppEnv(t, nil, 0, 1, nil)
	e.fake.SetInstallationTokenTTL(10 * time.Second)
	e.auth.margin = 5 * time.Second
	ctx := context.Background()
	if _, err := e.create(t, "alarm"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Second) // due for refresh, still valid
	e.fake.FailNext(1, http.StatusServiceUnavailable)
	if _, err := e.client.Get(ctx, testRepo, 1); err != nil {
		t.Fatalf("get with a failed refresh and a valid token: %v", err)
	}
	if n, calls := e.fake.TokensMinted(), e.fake.Calls()[mintRoute]; n != 1 || calls != 2 {
		t.Errorf("minted %d in %d requests, want 1 in 2", n, calls)
	}
	e.clock.Advance(5 * time.Second) // expired
	e.fake.FailNext(1, http.StatusServiceUnavailable)
	if _, err := e.client.Get(ctx, testRepo, 1); err == nil || retry.IsPermanent(err) {
		t.Errorf("get with a failed mint and an expired token: %v, want a transient error", err)
	}
}

func TestAppAuthRemintsOnceOn401(t *testing.T) {
	e := newAppEnv(t, nil, 0, 1, nil)
	e.fake.SetInstallationTokenTTL(10 * time.Second)
	e.auth.margin = time.Second
	if _, err := e.create(t, "first"); err != nil {
		t.Fatal(err)
	}

	t.Run("expired early", func(t *testing.T) {
		// Only GitHub's clock moves: the AppAuth believes its token has 10 s left.
		e.fake.SetClock(func() time.Time { return e.clock.Now().Add(11 * time.Second) })
		defer e.fake.SetClock(e.clock.Now)
		is, err := e.create(t, "second")
		if err != nil {
			t.Fatalf("create with a token GitHub refuses: %v", err)
		}
		if got, _ := e.fake.Issue(testRepo, is.Number); got.Body != "body of second" {
			t.Errorf("replayed body %q, want %q", got.Body, "body of second")
		}
		if n := e.fake.TokensMinted(); n != 2 {
			t.Errorf("minted %d, want 2", n)
		}
	})

	t.Run("refused again", func(t *testing.T) {
		e.fake.SetHandlerHook(func(r *http.Request) (int, bool) {
			return http.StatusUnauthorized, strings.HasPrefix(r.URL.Path, "/repos/")
		})
		defer e.fake.SetHandlerHook(nil)
		before, creates := e.fake.TokensMinted(), e.fake.Calls()[createRoute]
		_, err := e.create(t, "third")
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("create: %v, want GitHub's 401", err)
		}
		if n := e.fake.TokensMinted() - before; n != 1 {
			t.Errorf("minted %d more, want 1", n)
		}
		if n := e.fake.Calls()[createRoute] - creates; n != 2 {
			t.Errorf("sent the request %d times, want 2", n)
		}
	})

	t.Run("body not replayable", func(t *testing.T) {
		e.fake.SetHandlerHook(func(r *http.Request) (int, bool) {
			return http.StatusUnauthorized, strings.HasPrefix(r.URL.Path, "/repos/")
		})
		defer e.fake.SetHandlerHook(nil)
		before := e.fake.TokensMinted()
		req, _ := http.NewRequest(http.MethodPost, e.fake.URL()+"repos/acme/alarms/issues", io.NopCloser(strings.NewReader(`{"title":"x"}`)))
		resp, err := e.auth.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || e.fake.TokensMinted() != before {
			t.Errorf("status %d, minted %d more; want the 401 back and no mint", resp.StatusCode, e.fake.TokensMinted()-before)
		}
	})
}

func TestAppAuthJWTClaims(t *testing.T) {
	key := newKey(t)
	a, err := NewAppAuth(testAppID, testInstallationID, pkcs1PEM(key), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	jwt, err := a.jwt(now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%d segments", len(parts))
	}
	var hdr map[string]any
	var claims map[string]any
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("segment %d does not decode", i)
		}
	}
	if hdr["alg"] != "RS256" || claims["iss"] != "4242" ||
		claims["iat"] != float64(now.Unix()-60) || claims["exp"] != float64(now.Unix()+540) {
		t.Errorf("header %v claims %v", hdr, claims)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature: %v", err)
	}
	if want := "https://api.github.com/app/installations/777/access_tokens"; a.mintURL != want {
		t.Errorf("mint URL %q, want %q", a.mintURL, want)
	}
}

func TestNewAppAuthKeys(t *testing.T) {
	key := newKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	damaged := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)[:200]})
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	tests := []struct {
		name string
		pem  []byte
		want string // "" loads key
	}{
		{"PKCS#1", pkcs1PEM(key), ""},
		{"PKCS#8", pkcs8PEM(t, key), ""},
		{"one line with literal \\n", []byte(strings.ReplaceAll(string(pkcs1PEM(key)), "\n", `\n`)), ""},
		{"after a public key", append(pub, pkcs8PEM(t, key)...), ""},
		{"not PEM", []byte("my-app-key"), "GITHUB_APP_PRIVATE_KEY holds no PEM private key"},
		{"empty", nil, "GITHUB_APP_PRIVATE_KEY holds no PEM private key"},
		{"public key only", pub, "GITHUB_APP_PRIVATE_KEY holds no PEM private key"},
		{"damaged", damaged, "RSA PRIVATE KEY block is damaged"},
		{"EC key", pkcs8PEM(t, ec), "GitHub Apps sign with RSA"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "is encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAppAuth(testAppID, testInstallationID, tt.pem, "", nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !a.key.Equal(key) {
					t.Error("loaded another key")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			secretFree(t, err.Error(), key)
		})
	}
	if _, err := NewAppAuth(0, testInstallationID, pkcs1PEM(key), "", nil); err == nil || !strings.Contains(err.Error(), "GITHUB_APP_ID") {
		t.Errorf("app id 0: %v", err)
	}
	if _, err := NewAppAuth(testAppID, 0, pkcs1PEM(key), "", nil); err == nil || !strings.Contains(err.Error(), "GITHUB_APP_INSTALLATION_ID") {
		t.Errorf("installation 0: %v", err)
	}
}

func TestTokenTransport(t *testing.T) {
	fake := fakegithub.New(fakegithub.Options{Token: "ghp_right"})
	t.Cleanup(fake.Close)
	fake.AddRepo(testRepo)
	for _, tt := range []struct {
		token string
		ok    bool
	}{{"ghp_right", true}, {"ghp_wrong", false}} {
		c, err := New(Options{BaseURL: fake.URL(), HTTPClient: &http.Client{Transport: TokenTransport(fake.URL(), tt.token, nil)}, Pace: []pace.Window{}, Retry: retry.Policy{Attempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(context.Background(), testRepo, handlers.NewIssue{Title: "alarm"})
		if (err == nil) != tt.ok {
			t.Errorf("token %s: %v, want ok=%v", tt.token, err, tt.ok)
		}
	}
	if n := fake.IssueCount(testRepo); n != 1 {
		t.Errorf("%d issues, want 1", n)
	}
}
