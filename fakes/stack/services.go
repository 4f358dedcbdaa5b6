package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/pace"
)

// Services are everything one dispatch talks to, started on this machine: a queue and two
// topics on the process's goaws, and fresh Slack, GitHub and PagerDuty fakes seeded with the
// stack's people, repositories and keys, plus a configuration for dispatch pointing at them.
// Tests get them through New; the demo (cmd/dispatch-demo), which has no testing.T, through
// Start.
type Services struct {
	AWS      *awstest.Server
	Queue    awstest.Queue
	RawTopic string // topic ARN, raw delivery on
	SNSTopic string // topic ARN, raw delivery off (SNS envelope)
	Slack    *fakeslack.Server
	GitHub   *fakegithub.Server
	PD       *fakepagerduty.Server
	// Events is the PagerDuty events queue (FIFO) when Options.PagerDutyEvents is set.
	Events awstest.Queue
	Config bot.Config
}

// Start starts the services for opts (opts.AWS, opts.NoRedaction and opts.TimeScale concern the
// bot and are ignored here); name makes the queue and topic names (a test's name, "dispatch-demo"). The
// caller stops them with Close. On an error, whatever was started is stopped again.
func Start(ctx context.Context, name string, opts Options) (s *Services, err error) {
	a, err := awstest.Start()
	if err != nil {
		return nil, fmt.Errorf("goaws: %w", err)
	}
	s = &Services{AWS: a}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close(ctx))
			s = nil
		}
	}()
	vis := opts.QueueVisibility
	if vis == 0 {
		vis = 30 * time.Second
	}
	if s.Queue, err = a.CreateQueue(ctx, name, awstest.QueueOptions{VisibilityTimeout: vis, DLQ: true, MaxReceiveCount: awstest.DefaultMaxReceiveCount}); err != nil {
		return s, err
	}
	if s.RawTopic, err = a.CreateTopic(ctx, name, s.Queue, true); err != nil {
		return s, err
	}
	if s.SNSTopic, err = a.CreateTopic(ctx, name, s.Queue, false); err != nil {
		return s, err
	}

	s.Slack = fakeslack.New(fakeslack.Options{PingInterval: time.Second, RedeliverAfter: opts.SlackRedeliverAfter})
	for _, p := range append(append([]fakeslack.User(nil), People...), opts.Users...) {
		s.Slack.AddUser(p)
	}
	s.Slack.AddChannel(FallbackChannel, "dispatch-fallback")
	s.GitHub = fakegithub.New(fakegithub.Options{Token: GitHubToken})
	// The fake enforces github.com's 80 content-creating requests a minute by default; the stack's
	// bursts exceed that in seconds, so both the fake's limit and dispatch's pacing are lifted here.
	// The pacer's own tests, and the reliability scenario with scaled limits, prove the pacing.
	s.GitHub.SetSecondaryLimit(0)
	// The points limit (900 a minute, a write costing 5) follows from the same writes: at github.com's
	// 80 writes a minute they cost 400 points, but the stack's unpaced bursts pass 900 in seconds.
	// It is lifted with the content-creating limit; the scaled scenarios and the benchmark keep it.
	s.GitHub.SetPointsLimit(0, 0)
	s.GitHub.AddRepo(Repo)
	s.GitHub.AddRepo(OtherRepo)
	s.PD = fakepagerduty.New()
	s.PD.AddRoutingKey(RoutingKey)
	s.PD.AddRoutingKey(ServiceKey)

	c := bot.Defaults()
	c.SlackBotToken = s.Slack.Options().BotToken
	c.SlackAppToken = s.Slack.Options().AppToken
	c.QueueURL = s.Queue.URL
	c.GitHubToken = GitHubToken
	c.GitHubRepo = Repo
	c.PagerDutyKey = RoutingKey
	c.ServiceKeys = map[string]string{"PSERVICE": ServiceKey}
	c.FallbackChannel = FallbackChannel
	c.GitHubDefault = "acme/security"
	c.SlackAPIURL = s.Slack.APIURL()
	c.GitHubAPIURL = s.GitHub.URL()
	c.PagerDutyURL = s.PD.URL()
	c.HTTPAddr = "127.0.0.1:0"
	c.ShutdownTimeout = 10 * time.Second
	c.LogLevel = "debug"
	c.Visibility = 30 * time.Second
	c.GitHubLimits = []pace.Window{{Limit: 1000, Span: time.Minute}}
	c.GitHubPoints = []pace.Window{{Limit: 100_000, Span: time.Minute}} // lifted with the fake's points limit
	if opts.SlackScale > 0 {
		s.Slack.SetTimeScale(opts.SlackScale)
		c.SlackLimitScale = opts.SlackScale
	}
	c.TaskKeys = []string{TaskKey}
	if err := s.pagerDutyFollowUp(ctx, name, opts, &c); err != nil {
		return s, err
	}
	if opts.Configure != nil {
		opts.Configure(&c)
	}
	s.Config = c
	return s, nil
}

