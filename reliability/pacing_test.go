package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/pace"
)

// Promise 3: a burst of 500 alarms against GitHub's secondary limits (80 a minute, 500 an hour,
// 900 points a minute, search 30 a minute, here on a clock 60 times faster, the same for the fake
// and for dispatch's pacing): the token is never blocked and no alarm is dropped. The prompts go first when the pacing binds.
func TestA500AlarmBurstNeverCrossesGitHubsLimits(t *testing.T) {
	const scale = 60
	minute, hour := time.Minute/scale, time.Hour/scale
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd, Configure: func(c *bot.Config) {
		c.GitHubLimits = []pace.Window{{Limit: 80, Span: minute}, {Limit: 500, Span: hour}}
		c.LogLevel = "info"
		c.GitHubWatch = 30 * time.Second / scale
	}})
	e.GitHub.SetSecondaryLimits(fakegithub.Window{Limit: 80, Span: minute}, fakegithub.Window{Limit: 500, Span: hour})
	e.GitHub.SetPointsLimit(fakegithub.DefaultPointsPerMinute, minute) // at the same clock
	e.GitHub.SetSearchLimit(30, minute)
	ids, bodies := burst("paced", 500)
	e.StartBot()
	sendAll(t, e, bodies)
	c := settle(t, e, ids, 4*time.Minute)
	report(t, fmt.Sprintf("500-alarm burst under GitHub's limits (x%d)", scale), c, time.Since(start),
		fmt.Sprintf(", GitHub secondary-limit violations %d, content-creating requests %d", e.GitHub.LimitViolations(), e.GitHub.ContentCreatingCalls()))
	if v := e.GitHub.LimitViolations(); v != 0 {
		t.Errorf("dispatch crossed GitHub's secondary limits %d times", v)
	}
}
