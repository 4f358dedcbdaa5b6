package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// handWritten are hostile messages a person would try.
func handWritten() []string {
	deep := strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000)
	wide := `{"type":"broadcast","users":[` + strings.TrimSuffix(strings.Repeat(`{"slack":"alice"},`, 500), ",") + `],"body":{"github":{"title":"wide"},"slack":{"message":"m"}}}`
	huge := `{"type":"low","body":{"github":{"title":"huge","body":"` + strings.Repeat("A", 250*1024) + `"}}}`
	return []string{
		``, ` `, `null`, `true`, `0`, `"string"`, `[]`, `[{}]`, `{}`, `{"type":null}`,
		`{"type":"self-service"}`, `{"type":"SELF-SERVICE","users":[{"slack":"alice"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":["high"]}`, `{"type":{"$ne":null}}`, `{"type":"high","body":"pagerduty"}`, `{"type":"high","body":{"pagerduty":{"title":7}}}`,
		`{"type":"low","body":{"github":{"title":"t","labels":"bug"}}}`, `{"type":"low","body":{"github":{"title":"t","labels":[null]}}}`,
		`{"type":"low","retrigger":"false","body":{"github":{"title":"t"}}}`, `{"type":"low","githubRepo":"../../etc/passwd","body":{"github":{"title":"t"}}}`,
		`{"type":"low","githubRepo":"a/b/c","body":{"github":{"title":"t"}}}`, `{"type":"low","requestId":"<script>","body":{"github":{"title":"t"}}}`,
		`{"type":"self-service","users":[{"slack":7}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":"self-service","users":[{}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":"self-service","users":[{"github":"a b"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":"self-service","remindAfter":"-1s","users":[{"slack":"alice"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		`{"type":"self-service","escalateAfter":"9999h","users":[{"slack":"alice"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`,
		"{\"type\":\"low\",\"body\":{\"github\":{\"title\":\"nul \\u0000 byte\"}}}",
		"{\"type\":\"low\",\"body\":{\"github\":{\"title\":\"control \u0007\u001b[31m chars\"}}}", // valid: shown, not interpreted
		`{"type":"low","body":{"github":{"title":"   "}}}`, `{"type":"low","body":{"github":{"title":"` + strings.Repeat("é", 300) + `"}}}`,
		`{"type":"high","body":{"pagerduty":{"title":"` + strings.Repeat("x", 1100) + `"}}}`,
		deep, wide, huge, `{"type":"low"` + strings.Repeat(" ", 1000), `{"type":"low",}`, `{'type':'low'}`, `{"type":"low"}{"type":"high"}`,
		`{"Type":"Notification","MessageId":"x","Message":"{\"type\":\"nope\"}"}`, `{"Type":"Notification","MessageId":"x","Message":{"type":"low"}}`,
		`{"Type":"Notification","MessageId":"x","Message":"` + strings.Repeat("\\\"", 100) + `"}`, `{"Type":"UnsubscribeConfirmation"}`,
		`{"dispatchTask":{"kind":"answer","answer":{"yes":true}},"sig":"forged"}`, `{"dispatchTask":"x"}`,
		// Valid alarms with hostile text: handled, escaped.
		`{"type":"low","body":{"github":{"title":"<!channel> @here **bold** [link](javascript:alert(1))","body":"<img src=x onerror=alert(1)>"}}}`,
		`{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"injection in the DM"},"slack":{"message":"<!everyone> <@U0BOB> <https://evil.example|click me> *_~` + "`" + `","prompt":"<!here>","actions":{"yes":"<!channel>","no":"` + strings.Repeat("N", 500) + `"}}}}`,
	}
}

// timers are an example's remindAfter and escalateAfter: a valid alarm keeping one leaves its
// reminder on the queue as a task delayed for minutes, which the corpus test's drain would wait for.
var timers = regexp.MustCompile(`,\s*"(remindAfter|escalateAfter)":\s*"[^"]*"`)

// generated mutates the examples (less their timers): truncations, byte flips, swapped types,
// deterministically.
func generated(t *testing.T, n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	var seeds []string
	for _, name := range []string{"self-service.json", "broadcast.json", "high-priority.json", "low-priority.json", "nag.json"} {
		seeds = append(seeds, timers.ReplaceAllString(stack.Example(t, name), ""))
	}
	swaps := []string{`null`, `true`, `42`, `[]`, `{}`, `"x"`, `[1,2]`, `-1e999`}
	var out []string
	for i := 0; len(out) < n; i++ {
		s := seeds[i%len(seeds)]
		switch i % 4 {
		case 0: // truncate
			out = append(out, s[:rng.IntN(len(s))])
		case 1: // flip a few bytes into control characters or quotes
			b := []byte(s)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = []byte{0x01, '"', '{', '}', ',', 0x7f, '\\'}[rng.IntN(7)]
			}
			out = append(out, string(b))
		default: // replace one field's value with another type
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) != nil {
				continue
			}
			keys := []string{"type", "users", "body", "retrigger", "requestId", "githubRepo", "remindAfter"}
			var v any
			_ = json.Unmarshal([]byte(swaps[rng.IntN(len(swaps))]), &v)
			m[keys[rng.IntN(len(keys))]] = v
			b, _ := json.Marshal(m)
			out = append(out, string(b))
		}
	}
	return out
}

// Promise 6: a corpus of hostile messages, valid alarms between them. None crashes or stalls the
// bot; each is rejected with a reason or handled; the valid ones all pass.
func TestHostileCorpus(t *testing.T) {
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd})
	corpus := append(handWritten(), generated(t, 200)...)
	// What each should come to, by dispatch's own spec (the fakes know nothing of it).
	wantRejected := 0
	for _, m := range corpus {
		u, err := sqsqueue.Unwrap([]byte(m), "x", nil, time.Now())
		if err == nil && u.Task == nil {
			_, _, err = alerts.Decode(u.Payload)
		}
		if err != nil {
			wantRejected++
		}
	}
	r := e.StartBot()
	var ids, bodies []string
	for i, m := range corpus {
		if i%10 == 0 {
			id, body := selfService("hostile", i)
			ids, bodies = append(ids, id), append(bodies, body)
		}
		bodies = append(bodies, m)
	}
	for _, b := range bodies {
		if b == "" {
			continue // SQS refuses an empty body
		}
		e.Send(b)
	}
	empty := 0
	for _, b := range corpus {
		if b == "" {
			empty++
		}
	}
	c := settle(t, e, ids, 3*time.Minute)
	dead := 0
	e.Eventually("the rejected to reach the dead-letter queue", time.Minute, func() bool {
		got, _ := e.AWS.Drain(context.Background(), e.Queue.DLQURL)
		dead += len(got)
		return dead >= wantRejected-empty && dead == len(e.LogLines(`"alarm rejected"`))
	})
	if code, _ := e.HTTPGet(r, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d after the corpus", code)
	}
	// Every message is accounted for: handled, or rejected and dead-lettered. A few valid by the
	// spec are rejected too, for what only routing finds (a repository that doesn't exist).
	rejected := len(e.LogLines(`"alarm rejected"`))
	m := r.Bot.Metrics()
	received := int(testutil.ToFloat64(m.Received))
	handled := 0
	for _, typ := range alerts.Types {
		handled += int(testutil.ToFloat64(m.Handled.WithLabelValues(string(typ))))
	}
	sent := len(bodies) - empty
	if received != sent || handled+rejected != sent || dead != rejected || rejected < wantRejected-empty {
		t.Errorf("sent %d, received %d, handled %d, rejected %d (dead-lettered %d, at least %d invalid by the spec)",
			sent, received, handled, rejected, dead, wantRejected-empty)
	}
	for _, l := range e.LogLines(`"alarm rejected"`) {
		if fmt.Sprint(l["error"]) == "" || l["reason"] == nil {
			t.Errorf("a rejection without a reason: %v", l)
		}
	}
	report(t, fmt.Sprintf("hostile corpus of %d, valid alarms between", len(corpus)-empty), c, time.Since(start),
		fmt.Sprintf(", %d rejected with a reason and dead-lettered, %d hostile but valid handled", rejected, handled-len(ids)))
}
