package reliability

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// recoveryScale runs the bot's clock, Slack's tiers and the outage 4 times faster: slow enough that
// goaws's one-second visibility tick, which the scale does not shrink, stays well inside the bound.
const recoveryScale = 4

// TestWaitingAlarmsMoveWithin15sOfRecovery: GitHub answers 502 for 150 s while alarms arrive, at
// its start (they fail, retry and are handed back with growing delays) and all through it (they
// wait without calling GitHub). Once GitHub answers again, every one of them is handled within
// 15 s: the promise, on the scenario's clock.
func TestWaitingAlarmsMoveWithin15sOfRecovery(t *testing.T) {
	t.Parallel()
	sc := func(d time.Duration) time.Duration { return d / recoveryScale }
	e := stack.New(t, stack.Options{Users: crowd, TimeScale: recoveryScale, SlackScale: recoveryScale})
	ids, bodies := burst("recovery", 10)
	r := e.StartBot()
	length := sc(150 * time.Second)
	e.GitHub.SetFailFor(length, http.StatusBadGateway)
	end := time.Now().Add(length)
	sendAll(t, e, bodies[:5]) // they fail and retry, into the longest redelivery delays
	e.Eventually("GitHub reported down", length, func() bool { up, _ := metric(e, r, "github"); return !up })
	for i := 5; i < len(bodies); i++ { // through the outage: they wait without calling GitHub
		sendAll(t, e, bodies[i:i+1])
		time.Sleep(length / 8) // the publisher's rhythm, spread over the outage
	}
	maxWaiting := 0
	for time.Now().Before(end) { // the outage ends on the clock
		if _, w := metric(e, r, "github"); w > maxWaiting {
			maxWaiting = w
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The fake refuses every call until end, so nothing can be handled before it; what the
	// scenario must show is that alarms were waiting (not calling GitHub) when it ended.
	// Counting handled alarms here raced the recovery on a loaded machine.
	if maxWaiting == 0 {
		t.Fatal("no alarm was reported waiting during the outage: the scenario did not keep them waiting")
	}
	e.Eventually("every waiting alarm handled", 2*time.Minute, func() bool { return count(e, ids).handled == len(ids) })
	took := time.Since(end) * recoveryScale
	c := settle(t, e, ids, time.Minute)
	report(t, fmt.Sprintf("GitHub 502 for 150 s, then recovery (x%d)", recoveryScale), c, time.Since(end),
		fmt.Sprintf(", every waiting alarm handled %.1fs after GitHub answered again (scenario clock)", took.Seconds()))
	if took > 15*time.Second {
		t.Errorf("the waiting alarms were handled %s after GitHub answered again, want within 15s", took.Round(100*time.Millisecond))
	}
}
