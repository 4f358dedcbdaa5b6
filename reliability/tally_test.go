package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// crowd are extra Slack users, so bursts spread over many DM channels as in real life.
var crowd = func() []fakeslack.User {
	var out []fakeslack.User
	for i := range 30 {
		out = append(out, fakeslack.User{ID: fmt.Sprintf("U0R%02d", i), Name: fmt.Sprintf("responder%02d", i), Email: fmt.Sprintf("r%02d@example.com", i)})
	}
	return out
}()

// selfService is a self-service alarm for one of the crowd, with a request ID the tally follows.
func selfService(scenario string, i int) (id, body string) {
	id = fmt.Sprintf("rel-%s-%d", scenario, i)
	body = fmt.Sprintf(`{"type":"self-service","requestId":%q,"users":[{"slackId":%q,"github":"responder%02d"}],"body":{"github":{"title":"reliability %s %d"},"slack":{"message":"Was this you? (%s %d)"}}}`,
		id, crowd[i%len(crowd)].ID, i%len(crowd), scenario, i, scenario, i)
	return id, body
}

// sendAll puts bodies on the queue in batches of ten (fast enough to make a burst).
func sendAll(t testing.TB, e *stack.Env, bodies []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for start := 0; start < len(bodies); start += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for i, b := range bodies[start:min(start+10, len(bodies))] {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(b)})
		}
		out, err := e.AWS.SQS().SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &e.Queue.URL, Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send batch: %v %+v", err, out)
		}
	}
}

var markerAlarm = regexp.MustCompile(`<!-- dispatch alarm=(\S*) `)

// tally counts, for each alarm, its issues and its prompts, and whether it is in the dead-letter
// queue (every stack's queue has one, with maxReceiveCount 5 counted as SQS counts).
type tally struct {
	published, handled, duplicated, deadLettered, lost int
}

func (c tally) String() string {
	return fmt.Sprintf("published %d, handled %d, duplicated %d, dead-lettered %d, lost %d", c.published, c.handled, c.duplicated, c.deadLettered, c.lost)
}

// count looks at what the fakes hold for every alarm id: exactly one issue and one DM is handled.
func count(e *stack.Env, ids []string) tally {
	issues := map[string]int{}
	for _, is := range e.Issues(stack.Repo) {
		if m := markerAlarm.FindStringSubmatch(is.Body); m != nil {
			id, _ := url.QueryUnescape(m[1])
			issues[id]++
		}
	}
	dms := map[string]int{}
	for _, u := range crowd {
		for _, m := range e.Prompts(u.ID) {
			var md struct {
				Payload struct {
					Key string `json:"key"`
				} `json:"event_payload"`
			}
			if json.Unmarshal(m.Metadata, &md) == nil {
				id, _, _ := strings.Cut(md.Payload.Key, "/")
				dms[id]++
			}
		}
	}
	c := tally{published: len(ids)}
	for _, id := range ids {
		switch {
		case issues[id] == 0 || dms[id] == 0:
			c.lost++
		default:
			c.handled++
		}
		if issues[id] > 1 || dms[id] > 1 {
			c.duplicated++
		}
	}
	return c
}

// settle waits until every alarm is handled and the queue is empty, then counts.
func settle(t *testing.T, e *stack.Env, ids []string, within time.Duration) tally {
	t.Helper()
	deadline := time.Now().Add(within)
	for count(e, ids).lost > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if time.Now().Before(deadline) {
		e.QueueEmpty(time.Until(deadline))
	}
	c := count(e, ids)
	c.deadLettered = deadLettered(t, e, ids)
	return c
}

// deadLettered counts the alarms of ids in the dead-letter queue, leaving the queue as it was: it
// receives every message there (hidden meanwhile) and then releases them.
func deadLettered(t testing.TB, e *stack.Env, ids []string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bodies []string
	var receipts []*string
	for {
		out, err := e.AWS.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.Queue.DLQURL, MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Fatalf("look in the dead-letter queue: %v", err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			bodies, receipts = append(bodies, aws.ToString(m.Body)), append(receipts, m.ReceiptHandle)
		}
	}
	for _, r := range receipts {
		if _, err := e.AWS.SQS().ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &e.Queue.DLQURL, ReceiptHandle: r}); err != nil {
			t.Errorf("release a dead-lettered message: %v", err)
		}
	}
	n := 0
	for _, id := range ids {
		for _, b := range bodies {
			if strings.Contains(b, `"`+id+`"`) || strings.Contains(b, `\"`+id+`\"`) {
				n++
				break
			}
		}
	}
	return n
}

var reportMu sync.Mutex

// report prints a scenario's numbers (and appends them to DISPATCH_RELIABILITY_REPORT), then fails
// the test unless nothing was lost or doubled.
func report(t *testing.T, scenario string, c tally, took time.Duration, extra string) {
	t.Helper()
	line := fmt.Sprintf("%-44s %s (%.1fs)%s", scenario+":", c, took.Seconds(), extra)
	t.Log(line)
	if path := os.Getenv("DISPATCH_RELIABILITY_REPORT"); path != "" {
		reportMu.Lock()
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
		reportMu.Unlock()
	}
	if c.lost != 0 || c.duplicated != 0 || c.deadLettered != 0 || c.handled != c.published {
		t.Errorf("%s: %s", scenario, c)
	}
}

// clicker presses Yes on every prompt of the crowd as it appears, once each, until stopped.
type clicker struct {
	e       *stack.Env
	mu      sync.Mutex
	clicked map[string]bool
	stop    chan struct{}
	done    chan struct{}
}

func startClicker(t *testing.T, e *stack.Env) *clicker {
	c := &clicker{e: e, clicked: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, u := range crowd {
				for _, m := range e.Prompts(u.ID) {
					if c.count(m.TS, false) {
						continue
					}
					if _, err := e.Slack.ClickButton(u.ID, m.Channel, m.TS, "dispatch_yes"); err == nil {
						c.count(m.TS, true)
					}
				}
			}
		}
	}()
	t.Cleanup(c.halt)
	return c
}

func (c *clicker) count(ts string, mark bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.clicked[ts]
	if mark {
		c.clicked[ts] = true
	}
	return seen
}

func (c *clicker) clicks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.clicked)
}

func (c *clicker) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// answeredOnce waits until want issues are closed, stops the clicker, and checks each has exactly
// one answer comment.
func answeredOnce(t *testing.T, e *stack.Env, cl *clicker, want int) {
	t.Helper()
	e.Eventually("every answer recorded", time.Minute, func() bool {
		closed := 0
		for _, is := range e.Issues(stack.Repo) {
			if is.State == "closed" {
				closed++
			}
		}
		return closed == want
	})
	cl.halt()
	closed, extra := 0, 0
	for _, is := range e.Issues(stack.Repo) {
		if is.State == "closed" {
			closed++
		}
		if len(is.Comments) > 1 {
			extra++
		}
	}
	if closed != want || extra != 0 {
		t.Errorf("answers: %d issues closed (want %d), %d with more than one answer comment", closed, want, extra)
	}
}
