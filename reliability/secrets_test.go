package reliability

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Promise 7: no token in any log line at any level, on failed requests too, with the logger's
// secret filter switched off (so it is the code that never logs one, not the filter hiding it).
func TestNoSecretInAnyLogLineEvenOnFailures(t *testing.T) {
	e := stack.New(t, stack.Options{SlackScale: slackScale, NoRedaction: true, Configure: func(c *bot.Config) { c.LogLevel = "debug" }})
	r := e.StartBot()
	e.Slack.SetError("chat.postMessage", "invalid_auth", 3)
	e.Slack.FailNext("users.list", 2, http.StatusInternalServerError, 0)
	e.PD.FailNext(3, http.StatusBadRequest)
	e.GitHub.FailNext(4, http.StatusUnauthorized)
	e.Send(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"fails a lot"},"slack":{"message":"m"}}}`)
	e.Send(`{"type":"high","body":{"pagerduty":{"title":"rejected by pagerduty"}}}`)
	e.Send(`{"type":"low","githubRepo":"acme/missing","body":{"github":{"title":"no such repo"}}}`)
	e.Send(`not json`)
	e.QueueEmpty(2 * time.Minute)
	if len(e.LogLines(`"level":"error"`)) < 2 || len(e.LogLines(`"level":"warn"`)) < 1 {
		t.Fatal("the failures were not logged: nothing to check")
	}
	r.Stop(t)
	logs := e.Logs.String()
	for name, secret := range map[string]string{
		"SLACK_BOT_TOKEN": e.Config.SlackBotToken, "SLACK_APP_TOKEN": e.Config.SlackAppToken,
		"GITHUB_TOKEN": e.Config.GitHubToken, "PAGERDUTY_ROUTING_KEY": e.Config.PagerDutyKey, "a PagerDuty service key": stack.ServiceKey,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s appears in the log", name)
		}
	}
	t.Logf("%d log lines checked, %d at error level", strings.Count(logs, "\n"), len(e.LogLines(`"level":"error"`)))
}

// The secrets a run obtains beyond its configuration: each installation token a GitHub App mints,
// each line of the App's PEM key, the AWS secret key and session token, the task keys. None
// reaches a log line, with the filter off, while GitHub refuses tokens (forcing re-mints) and
// other services fail.
func TestNoMintedOrDerivedSecretInTheLog(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	const awsSecret, awsSession = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEBYaDexampleSessionToken0123456789"
	a, err := awstest.Start() // the process's one goaws, as the stack's
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := a.AWSConfig()
	awsCfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAEXAMPLEKEYID", awsSecret, awsSession)
	e := stack.New(t, stack.Options{NoRedaction: true, AWS: &awsCfg, Configure: func(c *bot.Config) {
		c.GitHubToken = ""
		c.GitHubAppID, c.GitHubInstallationID, c.GitHubAppKey = 4242, 99, pemKey
	}})
	e.GitHub.SetApp(4242, 99, &key.PublicKey)
	e.GitHub.SetInstallationTokenTTL(2 * time.Minute) // short-lived: re-minted within the run
	r := e.StartBot()
	// Two API calls (not mints) refused 401: the token is dropped and minted again.
	var refused atomic.Int32
	e.GitHub.SetHandlerHook(func(r *http.Request) (int, bool) {
		return http.StatusUnauthorized, !strings.HasPrefix(r.URL.Path, "/app") && refused.Add(1) <= 2 // not the App JWT's own calls (mints, GET /app)
	})
	e.PD.FailNext(2, http.StatusBadRequest)
	e.Send(`{"type":"low","body":{"github":{"title":"filed with a minted token"}}}`)
	e.Send(`{"type":"high","body":{"pagerduty":{"title":"rejected by pagerduty"}}}`)
	e.Send(`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"app alarm"},"slack":{"message":"m"}}}`)
	e.Send(`{"dispatchTask":{"kind":"answer"},"sig":"00"}`)
	e.QueueEmpty(2 * time.Minute)
	r.Stop(t)
	tokens := e.GitHub.MintedTokens()
	if len(tokens) == 0 {
		t.Fatal("no installation token minted: nothing to check")
	}
	logs := e.Logs.String()
	leaks := map[string]string{"the AWS secret key": awsSecret, "the AWS session token": awsSession, "the task key": stack.TaskKey}
	for i, tok := range tokens {
		leaks[fmt.Sprintf("installation token %d", i+1)] = tok
	}
	for i, line := range strings.Split(pemKey, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			leaks[fmt.Sprintf("line %d of the app key", i+1)] = line
		}
	}
	for name, secret := range leaks {
		if strings.Contains(logs, secret) || strings.Contains(logs, strings.ReplaceAll(secret, "/", `\/`)) {
			t.Errorf("%s appears in the log", name)
		}
	}
	t.Logf("%d secrets looked for in %d log lines (%d installation tokens)", len(leaks), strings.Count(logs, "\n"), len(tokens))
}
