// Package duoauth reaches Duo's Auth API v2 through Duo's own Go client (duo_api_golang/authapi)
// and implements handlers.SecondFactor: preauth, an asynchronous push, and its status.
package duoauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	duoapi "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
)

// Config is what the client needs.
type Config struct {
	Host       string // DUO_API_HOST, e.g. api-XXXXXXXX.duosecurity.com
	IKey, SKey string // integration key, secret key (signs every request; never logged)
	// CAPEM, when set, holds the CAs trusted for Host instead of the roots Duo's client pins (a
	// TLS-inspecting proxy; tests).
	CAPEM []byte
	// Timeout bounds each call, the client's own retries of a 429 included (Duo's client has no
	// timeout of its own for auth_status).
	Timeout time.Duration
	// UserAgent names dispatch to Duo.
	UserAgent string
}

// Client is a Duo Auth API client. It is safe for concurrent use.
type Client struct {
	api     *authapi.AuthApi
	timeout time.Duration
}

// New builds a client. It fails only when CAPEM holds no certificate.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	var pool *x509.CertPool
	if len(cfg.CAPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAPEM) {
			return nil, errors.New("duo: DUO_CA_FILE holds no PEM certificate")
		}
	}
	// The library builds its transport with Duo's pinned roots; keep it, swapping the roots only
	// for DUO_CA_FILE's, and use it in one client with a timeout for every call (the library's
	// own client for auth_status has none).
	var tr *http.Transport
	api := duoapi.NewDuoApi(cfg.IKey, cfg.SKey, cfg.Host, cfg.UserAgent, duoapi.SetTimeout(cfg.Timeout),
		duoapi.SetTransport(func(t *http.Transport) {
			if pool != nil {
				t.TLSClientConfig.RootCAs = pool
			}
			t.TLSClientConfig.MinVersion = tls.VersionTLS12
			tr = t
		}))
	api.SetCustomHTTPClient(&http.Client{Timeout: cfg.Timeout, Transport: post429{tr}})
	return &Client{api: authapi.NewAuthApi(*api), timeout: cfg.Timeout}, nil
}

// post429 hands a POST's 429 back as a 503, Duo's own body (code 42901) unchanged, so that Duo's
// client does not retry it: its retry re-sends the POST without the body it already read, which
// Duo refuses as an invalid signature (401), turning a passing limit into a lasting-looking error.
// The caller sees the FAIL answer, which fail() makes transient. GETs (auth_status) are retried
// by the client as it likes, within call's bound.
type post429 struct{ http.RoundTripper }

func (t post429) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && resp.StatusCode == http.StatusTooManyRequests {
		resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable (429 from Duo)"
	}
	return resp, err
}

// call runs a blocking library call under ctx, for at most timeout in all: the library takes no
// context, and retries a 429 itself with backoff (1 s, 2 s, … 32 s: a minute in all), which its
// per-request timeout doesn't bound. A cancelled or expired ctx returns at once; the library call
// finishes in the background.
func call[T any](ctx context.Context, timeout time.Duration, what string, fn func() (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			var zero T
			return zero, fmt.Errorf("duo %s: %w", what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("duo %s: %w", what, ctx.Err())
	}
}

// fail turns a FAIL answer into an error: 4xx ones are permanent (bad keys, bad parameters), the
// rest transient.
func fail(what string, st duoapi.StatResult) error {
	msg := ""
	if st.Message != nil {
		msg = *st.Message
	}
	code := int32(0)
	if st.Code != nil {
		code = *st.Code
	}
	err := fmt.Errorf("duo %s failed: %d %s", what, code, msg)
	if code >= 40000 && code < 50000 && code/100 != 429 { // 429xx: over a rate limit, transient
		return retry.Permanent(err)
	}
	return err
}

// Preauth asks whether username may authenticate and how.
func (c *Client) Preauth(ctx context.Context, username string) (handlers.Preauth, error) {
	res, err := call(ctx, c.timeout, "preauth", func() (*authapi.PreauthResult, error) {
		return c.api.Preauth(authapi.PreauthUsername(username), verifiedPush)
	})
	if err != nil {
		return handlers.Preauth{}, err
	}
	if res.Stat != "OK" {
		return handlers.Preauth{}, fail("preauth", res.StatResult)
	}
	out := handlers.Preauth{Result: res.Response.Result, Message: res.Response.Status_Msg}
	for _, d := range res.Response.Devices {
		for _, c := range d.Capabilities {
			if c == "push" {
				out.CanPush = true
			}
		}
	}
	return out, nil
}

// verifiedPush tells Duo dispatch shows a Verified Duo Push code to the user.
func verifiedPush(v *url.Values) { v.Set("client_supports_verified_push", "1") }

// Push sends an asynchronous push to username's first device that can take one, with info shown
// on the phone, and returns its transaction id.
func (c *Client) Push(ctx context.Context, username string, info handlers.PushInfo) (string, error) {
	pi := url.Values{}
	for _, kv := range info.Fields {
		pi.Add(kv[0], kv[1])
	}
	res, err := call(ctx, c.timeout, "auth", func() (*authapi.AuthResult, error) {
		return c.api.Auth("push", authapi.AuthUsername(username), authapi.AuthAsync(), authapi.AuthDevice("auto"),
			authapi.AuthType(info.Type), authapi.AuthPushinfo(pi.Encode()))
	})
	if err != nil {
		return "", err
	}
	if res.Stat != "OK" {
		return "", fail("auth", res.StatResult)
	}
	if res.Response.Txid == "" {
		return "", errors.New("duo auth: no txid in the answer")
	}
	return res.Response.Txid, nil
}

// codePattern finds a Verified Duo Push code in a status message.
var codePattern = regexp.MustCompile(`\b\d{3,8}\b`)

// Status reports where the push txid stands.
func (c *Client) Status(ctx context.Context, txid string) (handlers.PushStatus, error) {
	res, err := call(ctx, c.timeout, "auth_status", func() (*authapi.AuthStatusResult, error) { return c.api.AuthStatus(txid) })
	if err != nil {
		return handlers.PushStatus{}, err
	}
	if res.Stat != "OK" {
		return handlers.PushStatus{}, fail("auth_status", res.StatResult)
	}
	st := handlers.PushStatus{Result: res.Response.Result, Status: res.Response.Status, Message: res.Response.Status_Msg}
	if st.Result == "waiting" {
		st.Code = codePattern.FindString(st.Message)
	}
	return st, nil
}
