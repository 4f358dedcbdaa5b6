package reliability

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Promise 7: no token in any log line at any level, on failed requests too, with the logger's
// secret filter switched off (so it is the code that never logs one, not the filter hiding it).
func TestNoSecretInAnyLogLineEvenOnFailures(t *testing.T) {
	e := stack.New(t, stack.Options{SlackScale: slackScale, NoRedaction: true, DLQ: true, Configure: func(c *bot.Config) { c.LogLevel = "debug" }})
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
