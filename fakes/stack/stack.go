// Package stack runs dispatch against everything it talks to, on this machine: goaws for SQS and
// SNS (in process) and the fakes of Slack, GitHub and PagerDuty, driven through the real client
// libraries. The end-to-end tests, the reliability suite and the benchmark share it. Dispatch runs
// in process (StartBot) or as its real binary (StartProcess), never replaced by a stub.
// Every stack's queue has a dead-letter queue and the redrive policy as deployed (maxReceiveCount
// 5, counted as SQS counts: see awstest).
package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
)

// The names every stack uses.
const (
	Repo            = "acme/alarms"
	OtherRepo       = "acme/other"
	FallbackChannel = "C0FALLBACK"
	RoutingKey      = "R0123456789abcdef0123456789abcde" // 32 characters
	ServiceKey      = "S0123456789abcdef0123456789abcde"
	GitHubToken     = "ghp_e2e_secret_token_0123456789"
	// TaskKey signs the stack's deferred tasks (DISPATCH_TASK_KEYS); NewTaskKey is the key a
	// rotation puts in front of it.
	TaskKey    = "e2e-task-key-0123456789abcdef-0123456789abcdef"
	NewTaskKey = "e2e-task-key-rotated-9876543210fedcba-98765432"
	// PagerDutyRESTToken is the fake PagerDuty's REST API key when Options.PagerDutyREST.
	PagerDutyRESTToken = "pd-rest-e2e-0123456789abcdef"
	// Wait is the usual deadline for something to happen.
	Wait = 20 * time.Second
)

// People are the Slack users every stack knows.
var People = []fakeslack.User{
	{ID: "U0ALICE", Name: "alice", RealName: "Alice Liddell", DisplayName: "alice", Email: "alice@example.com"},
	{ID: "U0BOB", Name: "bob", RealName: "Bob Builder", DisplayName: "bobby", Email: "bob@example.com"},
	{ID: "U0CAROL", Name: "carol", RealName: "Carol Danvers", DisplayName: "captain", Email: "carol@example.com"},
}

// Options shape a stack.
type Options struct {
	Configure func(*bot.Config) // changes to the bot's configuration
	AWS       *aws.Config       // the bot's SQS endpoint, when not the in-process goaws
	// QueueVisibility is the queue's own visibility timeout (default 30 s); the bot sets its own
	// on every receive (Config.Visibility).
	QueueVisibility time.Duration
	Users           []fakeslack.User // more users besides People
	// SlackRedeliverAfter makes the fake Slack resend envelopes not acked in time, as Slack does.
	SlackRedeliverAfter time.Duration
	// NoRedaction logs without the logger's secret filter, to prove the code itself never logs one.
	NoRedaction bool
	// SlackScale runs Slack's tiers (in the fake and in dispatch's pacing alike) on a clock this
	// many times faster; 0 keeps Slack's real limits. For scenarios of many restarts and replicas,
	// each of which starts with no memory of the budget its predecessors spent.
	SlackScale float64
	// TimeScale runs StartBot's bots on a faster clock (bot.Options.TimeScale).
	TimeScale float64
	// PagerDutyEvents adds a FIFO events queue (with its dead-letter queue) to which the fake
	// PagerDuty publishes its incident events in this shape, as PagerDuty's EventBridge rule
	// would, and points dispatch at it (PAGERDUTY_EVENTS_QUEUE_URL).
	PagerDutyEvents *fakepagerduty.EventShape
	// PagerDutyREST gives dispatch a REST API key of the fake PagerDuty (PAGERDUTY_API_TOKEN):
	// it confirms changes with it, and polls every PagerDutyPoll when there is no events queue.
	PagerDutyREST bool
	PagerDutyPoll time.Duration
}

// Env is one dispatch under test with its own queue, topics and fake services.
type Env struct {
	*Services
	T    testing.TB
	Logs *SyncBuffer

	awsCfg    *aws.Config
	noRedact  bool
	timeScale float64
	mu        sync.Mutex
	bots      []*Replica
	procs     []*Process
}

// New starts the services (goaws once per process) and prepares a configuration for dispatch.
// Everything is stopped, and the log checked for secrets, when the test ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	s, err := Start(context.Background(), t.Name(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	e := &Env{Services: s, T: t, Logs: &SyncBuffer{}, awsCfg: opts.AWS, noRedact: opts.NoRedaction, timeScale: opts.TimeScale}
	t.Cleanup(func() {
		e.StopAll()
		e.assertNoSecretsLogged()
		e.assertNoDuplicateLogKeys()
		if t.Failed() {
			t.Logf("dispatch log (last lines):\n%s", tail(e.Logs.String(), 60))
		}
	})
	return e
}

// Example reads a file of docs/examples (from a package one level below the repository root).
func Example(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *Env) assertNoSecretsLogged() {
	e.T.Helper()
	logs := e.Logs.String()
	for _, s := range e.Config.Secrets() {
		if len(s) >= 8 && strings.Contains(logs, s) {
			e.T.Errorf("a secret (%s…) appears in the log", s[:4])
		}
	}
}

// LogLines returns the JSON log lines that contain all of subs, decoded.
func (e *Env) LogLines(subs ...string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(e.Logs.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if !ok {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
