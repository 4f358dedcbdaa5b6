package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// lowPriority are issue-only alarms: one content-creating request each.
func lowPriority(scenario string, n int) (ids, bodies []string) {
	for i := range n {
		id := fmt.Sprintf("rel-%s-%d", scenario, i)
		ids = append(ids, id)
		bodies = append(bodies, fmt.Sprintf(`{"type":"low","requestId":%q,"body":{"github":{"title":"budget %s %d"}}}`, id, scenario, i))
	}
	return ids, bodies
}

// TestARefusalSlowsEveryReplica: two replicas whose own pacing allows far more than the
// credential's limit (an autoscaler added replicas without raising DISPATCH_REPLICAS). GitHub
// counts the limit per credential, so once it is exceeded it refuses every replica's next write
// with its own 403 and Retry-After; each replica then holds all its writes for that long instead
// of having each of its workers refused in turn. The replicas carry their own tokens, which the
// fake counts as one credential, so its log tells them apart. (go-github itself refuses a
// client's requests until a secondary limit's Retry-After has passed, and the retries wait it out.)
func TestARefusalSlowsEveryReplica(t *testing.T) {
	t.Parallel()
	const limit, span = 10, 4 * time.Second
	e := stack.New(t, stack.Options{Users: crowd})
	e.GitHub.SetSecondaryLimits(fakegithub.Window{Limit: limit, Span: span})
	const second = "ghp_replica_two"
	e.GitHub.AddToken(second)
	e.StartBot()
	e.Config.GitHubToken = second
	e.StartBot()
	ids, bodies := lowPriority("refusal", 40)
	// Alarms keep coming while the replicas are told to wait: each must wait too, not try its luck.
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for i := range bodies {
		sendAll(t, e, bodies[i:i+1])
		<-tick.C // the publisher's rhythm, not a wait for dispatch
	}
	e.Eventually("every alarm's issue", 2*time.Minute, func() bool { return e.GitHub.IssueCount(stack.Repo) >= len(ids) })

	if n := e.GitHub.IssueCount(stack.Repo); n != len(ids) {
		t.Errorf("%d issues for %d alarms", n, len(ids))
	}
	// A write already on its way when the first refusal came may still arrive just after it.
	const inFlight = 250 * time.Millisecond
	byToken := map[string][]fakegithub.Write{}
	refused := 0
	for _, w := range e.GitHub.Writes() {
		byToken[w.Token] = append(byToken[w.Token], w)
		if w.Refused {
			refused++
		}
	}
	for _, tok := range []string{stack.GitHubToken, second} {
		ws := byToken[tok]
		refusals := 0
		for i, r := range ws {
			if !r.Refused {
				continue
			}
			refusals++
			for _, w := range ws[i+1:] {
				if w.At.After(r.At.Add(inFlight)) && w.At.Before(r.At.Add(r.RetryAfter-inFlight)) {
					t.Fatalf("replica with %s: a write %s after a refusal that asked for %s: it did not back off",
						tok, w.At.Sub(r.At).Round(time.Millisecond), r.RetryAfter)
				}
			}
		}
		if refusals == 0 {
			t.Errorf("replica with %s: never refused; the alarms did not reach it past the limit (%d writes)", tok, len(ws))
		}
	}
	t.Logf("%d writes, %d refused (replica one %d writes, replica two %d)", len(e.GitHub.Writes()), refused, len(byToken[stack.GitHubToken]), len(byToken[second]))
}
