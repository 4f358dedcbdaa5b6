package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// appStack is a stack whose bot authenticates as installation 99 of GitHub App 4242 (no token).
func appStack(t *testing.T) *stack.Env {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) {
		c.GitHubToken = ""
		c.GitHubAppID, c.GitHubInstallationID, c.GitHubAppKey = 4242, 99, pemKey
	}})
	e.GitHub.SetApp(4242, 99, &key.PublicKey)
	return e
}

// The bot configured as a GitHub App installation (no token) files issues with a minted token.
func TestGitHubAppAuthFilesIssues(t *testing.T) {
	e := appStack(t)
	e.StartBot()
	for _, title := range []string{"filed by the app", "filed by the app again"} {
		e.PublishRaw(`{"type":"low","body":{"github":{"title":"` + title + `"}}}`)
	}
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 2 {
		t.Fatalf("%d issues, want 2", n)
	}
	if n := e.GitHub.TokensMinted(); n != 1 {
		t.Errorf("%d installation tokens minted, want 1 (cached between calls)", n)
	}
}

// As a GitHub App, dispatch's identity is the app's bot account (slug[bot], from GET /app): its own
// issues are recognised, so an answer closes one, and its deadline comments count.
func TestGitHubAppIdentityIsTheAppsBotAccount(t *testing.T) {
	e := appStack(t)
	e.GitHub.SetAppSlug(4242, "acme-dispatch")
	e.StartBot()
	e.PublishRaw(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"answered as the app"},"slack":{"message":"Was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, "dispatch_yes")
	e.Eventually("the issue to close", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return is.State == "closed" })
	if is, _ := e.GitHub.Issue(repo, 1); is.Author != "acme-dispatch[bot]" {
		t.Errorf("issue author %q, want the app's bot account", is.Author)
	}
}
