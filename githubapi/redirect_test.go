package githubapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// elsewhere is another host that records the Authorization header of every request it gets.
type elsewhere struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.auths = append(e.auths, r.Header.Get("Authorization"))
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"number":1,"title":"moved","state":"open","html_url":"https://x/1"}`))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *elsewhere) seen(t *testing.T) []string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.auths) == 0 {
		t.Fatal("the redirect was not followed: nothing to check")
	}
	return append([]string(nil), e.auths...)
}

// TestCredentialsDoNotFollowARedirectToAnotherHost: the fake GitHub answers with a redirect to
// another host (127.0.0.1 vs localhost: a different host to net/http), as a moved repository or a
// hostile proxy could. The token, the installation token and the app JWT stay home, for every
// redirect status (307 and 308 resend the body too).
func TestCredentialsDoNotFollowARedirectToAnotherHost(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status)+" with a token", func(t *testing.T) {
			fake := fakegithub.New(fakegithub.Options{Token: "ghp_secret_token_value"})
			t.Cleanup(fake.Close)
			fake.AddRepo(testRepo)
			other := newElsewhere(t)
			fake.RedirectNext(1, strings.Replace(other.URL, "127.0.0.1", "localhost", 1), status)
			c, err := New(Options{BaseURL: fake.URL(), HTTPClient: &http.Client{Transport: TokenTransport(fake.URL(), "ghp_secret_token_value", nil)}, Pace: []pace.Window{}, Retry: retry.Policy{Attempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Get(context.Background(), testRepo, 1)
			for _, a := range other.seen(t) {
				if a != "" {
					t.Errorf("the other host got Authorization %q", a)
				}
			}
		})
		t.Run(http.StatusText(status)+" as an app", func(t *testing.T) {
			e := newAppEnv(t, nil, 0, 1, nil)
			var minted []string
			var mu sync.Mutex
			e.auth.SetOnSecret(func(s string) { mu.Lock(); minted = append(minted, s); mu.Unlock() })
			if _, err := e.client.Create(context.Background(), testRepo, handlers.NewIssue{Title: "first"}); err != nil {
				t.Fatal(err)
			}
			other := newElsewhere(t)
			e.fake.RedirectNext(1, strings.Replace(other.URL, "127.0.0.1", "localhost", 1), status)
			_, _ = e.client.Get(context.Background(), testRepo, 1)
			for _, a := range other.seen(t) {
				if a != "" {
					t.Errorf("the other host got Authorization %q", a)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(minted) != 2 || !strings.HasPrefix(minted[0], "ey") {
				t.Errorf("SetOnSecret was told %d secrets, want the JWT and the installation token", len(minted))
			}
		})
	}
}
