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
		c.GitHubPoints = []pace.Window{{Limit: fakegithub.DefaultPointsPerMinute, Span: minute}}
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

// Two replicas told DISPATCH_REPLICAS=2, sharing one GitHub token, drain a burst of 120
// issue-creating alarms (GitHub's limits and the fake's on a clock 5 times faster): together they
// never make more than 80 content-creating requests in any minute, are never refused, and take no
// more than 1.25 times what the limit allows (80 at once, the other 40 a minute later).
func TestTwoReplicasShareGitHubsContentLimit(t *testing.T) {
	const scale, n, limit = 5, 120, 80
	minute, hour := time.Minute/scale, time.Hour/scale
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd, Configure: func(c *bot.Config) {
		c.GitHubLimits = []pace.Window{{Limit: limit, Span: minute}, {Limit: 500, Span: hour}}
		c.GitHubPoints = []pace.Window{{Limit: fakegithub.DefaultPointsPerMinute, Span: minute}}
		c.Replicas = 2
		c.LogLevel = "info"
	}})
	e.GitHub.SetSecondaryLimits(fakegithub.Window{Limit: limit, Span: minute}, fakegithub.Window{Limit: 500, Span: hour})
	e.GitHub.SetPointsLimit(fakegithub.DefaultPointsPerMinute, minute)
	ids, bodies := burst("shared", n)
	e.StartBot()
	e.StartBot()
	sendAll(t, e, bodies)
	c := settle(t, e, ids, 2*time.Minute)

	writes := e.GitHub.Writes()
	var at []time.Time
	for _, w := range writes {
		if w.Refused {
			t.Errorf("the fake refused a write at %s: the replicas together passed the limit", w.At.Format(time.StampMilli))
			continue
		}
		at = append(at, w.At)
	}
	most := 0
	for i := range at {
		j := i
		for j < len(at) && at[j].Sub(at[i]) < minute {
			j++
		}
		most = max(most, j-i)
	}
	if most > limit {
		t.Errorf("%d content-creating requests within one minute (scaled), want at most %d", most, limit)
	}
	if len(at) < n {
		t.Fatalf("%d writes for %d issues", len(at), n)
	}
	took := at[len(at)-1].Sub(at[0])
	allowed := time.Duration((n-1)/limit) * minute // the 81st waits a minute after the first
	if took > allowed*5/4 {
		t.Errorf("the writes took %s, more than 1.25 times the %s the limit allows", took, allowed)
	}
	report(t, fmt.Sprintf("two replicas share GitHub's limit, 120 alarms (x%d)", scale), c, took,
		fmt.Sprintf(", writes %d, at most %d in a minute, %.2f of the time the limit allows", len(at), most, float64(took)/float64(allowed)))
}
