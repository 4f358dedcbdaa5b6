package reliability

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Promise 1: GitHub answers 502 to everything for 20 s in the middle of a burst.
func TestGitHubDownFor20Seconds(t *testing.T) {
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd})
	ids, bodies := burst("github502", 100)
	e.StartBot()
	sendAll(t, e, bodies[:20])
	e.Eventually("the first alarms", stack.Wait, func() bool { return prompts(e) >= 5 })
	e.GitHub.SetFailFor(20*time.Second, http.StatusBadGateway)
	sendAll(t, e, bodies[20:])
	c := settle(t, e, ids, 3*time.Minute)
	report(t, "GitHub 502 for 20 s", c, time.Since(start), "")
}

// Promise 1: Slack closes the socket mid-burst (dropped, then a disconnect): the clicks still land.
func TestSlackClosesTheSocketMidBurst(t *testing.T) {
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd, SlackRedeliverAfter: 2 * time.Second})
	ids, bodies := burst("socket", 60)
	e.StartBot()
	cl := startClicker(t, e)
	sendAll(t, e, bodies)
	e.Eventually("20 clicks", time.Minute, func() bool { return cl.clicks() >= 20 })
	e.Slack.DropConnections()
	e.Eventually("40 clicks", time.Minute, func() bool { return cl.clicks() >= 40 })
	e.Slack.Disconnect("refresh_requested")
	c := settle(t, e, ids, 2*time.Minute)
	answeredOnce(t, e, cl, len(ids))
	if e.Slack.Opens() < 3 {
		t.Errorf("%d socket mode connections opened, want a reconnect after the drop and after the disconnect", e.Slack.Opens())
	}
	report(t, "Slack closes the socket mid-burst", c, time.Since(start), fmt.Sprintf(", %d clicks answered once", cl.clicks()))
}

// Promise 3: 429s from Slack, GitHub and PagerDuty are waited out, not fought, and lose nothing.
func TestRateLimitedBySlackGitHubAndPagerDuty(t *testing.T) {
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd})
	e.Slack.FailNext("chat.postMessage", 10, http.StatusTooManyRequests, time.Second)
	e.Slack.FailNext("conversations.open", 3, http.StatusTooManyRequests, time.Second)
	var githubLimited atomic.Int32
	e.GitHub.SetHandlerHook(func(r *http.Request) (int, bool) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/issues") && githubLimited.Add(1) <= 10 {
			return http.StatusTooManyRequests, true
		}
		return 0, false
	})
	e.PD.FailNext(5, http.StatusTooManyRequests)
	ids, bodies := burst("ratelimit", 60)
	var pages []string
	for i := range 20 {
		pages = append(pages, fmt.Sprintf(`{"type":"high","requestId":"rel-page-%d","body":{"pagerduty":{"title":"page %d"}}}`, i, i))
	}
	e.StartBot()
	sendAll(t, e, append(bodies, pages...))
	c := settle(t, e, ids, 3*time.Minute)
	e.Eventually("20 incidents", time.Minute, func() bool { return len(e.PD.Incidents()) == 20 })
	pc := tally{published: 20}
	for _, in := range e.PD.Incidents() {
		if in.Events == 1 {
			pc.handled++
		} else {
			pc.duplicated++
		}
	}
	c.published, c.handled, c.duplicated = c.published+pc.published, c.handled+pc.handled, c.duplicated+pc.duplicated
	report(t, "Slack, GitHub and PagerDuty 429s", c, time.Since(start),
		fmt.Sprintf(", GitHub secondary-limit violations %d", e.GitHub.LimitViolations()))
	if e.GitHub.LimitViolations() != 0 {
		t.Error("dispatch crossed GitHub's limits")
	}
}
