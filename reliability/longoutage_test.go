package reliability

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// These scenarios depend on awstest counting receives as SQS does and applying the redrive policy
// on that count (maxReceiveCount 5, as deployed): a message handed back too often would land in the
// dead-letter queue and show up as dead-lettered.
//
// outageScale runs the bot's own clock (bot.Options.TimeScale: retry backoff, redelivery delays),
// Slack's tiers (stack.Options.SlackScale, in the fake and in dispatch's pacing) and the outage
// windows 20 times faster together, so a 10-minute outage takes 30 s with the same
// attempts and receive counts. goaws makes hidden messages visible on a one-second tick, which the
// scale does not shrink: the scaled runs are, if anything, harder on the receive count.
const outageScale = 20

// scaled is a duration of the scenario's clock in real time.
func scaled(d time.Duration) time.Duration { return d / outageScale }

// outage is one scenario: a service (as the metrics label it) failing for a while, with alarms
// published before, during and after.
type outage struct {
	name, service string
	length        time.Duration // on the scenario's clock
	start         func(e *stack.Env, d time.Duration)
	alarms        func(scenario string, n int) (ids, bodies []string)
	count         func(e *stack.Env, ids []string) tally
	// noticeAtStart: the outage notice can be posted (not when Slack itself is down).
	noticeAtStart bool
}

func TestGitHub502For10Minutes(t *testing.T) {
	t.Parallel()
	runOutage(t, outage{name: "GitHub 502 for 10 min", service: "github", length: 10 * time.Minute, noticeAtStart: true,
		start:  func(e *stack.Env, d time.Duration) { e.GitHub.SetFailFor(d, http.StatusBadGateway) },
		alarms: burst, count: count})
}

func TestSlack5xxFor10Minutes(t *testing.T) {
	t.Parallel()
	runOutage(t, outage{name: "Slack chat.postMessage 503 for 10 min", service: "slack", length: 10 * time.Minute,
		start: func(e *stack.Env, d time.Duration) {
			e.Slack.FailFor("chat.postMessage", d, http.StatusServiceUnavailable)
		},
		alarms: burst, count: count})
}

func TestPagerDuty5xxFor10Minutes(t *testing.T) {
	t.Parallel()
	runOutage(t, outage{name: "PagerDuty 500 for 10 min", service: "pagerduty", length: 10 * time.Minute, noticeAtStart: true,
		start:  func(e *stack.Env, d time.Duration) { e.PD.SetFailFor(d, http.StatusInternalServerError) },
		alarms: pages, count: countPages})
}

// pages are high-priority alarms, each its own PagerDuty incident.
func pages(scenario string, n int) (ids, bodies []string) {
	for i := range n {
		id := fmt.Sprintf("rel-%s-%d", scenario, i)
		ids = append(ids, id)
		bodies = append(bodies, fmt.Sprintf(`{"type":"high","requestId":%q,"body":{"pagerduty":{"title":"page %s"}}}`, id, id))
	}
	return ids, bodies
}

// countPages: a page is handled when its incident (found by its summary, "page ID") exists with
// exactly one event.
func countPages(e *stack.Env, ids []string) tally {
	events := map[string]int{}
	for _, in := range e.PD.Incidents() {
		events[strings.TrimPrefix(in.Summary, "page ")] += in.Events
	}
	c := tally{published: len(ids)}
	for _, id := range ids {
		switch n := events[id]; {
		case n == 0:
			c.lost++
		case n == 1:
			c.handled++
		default:
			c.handled++
			c.duplicated++
		}
	}
	return c
}

var serviceUp = regexp.MustCompile(`(?m)^dispatch_service_up\{service="(\w+)"\} (\d+)`)
var waitingGauge = regexp.MustCompile(`(?m)^dispatch_alarms_waiting (\d+)`)

// metric reads dispatch_service_up for service and dispatch_alarms_waiting from /metrics.
func metric(e *stack.Env, r *stack.Replica, service string) (up bool, waiting int) {
	_, body := e.HTTPGet(r, "/metrics")
	up = true
	for _, m := range serviceUp.FindAllStringSubmatch(body, -1) {
		if m[1] == service {
			up = m[2] == "1"
		}
	}
	if m := waitingGauge.FindStringSubmatch(body); m != nil {
		waiting, _ = strconv.Atoi(m[1])
	}
	return up, waiting
}