// Close stops the fakes and deletes the topics and the queue, returning every failure. It
// leaves goaws itself running (one per process).
func (s *Services) Close(ctx context.Context) error {
	if s.PD != nil {
		s.PD.Close()
	}
	if s.GitHub != nil {
		s.GitHub.Close()
	}
	if s.Slack != nil {
		s.Slack.Close()
	}
	var errs []error
	for _, arn := range []string{s.SNSTopic, s.RawTopic} {
		if arn != "" {
			errs = append(errs, s.AWS.DeleteTopic(ctx, arn))
		}
	}
	if s.Queue.URL != "" {
		errs = append(errs, s.AWS.DeleteQueue(ctx, s.Queue))
	}
	if s.Events.URL != "" {
		errs = append(errs, s.AWS.DeleteQueue(ctx, s.Events))
	}
	return errors.Join(errs...)
}

// Publish publishes body to an SNS topic (RawTopic or SNSTopic) and returns its message id.
func (s *Services) Publish(ctx context.Context, topic, body string) (string, error) {
	out, err := s.AWS.SNS().Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: &body})
	if err != nil {
		return "", fmt.Errorf("sns publish: %w", err)
	}
	return aws.ToString(out.MessageId), nil
}

// RunBot starts dispatch in process with the services' configuration, logging to log,
// reaching SQS with awsCfg and on a clock timeScale times faster (0: real time), and returns once it serves (Ready), or an error when it fails or
// within is over first. secrets, when not nil, is the log filter the bot adds the credentials it
// mints to (bot.Options.Secrets). The caller stops it with Replica.Shutdown.
func (s *Services) RunBot(awsCfg aws.Config, timeScale float64, log zerolog.Logger, secrets *bot.Secrets, within time.Duration) (*Replica, error) {
	b, err := bot.New(context.Background(), s.Config, bot.Options{AWS: &awsCfg, PollWait: time.Second, PingInterval: 10 * time.Second, TimeScale: timeScale, Secrets: secrets}, log)
	if err != nil {
		return nil, fmt.Errorf("bot.New: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Replica{Bot: b, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-r.done:
		cancel()
		return nil, fmt.Errorf("dispatch did not start: %w", err)
	case <-time.After(within):
		return nil, errors.Join(errors.New("dispatch not ready in time"), r.Shutdown(within))
	}
	return r, nil
}

// Shutdown stops a replica gracefully and returns what Run returned, or an error when it has
// not stopped within bound. A second call returns the same.
func (r *Replica) Shutdown(bound time.Duration) error {
	err, ok := r.halt(bound)
	if !ok {
		return fmt.Errorf("dispatch did not stop within %s", bound)
	}
	return err
}

// halt cancels the replica and waits up to bound for Run to return; ok is false on a timeout.
func (r *Replica) halt(bound time.Duration) (err error, ok bool) {
	r.stopped.Store(true)
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a second call
		return err, true
	case <-time.After(bound):
		return nil, false
	}
}
