package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/pace"
)

const (
	repo            = "acme/alarms"
	otherRepo       = "acme/other"
	fallbackChannel = "C0FALLBACK"
	routingKey      = "R0123456789abcdef0123456789abcde" // 32 characters
	serviceKey      = "S0123456789abcdef0123456789abcde"
	githubToken     = "ghp_e2e_secret_token_0123456789"
)

// users every test environment knows: handle, ID, email.
var people = []fakeslack.User{
	{ID: "U0ALICE", Name: "alice", RealName: "Alice Liddell", DisplayName: "alice", Email: "alice@example.com"},
	{ID: "U0BOB", Name: "bob", RealName: "Bob Builder", DisplayName: "bobby", Email: "bob@example.com"},
	{ID: "U0CAROL", Name: "carol", RealName: "Carol Danvers", DisplayName: "captain", Email: "carol@example.com"},
}

// env is one dispatch under test with its own queue, topics and fake services.
type env struct {
	t      *testing.T
	aws    *awstest.Server
	queue  awstest.Queue
	raw    string // topic ARN, raw delivery on
	sns    string // topic ARN, raw delivery off (SNS envelope)
	slack  *fakeslack.Server
	github *fakegithub.Server
	pd     *fakepagerduty.Server
	logs   *syncBuffer
	cfg    bot.Config
	awsCfg *aws.Config // nil: the in-process goaws

	bots []*running
}

type running struct {
	bot     *bot.Bot
	cancel  context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

type envOptions struct {
	configure func(*bot.Config)
	dlq       bool
	aws       *aws.Config // the bot's SQS endpoint, when not the in-process goaws (TestAWSCLIExamples)
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	a, err := awstest.Start()
	if err != nil {
		t.Fatalf("goaws: %v", err)
	}
	e := &env{t: t, aws: a, logs: &syncBuffer{}, awsCfg: opts.aws}
	e.queue = a.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: 30 * time.Second, DLQ: opts.dlq})
	e.raw = a.NewTopic(t, e.queue, true)
	e.sns = a.NewTopic(t, e.queue, false)

	e.slack = fakeslack.New(fakeslack.Options{PingInterval: time.Second})
	t.Cleanup(e.slack.Close)
	for _, p := range people {
		e.slack.AddUser(p)
	}
	e.slack.AddChannel(fallbackChannel, "dispatch-fallback")
	e.github = fakegithub.New(fakegithub.Options{Token: githubToken})
	t.Cleanup(e.github.Close)
	e.github.AddRepo(repo)
	e.github.AddRepo(otherRepo)
	e.pd = fakepagerduty.New()
	t.Cleanup(e.pd.Close)
	e.pd.AddRoutingKey(routingKey)
	e.pd.AddRoutingKey(serviceKey)

	e.cfg = bot.Defaults()
	e.cfg.SlackBotToken = e.slack.Options().BotToken
	e.cfg.SlackAppToken = e.slack.Options().AppToken
	e.cfg.QueueURL = e.queue.URL
	e.cfg.GitHubToken = githubToken
	e.cfg.GitHubRepo = repo
	e.cfg.PagerDutyKey = routingKey
	e.cfg.ServiceKeys = map[string]string{"PSERVICE": serviceKey}
	e.cfg.FallbackChannel = fallbackChannel
	e.cfg.GitHubDefault = "acme/security"
	e.cfg.SlackAPIURL = e.slack.APIURL()
	e.cfg.GitHubAPIURL = e.github.URL()
	e.cfg.PagerDutyURL = e.pd.URL()
	e.cfg.HTTPAddr = "127.0.0.1:0"
	e.cfg.ShutdownTimeout = 10 * time.Second
	e.cfg.LogLevel = "debug"
	e.cfg.Visibility = 30 * time.Second
	if opts.configure != nil {
		opts.configure(&e.cfg)
	}
	t.Cleanup(func() {
		e.stopAll()
		e.assertNoSecretsLogged()
		if t.Failed() {
			t.Logf("dispatch log:\n%s", tail(e.logs.String(), 60))
		}
	})
	return e
}

// startBot starts one dispatch replica and waits until it serves and Slack sees its connection.
func (e *env) startBot() *running {
	e.t.Helper()
	log := bot.NewLogger(e.logs, e.cfg.LogLevel, "json", e.cfg.Secrets()...)
	awsCfg := e.aws.AWSConfig()
	if e.awsCfg != nil {
		awsCfg = e.awsCfg.Copy()
	}
	b, err := bot.New(context.Background(), e.cfg, bot.Options{
		AWS: &awsCfg, PollWait: time.Second, PingInterval: 10 * time.Second,
		GitHubPace: []pace.Window{{Limit: 1000, Span: time.Minute}},
	}, log)
	if err != nil {
		e.t.Fatalf("bot.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{bot: b, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-r.done:
		e.t.Fatalf("dispatch did not start: %v", err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("dispatch not ready within 20s")
	}
	e.bots = append(e.bots, r)
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := e.slack.WaitConnected(wctx, e.live()); err != nil {
		e.t.Fatalf("socket mode never connected: %v", err)
	}
	return r
}

// live counts the replicas not stopped.
func (e *env) live() int {
	n := 0
	for _, r := range e.bots {
		if !r.stopped.Load() {
			n++
		}
	}
	return n
}

// stop stops a replica gracefully and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.stopped.Store(true)
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // keep it for a second stop
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("dispatch did not stop within 30s")
		return nil
	}
}

func (e *env) stopAll() {
	for _, r := range e.bots {
		r.stop(e.t)
	}
}

// publishRaw publishes through the raw-delivery topic; publishSNS through the enveloped one; send
// goes straight to the queue.
func (e *env) publishRaw(body string) { e.publish(e.raw, body) }
func (e *env) publishSNS(body string) { e.publish(e.sns, body) }

func (e *env) publish(topic, body string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.aws.SNS().Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: &body}); err != nil {
		e.t.Fatalf("sns publish: %v", err)
	}
}

func (e *env) send(body string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.aws.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.queue.URL), MessageBody: &body}); err != nil {
		e.t.Fatalf("sqs send: %v", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func (e *env) eventually(what string, within time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueEmpty waits until the queue holds nothing (visible or in flight): every message was handled.
func (e *env) queueEmpty(within time.Duration) {
	e.t.Helper()
	e.eventually("the queue to drain", within, func() bool {
		n, err := e.aws.Depth(context.Background(), e.queue.URL)
		return err == nil && n == 0
	})
}

func (e *env) issues(r string) []fakegithub.Issue { return e.github.Issues(r) }

func (e *env) assertNoSecretsLogged() {
	e.t.Helper()
	logs := e.logs.String()
	for _, s := range e.cfg.Secrets() {
		if len(s) >= 8 && strings.Contains(logs, s) {
			e.t.Errorf("a secret (%s…) appears in the log", s[:4])
		}
	}
}

// lastLogWith returns the log lines that contain all of the substrings.
func (e *env) logLines(subs ...string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
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

func (e *env) httpGet(r *running, path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s%s", r.bot.HTTPAddr(), path))
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
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
