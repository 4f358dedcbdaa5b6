package fakeslack

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestFailNext(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		check      func(t *testing.T, err error)
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, 2 * time.Second, func(t *testing.T, err error) {
			rl, ok := errors.AsType[*slack.RateLimitedError](err)
			if !ok || rl.RetryAfter != 2*time.Second {
				t.Errorf("err = %#v, want *slack.RateLimitedError with RetryAfter 2s", err)
			}
		}},
		{"429 rounds Retry-After up", http.StatusTooManyRequests, 1500 * time.Millisecond, func(t *testing.T, err error) {
			if rl, ok := errors.AsType[*slack.RateLimitedError](err); !ok || rl.RetryAfter != 2*time.Second {
				t.Errorf("err = %#v, want RetryAfter 2s", err)
			}
		}},
		{"503", http.StatusServiceUnavailable, 0, func(t *testing.T, err error) {
			if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusServiceUnavailable {
				t.Errorf("err = %#v, want slack.StatusCodeError 503", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, Options{})
			addAlice(srv)
			api := newAPI(srv)
			srv.FailNext("chat.postMessage", 1, tc.status, tc.retryAfter)
			_, _, err := api.PostMessageContext(testCtx(t), "U1", slack.MsgOptionText("hi", false))
			tc.check(t, err)
			if len(srv.DMs("U1")) != 0 {
				t.Error("a failed post was stored")
			}
			if _, _, err := api.PostMessageContext(testCtx(t), "U1", slack.MsgOptionText("hi", false)); err != nil {
				t.Errorf("second post: %v (FailNext n=1 should be used up)", err)
			}
			if got := srv.Calls("chat.postMessage"); got != 2 {
				t.Errorf("Calls = %d, want 2", got)
			}
		})
	}
}

func TestSetError(t *testing.T) {
	srv := newServer(t, Options{})
	api := newAPI(srv)
	srv.SetError("", "fatal_error", 1)
	srv.SetError("auth.test", "account_inactive", 2)
	for i, want := range []string{"account_inactive", "account_inactive", "fatal_error", ""} {
		_, err := api.AuthTestContext(testCtx(t))
		got := ""
		if err != nil {
			got = err.Error()
			if _, ok := errors.AsType[slack.SlackErrorResponse](err); !ok {
				t.Errorf("call %d: err is %T, want slack.SlackErrorResponse", i, err)
			}
		}
		if got != want {
			t.Errorf("call %d: err = %q, want %q", i, got, want)
		}
	}
}

func TestSetLatency(t *testing.T) {
	srv := newServer(t, Options{})
	api := newAPI(srv)
	const d = 150 * time.Millisecond
	srv.SetLatency("auth.test", d)
	start := time.Now()
	if _, err := api.AuthTestContext(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("auth.test took %s, want at least %s", took, d)
	}
	srv.SetLatency("auth.test", 0)
	start = time.Now()
	if _, err := api.AuthTestContext(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= d {
		t.Errorf("after removing the latency auth.test took %s", took)
	}
}

func TestPostRateLimit(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	srv.AddChannel("C1", "alerts")
	api := newAPI(srv)
	// So slow a refill that nothing comes back during the test: the result is deterministic.
	srv.SetPostRateLimit(0.001, 2)
	post := func(ch string) error {
		_, _, err := api.PostMessageContext(testCtx(t), ch, slack.MsgOptionText("hi", false))
		return err
	}
	for i := range 2 {
		if err := post("U1"); err != nil {
			t.Fatalf("post %d within the burst: %v", i, err)
		}
	}
	err := post("DU1") // same channel as U1: the bucket is per resolved channel
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); !ok || rl.RetryAfter != time.Second {
		t.Fatalf("third post err = %#v, want *slack.RateLimitedError after 1s", err)
	}
	if err := post("C1"); err != nil {
		t.Errorf("another channel has its own bucket: %v", err)
	}
	srv.SetPostRateLimit(0, 0)
	if err := post("U1"); err != nil {
		t.Errorf("limit off: %v", err)
	}
	if got := len(srv.DMs("U1")); got != 3 {
		t.Errorf("DM holds %d messages, want 3", got)
	}
}

// TestFailFor: an outage of one method fails every call of it until it ends, then it answers again.
func TestFailFor(t *testing.T) {
	srv := newServer(t, Options{})
	api := newAPI(srv)
	srv.FailFor("auth.test", 300*time.Millisecond, http.StatusServiceUnavailable)
	end := time.Now().Add(300 * time.Millisecond)
	for range 5 {
		if _, err := api.AuthTestContext(testCtx(t)); err == nil {
			if time.Now().Before(end) {
				t.Fatal("auth.test answered during its outage")
			}
			break
		} else if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusServiceUnavailable {
			t.Fatalf("err = %#v, want slack.StatusCodeError 503", err)
		}
	}
	for time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond) // the outage ends on the clock
	}
	if _, err := api.AuthTestContext(testCtx(t)); err != nil {
		t.Errorf("auth.test after the outage: %v", err)
	}
}

// TestOutageAnswersAsSlackDoes: a 503 outage is Slack's own answer, HTTP 503 with
// {"ok":false,"error":"service_unavailable"}, not a load balancer's HTML page.
func TestOutageAnswersAsSlackDoes(t *testing.T) {
	srv := newServer(t, Options{})
	srv.FailFor("", time.Minute, http.StatusServiceUnavailable)
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, srv.APIURL()+"auth.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Options().BotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		body.OK || body.Error != "service_unavailable" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("during an outage: HTTP %d %s, body %+v (%v); want 503 application/json {ok:false, error:service_unavailable}",
			resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
}
