package deploy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// A running bot (against goaws and the fakes) serves the gauges the alert rules and the dashboard
// are built on, with the values they mean: it is ready, connected, and its dead-letter queue holds
// the message it just rejected; GitHub's primary limit is read off its answers.
func TestRunningBotServesTheStateGauges(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := e.StartBot()
	e.Send(`{"type":"nope"}`)
	e.QueueEmpty(stack.Wait)
	want := map[string]string{
		"dispatch_ready":                    "1",
		"dispatch_slack_connected":          "1",
		"dispatch_queue_messages":           "0",
		"dispatch_queue_messages_in_flight": "0",
		"dispatch_dead_letter_messages":     "1",
		"dispatch_github_rate_limit":        "5000", // GitHub's primary limit, from its answers' headers
	}
	sample := regexp.MustCompile(`(?m)^([a-z_]+) (\S+)$`)
	var last map[string]string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last scrape's dispatch_ samples: %s", strings.Join(keys(last, "dispatch_"), " "))
		}
	})
	// The queues' depth is read at most every 15 s, so the first scrape may predate the rejection.
	e.Eventually("/metrics shows the bot ready and the rejected message dead-lettered", stack.Wait, func() bool {
		_, body := e.HTTPGet(r, "/metrics")
		last = map[string]string{}
		for _, m := range sample.FindAllStringSubmatch(body, -1) {
			last[m[1]] = m[2]
		}
		for name, v := range want {
			if last[name] != v {
				return false
			}
		}
		return true
	})
}

// keys lists m's entries whose name has the prefix, as name=value.
func keys(m map[string]string, prefix string) []string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k+"="+v)
		}
	}
	return out
}
