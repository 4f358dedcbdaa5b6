package duoauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
)

const (
	ikey = "DIWJ8X6AEYOR5OMC6TQ1"
	skey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
)

func client(t *testing.T, srv *fakeduo.Server, sk string, ca []byte) *Client {
	t.Helper()
	c, err := New(Config{Host: srv.Host(), IKey: ikey, SKey: sk, CAPEM: ca, Timeout: 5 * time.Second, UserAgent: "dispatch-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPushApprovedThroughDuosClient drives preauth, an async push and its status through Duo's own
// client against the fake, which checks every signature.
func TestPushApprovedThroughDuosClient(t *testing.T) {
	srv := fakeduo.New(ikey, skey)
	defer srv.Close()
	srv.SetUser(fakeduo.User{Name: "alice@example.com", VerifiedCode: "4711"})
	c := client(t, srv, skey, srv.CertPEM())
	ctx := context.Background()
	pre, err := c.Preauth(ctx, "alice@example.com")
	if err != nil || pre.Result != "auth" || !pre.CanPush {
		t.Fatalf("preauth = %+v, %v", pre, err)
	}
	txid, err := c.Push(ctx, "alice@example.com", handlers.PushInfo{Type: "dispatch alarm", Fields: [][2]string{{"Alarm", "Login from Lisbon & more"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx, txid)
	if err != nil || st.Result != "waiting" || st.Code != "4711" {
		t.Fatalf("first status = %+v, %v; want waiting with the verified code", st, err)
	}
	st, err = c.Status(ctx, txid)
	if err != nil || st.Result != "allow" {
		t.Fatalf("status = %+v, %v; want allow", st, err)
	}
	p := srv.Pushes()
	if len(p) != 1 || p[0].Pushinfo.Get("Alarm") != "Login from Lisbon & more" || !p[0].Verified {
		t.Fatalf("pushes %+v", p)
	}
	if n := srv.BadSignatures(); n != 0 {
		t.Fatalf("%d requests refused for their signature", n)
	}
}

// TestOutcomesAsDuoReportsThem: enroll, deny and no push device at preauth; deny and timeout at
// auth_status.
func TestOutcomesAsDuoReportsThem(t *testing.T) {
	srv := fakeduo.New(ikey, skey)
	defer srv.Close()
	srv.SetUser(fakeduo.User{Name: "denied", Denied: true})
	srv.SetUser(fakeduo.User{Name: "sms", NoPush: true})
	srv.SetUser(fakeduo.User{Name: "no", Outcome: fakeduo.Deny})
	srv.SetUser(fakeduo.User{Name: "late", Outcome: fakeduo.Timeout})
	c := client(t, srv, skey, srv.CertPEM())
	ctx := context.Background()
	for user, want := range map[string]handlers.Preauth{"nobody": {Result: "enroll"}, "denied": {Result: "deny"}, "sms": {Result: "auth"}} {
		pre, err := c.Preauth(ctx, user)
		if err != nil || pre.Result != want.Result || pre.CanPush {
			t.Errorf("preauth %s = %+v, %v; want %s without push", user, pre, err, want.Result)
		}
	}
	for user, status := range map[string]string{"no": "deny", "late": "timeout"} {
		txid, err := c.Push(ctx, user, handlers.PushInfo{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Status(ctx, txid)
		st, err := c.Status(ctx, txid)
		if err != nil || st.Result != "deny" || st.Status != status {
			t.Errorf("%s: status %+v, %v; want deny/%s", user, st, err, status)
		}
	}
}

// TestWrongSecretKeyIsRefused: the fake checks the signature as Duo does; a wrong key is a
// permanent error, and the key itself appears in no error.
func TestWrongSecretKeyIsRefused(t *testing.T) {
	srv := fakeduo.New(ikey, skey)
	defer srv.Close()
	wrong := "WRONGeGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
	c := client(t, srv, wrong, srv.CertPEM())
	_, err := c.Preauth(context.Background(), "alice@example.com")
	if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "40103") {
		t.Fatalf("err = %v; want a permanent 40103", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatal("the secret key appears in the error")
	}
	if srv.BadSignatures() != 1 {
		t.Fatalf("bad signatures %d, want 1", srv.BadSignatures())
	}
}

// TestDuosPinnedRootsRefuseTheFake: without DUO_CA_FILE, only Duo's pinned roots are trusted, so the
// fake's own certificate is refused; with it, it is trusted.
func TestDuosPinnedRootsRefuseTheFake(t *testing.T) {
	srv := fakeduo.New(ikey, skey)
	defer srv.Close()
	_, err := client(t, srv, skey, nil).Preauth(context.Background(), "alice@example.com")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v; want a certificate error", err)
	}
	if _, err := New(Config{Host: srv.Host(), CAPEM: []byte("not a pem")}); err == nil {
		t.Fatal("a CA file without a certificate was accepted")
	}
}

// TestRateLimitedCallsAreTransientAndBounded: over the fake's request limit Duo answers 429. A
// POST (preauth) fails at once with a transient error, not the "invalid signature" Duo's client
// earns by retrying it without its body; a GET (auth_status), which Duo's client retries itself
// with backoff for about a minute, still returns within the adapter's Timeout.
func TestRateLimitedCallsAreTransientAndBounded(t *testing.T) {
	srv := fakeduo.New(ikey, skey)
	defer srv.Close()
	srv.SetUser(fakeduo.User{Name: "alice@example.com", Outcome: fakeduo.Wait})
	c, err := New(Config{Host: srv.Host(), IKey: ikey, SKey: skey, CAPEM: srv.CertPEM(), Timeout: 2 * time.Second, UserAgent: "dispatch-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	txid, err := c.Push(ctx, "alice@example.com", handlers.PushInfo{Type: "dispatch alarm"})
	if err != nil {
		t.Fatalf("push, within the limit: %v", err)
	}
	srv.SetRateLimit(0, time.Hour)
	_, err = c.Preauth(ctx, "alice@example.com")
	if err == nil || retry.IsPermanent(err) || !strings.Contains(err.Error(), "42901") {
		t.Errorf("preauth over the limit: %v; want a transient error with Duo's code 42901", err)
	}
	start := time.Now()
	_, err = c.Status(ctx, txid)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a rate-limited auth_status took %s; Timeout is 2s", took)
	}
	if err == nil || retry.IsPermanent(err) {
		t.Errorf("auth_status over the limit: %v; want a transient error", err)
	}
	if srv.RateLimited() < 2 {
		t.Errorf("the fake answered %d 429s, want one for each call at least", srv.RateLimited())
	}
	if n := srv.BadSignatures(); n != 0 {
		t.Errorf("%d requests with a bad signature", n)
	}
}