// runOutage publishes 30 alarms, breaks the service, publishes 30 during the outage, checks what
// the bot says while it lasts, publishes 30 after, and counts.
func runOutage(t *testing.T, o outage) {
	began := time.Now()
	e := stack.New(t, stack.Options{Users: crowd, TimeScale: outageScale, SlackScale: outageScale})
	scenario := strings.Fields(o.name)[0] + "outage"
	ids, bodies := o.alarms(scenario, 90)
	r := e.StartBot()
	sendAll(t, e, bodies[:30])
	e.Eventually("the alarms published before", 2*time.Minute, func() bool { return o.count(e, ids[:30]).handled == 30 })

	o.start(e, scaled(o.length))
	end := time.Now().Add(scaled(o.length))
	sendAll(t, e, bodies[30:60])
	var waiting int
	e.Eventually(o.service+" reported down, alarms waiting", scaled(o.length), func() bool {
		up, w := metric(e, r, o.service)
		waiting = max(waiting, w)
		return !up && w > 0
	})
	if code, body := e.HTTPGet(r, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz during the %s outage: %d %s, want 200 (the bot is healthy)", o.service, code, body)
	}
	name := map[string]string{"github": "GitHub", "slack": "Slack", "pagerduty": "PagerDuty"}[o.service]
	if st := e.Slash("U0ALICE", "status").Text; !strings.Contains(st, name+": *failing*") || !strings.Contains(st, "Alarms waiting to be retried: ") ||
		strings.Contains(st, "Alarms waiting to be retried: 0\n") {
		t.Errorf("/dispatch status during the %s outage does not name it with the waiting alarms:\n%s", name, st)
	}
	e.Eventually("the outage to end", time.Until(end)+time.Minute, func() bool {
		up, w := metric(e, r, o.service)
		waiting = max(waiting, w)
		return up && time.Now().After(end)
	})
	back := time.Now()
	sendAll(t, e, bodies[60:])
	e.Eventually("the alarms published before and during the outage", 2*time.Minute, func() bool { return o.count(e, ids[:60]).lost == 0 })
	drained := time.Since(back)

	deadline := time.Now().Add(3 * time.Minute)
	for o.count(e, ids).lost > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	e.QueueEmpty(time.Until(deadline))
	c := o.count(e, ids)
	c.deadLettered = deadLettered(t, e, ids)

	var failing, recovered int
	e.Eventually("the recovery notice", stack.Wait, func() bool {
		failing, recovered = 0, 0
		for _, m := range e.Slack.Messages(stack.FallbackChannel) {
			text := m.Text + string(m.Blocks)
			if strings.Contains(text, name+" is failing") {
				failing++
			}
			if strings.Contains(text, name+" answers again") {
				recovered++
			}
		}
		return recovered > 0
	})
	if recovered != 1 || failing > 1 || (o.noticeAtStart && failing != 1) {
		t.Errorf("fallback channel: %d outage notices and %d recovery notices for %s, want one each (the first only if Slack is up)", failing, recovered, name)
	}
	resent := len(e.LogLines("re-sent as a fresh copy"))
	report(t, o.name+fmt.Sprintf(" (x%d)", outageScale), c, time.Since(began),
		fmt.Sprintf(", up to %d waiting, backlog handled %.1fs after recovery, %d fresh copies re-sent, notices %d+%d",
			waiting, drained.Seconds(), resent, failing, recovered))
}

