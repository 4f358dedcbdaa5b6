package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
)

const wait = 20 * time.Second

// The seed README's high-priority example, exactly as printed there: it ends in an extra "}".
func TestSeedHighExamplePagesOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	seed, err := os.ReadFile("../docs/examples/seed-high.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(seed)), "}}}}") {
		t.Fatalf("seed-high.json is not the seed's text: %s", seed)
	}
	e.publishSNS(string(seed))
	e.queueEmpty(wait)
	events := e.pd.Events()
	if len(events) != 1 {
		t.Fatalf("got %d PagerDuty events, want 1: %+v", len(events), events)
	}
	if ev := events[0]; ev.Summary != "pagerduty title" || ev.RoutingKey != routingKey || ev.Action != "trigger" {
		t.Errorf("event = %+v", ev)
	}
	if n := len(e.logLines("trailing characters")); n != 1 {
		t.Errorf("want one warning about the trailing characters, got %d", n)
	}
	if got := len(e.issues(repo)); got != 0 {
		t.Errorf("a high-priority alarm opened %d issues", got)
	}
}

func TestHighPriorityPagesWithDetailsAndCollapsesRepeats(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	msg := `{"type":"high-priority","body":{"pagerduty":{"title":"root login on prod-db","body":"from 203.0.113.7"}}}`
	e.publishRaw(msg)
	e.queueEmpty(wait)
	e.send(msg) // a repeat of the same alarm, not a redelivery
	e.queueEmpty(wait)
	incidents := e.pd.Incidents()
	if len(incidents) != 1 {
		t.Fatalf("got %d incidents, want the repeat collapsed into 1: %+v", len(incidents), incidents)
	}
	if in := incidents[0]; in.Summary != "root login on prod-db" || in.Events != 2 || !strings.Contains(string(in.CustomDetails), "203.0.113.7") {
		t.Errorf("incident = %+v (details %s)", in, in.CustomDetails)
	}
}

func TestLowPriorityOpensOneIssueWithMentionAndLabels(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishSNS(`{"type":"low","users":[{"slack":"alice","github":"alice-gh"}],"body":{"github":{"title":"odd sudo use","body":"sudo on bastion","labels":["sev:low","team:infra"]}}}`)
	e.publishRaw(`{"type":"low-priority","body":{"github":{"title":"nobody named","body":"no users"}}}`)
	e.queueEmpty(wait)
	issues := e.issues(repo)
	if len(issues) != 2 {
		t.Fatalf("got %d issues, want 2", len(issues))
	}
	byTitle := map[string]fakegithub.Issue{}
	for _, is := range issues {
		byTitle[is.Title] = is
	}
	named := byTitle["odd sudo use"]
	if !strings.Contains(named.Body, "@alice-gh") || !strings.Contains(named.Body, "sudo on bastion") {
		t.Errorf("issue body lacks the mention or the text:\n%s", named.Body)
	}
	for _, l := range []string{"dispatch", "sev:low", "team:infra"} {
		if !slices.Contains(named.Labels, l) {
			t.Errorf("labels %v lack %q", named.Labels, l)
		}
	}
	if body := byTitle["nobody named"].Body; !strings.Contains(body, "@acme/security") {
		t.Errorf("an alarm without users should mention GITHUB_DEFAULT_USER:\n%s", body)
	}
	if len(e.pd.Events()) != 0 || len(e.slack.Messages(fallbackChannel)) != 0 {
		t.Error("a low-priority alarm paged or posted")
	}
}

func TestOverridesRouteToTheirRepoAndService(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	e.publishRaw(`{"type":"low","githubRepo":"other","body":{"github":{"title":"to the other repo"}}}`)
	e.publishRaw(`{"type":"low","githubRepo":"acme/other","body":{"github":{"title":"to the other repo, in full"}}}`)
	e.publishRaw(`{"type":"high","pagerDutyServiceId":"PSERVICE","body":{"pagerduty":{"title":"to the database team"}}}`)
	e.publishRaw(`{"type":"high","pagerDutyServiceId":"PUNKNOWN","body":{"pagerduty":{"title":"unknown service pages the default"}}}`)
	e.queueEmpty(wait)
	if n := len(e.issues(otherRepo)); n != 2 {
		t.Errorf("acme/other has %d issues, want 2", n)
	}
	if n := len(e.issues(repo)); n != 0 {
		t.Errorf("acme/alarms has %d issues, want 0", n)
	}
	keys := map[string]string{}
	for _, ev := range e.pd.Events() {
		keys[ev.Summary] = ev.RoutingKey
	}
	if keys["to the database team"] != serviceKey {
		t.Errorf("pagerDutyServiceId did not pick its routing key: %v", keys)
	}
	if keys["unknown service pages the default"] != routingKey {
		t.Errorf("an unknown service must page the default service: %v", keys)
	}
	if len(e.logLines("no routing key for this PagerDuty service")) == 0 {
		t.Error("no warning about the unknown service")
	}
}

func TestRepeatedTitleWithAnOpenIssueOpensNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	for i := range 3 {
		e.publishRaw(fmt.Sprintf(`{"type":"low","requestId":"r-%d","body":{"github":{"title":"disk almost full"}}}`, i))
	}
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 1 {
		t.Fatalf("got %d issues for one title, want 1", n)
	}
}

func TestRetriggerFalseRespectsClosedIssues(t *testing.T) {
	e := newEnv(t, envOptions{})
	closed := time.Now().Add(-time.Hour)
	e.github.SeedIssue(repo, fakegithub.Issue{Title: "known false positive", Body: "old", State: "closed", Labels: []string{"dispatch"}, ClosedAt: &closed})
	e.startBot()
	e.publishRaw(`{"type":"low","retrigger":false,"body":{"github":{"title":"known false positive"}}}`)
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 1 {
		t.Fatalf("retrigger:false with a closed issue opened a new one (%d issues)", n)
	}
	e.publishRaw(`{"type":"low","body":{"github":{"title":"known false positive"}}}`)
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 2 {
		t.Fatalf("retrigger default (true) with only a closed issue should open a new one (%d issues)", n)
	}
}

func TestSameMessageTwiceRaisesOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startBot()
	msg := `{"type":"self-service","requestId":"dup-1","users":[{"slack":"alice","github":"alice"}],"body":{"github":{"title":"delivered twice"},"slack":{"message":"did you log in?"}}}`
	e.send(msg)
	e.queueEmpty(wait)
	e.send(msg)
	e.queueEmpty(wait)
	if n := len(e.issues(repo)); n != 1 {
		t.Errorf("got %d issues, want 1", n)
	}
	if n := len(e.slack.DMs("U0ALICE")); n != 1 {
		t.Errorf("got %d DMs, want 1", n)
	}
}

// waitFor is a context with the usual deadline.
func waitFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
