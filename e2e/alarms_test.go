package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// The seed README's high-priority example, exactly as printed there: it ends in an extra "}".
func TestSeedHighExamplePagesOnce(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	seed, err := os.ReadFile("../docs/examples/seed-high.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(seed)), "}}}}") {
		t.Fatalf("seed-high.json is not the seed's text: %s", seed)
	}
	e.PublishSNS(string(seed))
	e.QueueEmpty(wait)
	events := e.PD.Events()
	if len(events) != 1 {
		t.Fatalf("got %d PagerDuty events, want 1: %+v", len(events), events)
	}
	if ev := events[0]; ev.Summary != "pagerduty title" || ev.RoutingKey != routingKey || ev.Action != "trigger" {
		t.Errorf("event = %+v", ev)
	}
	if n := len(e.LogLines("trailing characters")); n != 1 {
		t.Errorf("want one warning about the trailing characters, got %d", n)
	}
	if got := len(e.Issues(repo)); got != 0 {
		t.Errorf("a high-priority alarm opened %d issues", got)
	}
}

func TestHighPriorityPagesWithDetailsAndCollapsesRepeats(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	msg := `{"type":"high-priority","body":{"pagerduty":{"title":"root login on prod-db","body":"from 203.0.113.7"}}}`
	e.PublishRaw(msg)
	e.QueueEmpty(wait)
	e.Send(msg) // a repeat of the same alarm, not a redelivery
	e.QueueEmpty(wait)
	incidents := e.PD.Incidents()
	if len(incidents) != 1 {
		t.Fatalf("got %d incidents, want the repeat collapsed into 1: %+v", len(incidents), incidents)
	}
	if in := incidents[0]; in.Summary != "root login on prod-db" || in.Events != 2 || !strings.Contains(string(in.CustomDetails), "203.0.113.7") {
		t.Errorf("incident = %+v (details %s)", in, in.CustomDetails)
	}
}

func TestLowPriorityOpensOneIssueWithMentionAndLabels(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishSNS(`{"type":"low","users":[{"slack":"alice","github":"alice-gh"}],"body":{"github":{"title":"odd sudo use","body":"sudo on bastion","labels":["sev:low","team:infra"]}}}`)
	e.PublishRaw(`{"type":"low-priority","body":{"github":{"title":"nobody named","body":"no users"}}}`)
	e.QueueEmpty(wait)
	issues := e.Issues(repo)
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
	if len(e.PD.Events()) != 0 || len(e.Slack.Messages(fallbackChannel)) != 0 {
		t.Error("a low-priority alarm paged or posted")
	}
}

func TestOverridesRouteToTheirRepoAndService(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	e.PublishRaw(`{"type":"low","githubRepo":"other","body":{"github":{"title":"to the other repo"}}}`)
	e.PublishRaw(`{"type":"low","githubRepo":"acme/other","body":{"github":{"title":"to the other repo, in full"}}}`)
	e.PublishRaw(`{"type":"high","pagerDutyServiceId":"PSERVICE","body":{"pagerduty":{"title":"to the database team"}}}`)
	e.PublishRaw(`{"type":"high","pagerDutyServiceId":"PUNKNOWN","body":{"pagerduty":{"title":"unknown service pages the default"}}}`)
	e.QueueEmpty(wait)
	if n := len(e.Issues(otherRepo)); n != 2 {
		t.Errorf("acme/other has %d issues, want 2", n)
	}
	if n := len(e.Issues(repo)); n != 0 {
		t.Errorf("acme/alarms has %d issues, want 0", n)
	}
	keys := map[string]string{}
	for _, ev := range e.PD.Events() {
		keys[ev.Summary] = ev.RoutingKey
	}
	if keys["to the database team"] != serviceKey {
		t.Errorf("pagerDutyServiceId did not pick its routing key: %v", keys)
	}
	if keys["unknown service pages the default"] != routingKey {
		t.Errorf("an unknown service must page the default service: %v", keys)
	}
	if len(e.LogLines("no routing key for this PagerDuty service")) == 0 {
		t.Error("no warning about the unknown service")
	}
}

func TestRepeatedTitleWithAnOpenIssueOpensNothing(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	for i := range 3 {
		e.PublishRaw(fmt.Sprintf(`{"type":"low","requestId":"r-%d","body":{"github":{"title":"disk almost full"}}}`, i))
	}
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 1 {
		t.Fatalf("got %d issues for one title, want 1", n)
	}
}

func TestRetriggerFalseRespectsClosedIssues(t *testing.T) {
	e := stack.New(t, stack.Options{})
	closed := time.Now().Add(-time.Hour)
	e.GitHub.SeedIssue(repo, fakegithub.Issue{Title: "known false positive", Body: "old", State: "closed", Labels: []string{"dispatch"}, ClosedAt: &closed})
	e.StartBot()
	e.PublishRaw(`{"type":"low","retrigger":false,"body":{"github":{"title":"known false positive"}}}`)
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 1 {
		t.Fatalf("retrigger:false with a closed issue opened a new one (%d issues)", n)
	}
	e.PublishRaw(`{"type":"low","body":{"github":{"title":"known false positive"}}}`)
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 2 {
		t.Fatalf("retrigger default (true) with only a closed issue should open a new one (%d issues)", n)
	}
}

func TestSameMessageTwiceRaisesOnce(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartBot()
	msg := `{"type":"self-service","requestId":"dup-1","users":[{"slack":"alice","github":"alice"}],"body":{"github":{"title":"delivered twice"},"slack":{"message":"did you log in?"}}}`
	e.Send(msg)
	e.QueueEmpty(wait)
	e.Send(msg)
	e.QueueEmpty(wait)
	if n := len(e.Issues(repo)); n != 1 {
		t.Errorf("got %d issues, want 1", n)
	}
	if n := len(e.Slack.DMs("U0ALICE")); n != 1 {
		t.Errorf("got %d DMs, want 1", n)
	}
}
