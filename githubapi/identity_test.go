package githubapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// TestIdentityAndAuthors: dispatch's identity is the token's user, or the App's bot account; issues
// and comments carry their author, so a commenter's copy of dispatch's text is told apart.
func TestIdentityAndAuthors(t *testing.T) {
	ctx := context.Background()
	t.Run("token", func(t *testing.T) {
		fake := fakegithub.New(fakegithub.Options{Token: "ghp_dispatch", Login: "acme-dispatch"})
		t.Cleanup(fake.Close)
		fake.AddRepo(testRepo)
		fake.AddUserToken("ghp_mallory", "mallory")
		c := tokenClient(t, fake, "ghp_dispatch")
		if got, err := c.Identity(ctx); err != nil || got != "acme-dispatch" {
			t.Fatalf("Identity = %q, %v", got, err)
		}
		is, err := c.Create(ctx, testRepo, handlers.NewIssue{Title: "t", Body: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Comment(ctx, testRepo, is.Number, "mine"); err != nil {
			t.Fatal(err)
		}
		if err := tokenClient(t, fake, "ghp_mallory").Comment(ctx, testRepo, is.Number, "a copy"); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, testRepo, is.Number)
		if err != nil || got.Author != "acme-dispatch" {
			t.Errorf("issue author %q, %v", got.Author, err)
		}
		comments, err := c.Comments(ctx, testRepo, is.Number)
		want := []handlers.Comment{{Author: "acme-dispatch", Body: "mine"}, {Author: "mallory", Body: "a copy"}}
		for i := range comments {
			comments[i].ID = 0 // GitHub's, tested with DeleteComment
		}
		if err != nil || len(comments) != 2 || comments[0] != want[0] || comments[1] != want[1] {
			t.Errorf("comments = %+v, %v; want %+v", comments, err, want)
		}
		calls := fake.Calls()["GET /user"]
		if _, err := c.Identity(ctx); err != nil || fake.Calls()["GET /user"] != calls {
			t.Errorf("a second Identity asked GitHub again (%v)", err)
		}
	})
	t.Run("app", func(t *testing.T) {
		e := newAppEnv(t, nil, 0, 1, nil)
		e.fake.SetAppSlug(testAppID, "acme-dispatch")
		c, err := New(Options{BaseURL: e.fake.URL(), HTTPClient: &http.Client{Transport: e.auth, Timeout: 20 * time.Second},
			Pace: []pace.Window{}, Retry: retry.Policy{Attempts: 1}, App: e.auth})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Identity(ctx); err != nil || got != "acme-dispatch[bot]" {
			t.Fatalf("Identity = %q, %v", got, err)
		}
		is, err := c.Create(ctx, testRepo, handlers.NewIssue{Title: "t", Body: "b"})
		if err != nil || is.Author != "acme-dispatch[bot]" {
			t.Errorf("issue by the app: author %q, %v", is.Author, err)
		}
	})
}

func tokenClient(t *testing.T, fake *fakegithub.Server, token string) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: fake.URL(), HTTPClient: &http.Client{Transport: TokenTransport(fake.URL(), token, nil)}, Pace: []pace.Window{}, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
