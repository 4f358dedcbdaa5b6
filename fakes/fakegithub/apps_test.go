package fakegithub

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testAppID          = 4242
	testInstallationID = 777
)

// signJWT builds an RS256 JWT over header and claims, as an app would.
func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	seg := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := seg(header) + "." + seg(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// appJWT returns a valid JWT for testAppID at now, changed by edit.
func appJWT(t *testing.T, key *rsa.PrivateKey, now time.Time, edit func(h, c map[string]any)) string {
	t.Helper()
	h := map[string]any{"alg": "RS256", "typ": "JWT"}
	c := map[string]any{"iss": testAppID, "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix()}
	if edit != nil {
		edit(h, c)
	}
	return signJWT(t, key, h, c)
}

func generateKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestInstallationToken(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	key := generateKey(t)
	s.SetApp(testAppID, testInstallationID, &key.PublicKey)
	ctx := context.Background()

	jwt := appJWT(t, key, clk.Now(), nil)
	tok, resp, err := newClient(t, s, jwt).Apps.CreateInstallationToken(ctx, testInstallationID, nil)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(tok.GetToken(), "ghs_") ||
		!tok.GetExpiresAt().Time.Equal(clk.Now().Add(time.Hour)) || s.TokensMinted() != 1 {
		t.Errorf("minted %q expiring %v (status %d, minted %d)", tok.GetToken(), tok.GetExpiresAt(), resp.StatusCode, s.TokensMinted())
	}

	inst := newClient(t, s, tok.GetToken())
	mustCreate(t, inst, "created by the app", "")
	// Like github.com, installation tokens may not call GET /user.
	if _, _, err := inst.Users.Get(ctx, ""); statusOf(err) != http.StatusForbidden {
		t.Errorf("GET /user with installation token: %v, want 403", err)
	}
	// The JWT itself is not an API token.
	if _, _, err := newClient(t, s, jwt).Issues.Get(ctx, "acme", "alarms", 1); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("JWT used as token: %v, want 401", err)
	}

	clk.Advance(time.Hour)
	if _, _, err := inst.Issues.Get(ctx, "acme", "alarms", 1); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("expired token: %v, want 401", err)
	}

	// A short TTL, and a fresh JWT, mint a second token.
	s.SetInstallationTokenTTL(time.Minute)
	tok2, _, err := newClient(t, s, appJWT(t, key, clk.Now(), nil)).Apps.CreateInstallationToken(ctx, testInstallationID, nil)
	if err != nil || !tok2.GetExpiresAt().Time.Equal(clk.Now().Add(time.Minute)) || s.TokensMinted() != 2 {
		t.Errorf("second token: expires %v, minted %d, %v", tok2.GetExpiresAt(), s.TokensMinted(), err)
	}
}

func TestInstallationTokenRefusals(t *testing.T) {
	s := newFake(t, Options{})
	clk := newFakeClock(s)
	key, other := generateKey(t), generateKey(t)
	s.SetApp(testAppID, testInstallationID, &key.PublicKey)
	now := clk.Now()

	tests := []struct {
		name         string
		token        string
		installation int64
		want         int
	}{
		{"string iss accepted", appJWT(t, key, now, func(_, c map[string]any) { c["iss"] = "4242" }), testInstallationID, http.StatusCreated},
		{"iat within skew", appJWT(t, key, now, func(_, c map[string]any) { c["iat"] = now.Add(50 * time.Second).Unix() }), testInstallationID, http.StatusCreated},
		{"unknown installation", appJWT(t, key, now, nil), 1, http.StatusNotFound},
		{"wrong key", appJWT(t, other, now, nil), testInstallationID, http.StatusUnauthorized},
		{"wrong iss", appJWT(t, key, now, func(_, c map[string]any) { c["iss"] = 1 }), testInstallationID, http.StatusUnauthorized},
		{"expired", appJWT(t, key, now, func(_, c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), testInstallationID, http.StatusUnauthorized},
		{"no exp", appJWT(t, key, now, func(_, c map[string]any) { delete(c, "exp") }), testInstallationID, http.StatusUnauthorized},
		{"exp too far", appJWT(t, key, now, func(_, c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }), testInstallationID, http.StatusUnauthorized},
		{"iat in future", appJWT(t, key, now, func(_, c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }), testInstallationID, http.StatusUnauthorized},
		{"alg none", appJWT(t, key, now, func(h, _ map[string]any) { h["alg"] = "none" }), testInstallationID, http.StatusUnauthorized},
		{"tampered claims", tamper(appJWT(t, key, now, nil)), testInstallationID, http.StatusUnauthorized},
		{"personal token", "ghp_testtoken", testInstallationID, http.StatusUnauthorized},
		{"garbage", "not-a-jwt", testInstallationID, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := newClient(t, s, tt.token).Apps.CreateInstallationToken(context.Background(), tt.installation, nil)
			got := 0
			if resp != nil {
				got = resp.StatusCode
			}
			if got != tt.want {
				t.Errorf("status %d (%v), want %d", got, err, tt.want)
			}
		})
	}
	if s.TokensMinted() != 2 {
		t.Errorf("minted %d, want 2", s.TokensMinted())
	}
}

// tamper swaps the claims of a signed JWT for ones with another issuer,
// keeping the original signature.
func tamper(jwt string) string {
	parts := strings.Split(jwt, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	c["sub"] = "someone else"
	b, _ = json.Marshal(c)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}