// TestSQSReceiveFailingFor2Minutes: receives fail; the bot backs off, says it is not ready, and
// picks everything up when SQS answers again.
func TestSQSReceiveFailingFor2Minutes(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := stack.New(t, stack.Options{Users: crowd, TimeScale: outageScale, SlackScale: outageScale})
	ids, bodies := burst("sqsoutage", 90)
	r := e.StartBot()
	sendAll(t, e, bodies[:30])
	e.Eventually("the alarms published before", 2*time.Minute, func() bool { return count(e, ids[:30]).handled == 30 })
	length := scaled(2 * time.Minute)
	e.AWS.FailReceives(e.Queue.URL, length)
	end := time.Now().Add(length)
	sendAll(t, e, bodies[30:60])
	e.Eventually("/readyz to say not ready", length, func() bool { code, _ := e.HTTPGet(r, "/readyz"); return code == http.StatusServiceUnavailable })
	e.Eventually("/readyz ready again", time.Until(end)+stack.Wait, func() bool {
		code, _ := e.HTTPGet(r, "/readyz")
		return code == http.StatusOK && time.Now().After(end)
	})
	sendAll(t, e, bodies[60:])
	c := settle(t, e, ids, 3*time.Minute)
	report(t, fmt.Sprintf("SQS receive failing for 2 min (x%d)", outageScale), c, time.Since(began), "")
}

// TestCrashLoopDuringABurst: SIGKILL every 2 s, 10 times, while a 300-alarm burst is handled and
// GitHub answers slowly (0.7 s a call), so that most work is cut off: every kill leaves the messages
// in flight to come back after the visibility timeout (5 s), one receive more each time. The bot
// re-sends a message as a fresh copy once its receive count is one short of maxReceiveCount, so
// none reaches the dead-letter queue.
func TestCrashLoopDuringABurst(t *testing.T) {
	began := time.Now()
	e := crashStack(t)
	ids, bodies := burst("crashloop", 300)
	sendAll(t, e, bodies)
	e.GitHub.SetLatency(700 * time.Millisecond)
	for range 10 {
		p := e.StartProcess() // returns once it serves
		kill := time.NewTimer(2 * time.Second)
		<-kill.C // the crash loop's own rhythm, not a wait for something to happen
		p.Kill()
	}
	e.GitHub.SetLatency(0)
	e.StartProcess()
	c := settle(t, e, ids, 3*time.Minute)
	resent := len(e.LogLines("re-sent as a fresh copy"))
	report(t, "SIGKILL every 2 s, 10 times, in a 300-alarm burst", c, time.Since(began),
		fmt.Sprintf(", highest receive count %d, %d fresh copies re-sent", highestReceiveCount(e), resent))
	if resent == 0 {
		t.Error("no message came near maxReceiveCount: the crash loop did not test what it should")
	}
}

// highestReceiveCount is the highest receive count in the bot's log (every line about a message
// carries it).
func highestReceiveCount(e *stack.Env) int {
	most := 0
	for _, l := range e.LogLines(`"receive_count":`) {
		if n, ok := l["receive_count"].(float64); ok {
			most = max(most, int(n))
		}
	}
	return most
}

// TestALateAlarmSaysHowLate: an alarm SNS accepted 14 minutes ago (the envelope's Timestamp) is
// DMed with "published 14 min ago"; one on time says nothing of the sort.
func TestALateAlarmSaysHowLate(t *testing.T) {
	t.Parallel()
	e := stack.New(t, stack.Options{Users: crowd})
	_, late := selfService("late", 0)
	_, onTime := selfService("late", 1)
	envelope := func(id, body string, at time.Time) string {
		return fmt.Sprintf(`{"Type":"Notification","MessageId":%q,"TopicArn":%q,"Message":%q,"Timestamp":%q}`,
			id, e.SNSTopic, body, at.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	e.StartBot()
	sendAll(t, e, []string{
		envelope("6b1e2f4a-late", late, time.Now().Add(-14*time.Minute-20*time.Second)),
		envelope("6b1e2f4a-ontime", onTime, time.Now()),
	})
	lateDM, onTimeDM := e.DM(crowd[0].ID, 1), e.DM(crowd[1].ID, 1)
	if text := lateDM.Text + string(lateDM.Blocks); !strings.Contains(text, "published 14 min ago") {
		t.Errorf("the late alarm's DM does not say how late it is:\n%s", text)
	}
	if text := onTimeDM.Text + string(onTimeDM.Blocks); strings.Contains(text, "published ") {
		t.Errorf("the alarm on time says it is late:\n%s", text)
	}
}
