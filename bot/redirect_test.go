package bot

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/slack-go/slack"
)

// TestNoCredentialFollowsARedirectToAnotherHost: slack-go sends the token as a form field, which
// net/http resends to wherever a 307 points. With the bot's redirect policy the other host never
// hears from it; a redirect within the host still works.
func TestNoCredentialFollowsARedirectToAnotherHost(t *testing.T) {
	var reached atomic.Int32
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		b, _ := io.ReadAll(r.Body)
		leaked.Store(string(b) + r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer other.Close()
	slackish := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/moved/auth.test" {
			_, _ = w.Write([]byte(`{"ok":true,"user_id":"UBOT"}`))
			return
		}
		target := other.URL + r.URL.Path
		if r.URL.Query().Get("same") != "" || strings.Contains(r.URL.Path, "same") {
			target = "/api/moved/auth.test"
		}
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	}))
	defer slackish.Close()
	client := &http.Client{CheckRedirect: sameHostRedirects}

	api := slack.New("xoxb-secret-bot-token", slack.OptionAPIURL(slackish.URL+"/api/"), slack.OptionHTTPClient(client))
	if _, err := api.AuthTest(); err == nil || reached.Load() != 0 {
		t.Errorf("redirect to another host: err %v, the other host reached %d times (saw %v)", err, reached.Load(), leaked.Load())
	}
	resp, err := client.PostForm(slackish.URL+"/same", url.Values{"token": {"xoxb-secret-bot-token"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a redirect within the host: %v", err)
	} else {
		resp.Body.Close()
	}
	// Without the policy, the token would have gone: the test can fail.
	api = slack.New("xoxb-secret-bot-token", slack.OptionAPIURL(slackish.URL+"/api/"), slack.OptionHTTPClient(&http.Client{}))
	_, _ = api.AuthTest()
	if s, _ := leaked.Load().(string); !strings.Contains(s, "xoxb-secret-bot-token") {
		t.Errorf("test broken: without the policy the other host saw %q", s)
	}
}
