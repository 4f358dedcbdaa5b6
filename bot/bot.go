// Package bot is dispatch's runtime: it wires the configuration to the service clients and the use
// cases, and runs the SQS consumer, the Socket Mode loop and the health/metrics server until it is
// told to stop, then stops gracefully.
package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/awsfix"
	"github.com/dispatch-oss/dispatch/githubapi"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/pagerdutyapi"
	"github.com/dispatch-oss/dispatch/retry"
	"github.com/dispatch-oss/dispatch/slackapi"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// Version is set at build time (-ldflags "-X github.com/dispatch-oss/dispatch/bot.Version=…").
var Version = "dev"

// Options are what tests (and main) may set beyond the Config.
type Options struct {
	// AWS is the AWS configuration; nil loads the SDK's default chain (environment, profile, role).
	AWS *aws.Config
	// HTTPClient is the base client for Slack, GitHub and PagerDuty calls; nil is a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	// PingInterval overrides slack-go's Socket Mode ping timeout (tests).
	PingInterval time.Duration
	// PollWait overrides the 20 s long-poll wait (tests that stop quickly).
	PollWait time.Duration
	// TimeScale runs the bot's own clock faster, for tests: every wait the bot chooses itself (the
	// retries' backoff, the redelivery delays, GiveUpAfter, the receive backoff) is divided by it,
	// so a test can run a 10-minute outage in 30 s with the same arithmetic (the same attempts, the
	// same receive counts). 0 or 1 is real time. PagerDuty's event pacing is scaled with it; waits a
	// service asks for (Retry-After), GitHub's pacing (Config.GitHubLimits and GitHubPoints) and
	// Slack's are not.
	TimeScale float64
	// Secrets is the log filter's list (the one the logger was made with, Secrets.Filter): the bot
	// adds every credential it obtains while running (GitHub App tokens, AWS credentials). nil: none
	// is added.
	Secrets *Secrets
}

// Bot is one running dispatch.
type Bot struct {
	cfg     Config
	opts    Options
	log     zerolog.Logger
	metrics *Metrics

	slack    *slackapi.Client
	github   *githubapi.Client
	pager    *pagerdutyapi.Client
	queue    *sqsqueue.Queue
	router   *handlers.Router
	commands *handlers.Commands
	socket   *socket
	consumer *consumer
	follow   *follower // PagerDuty's changes of dispatch's incidents; nil: not followed

	health   *health
	started  time.Time
	qmu      sync.Mutex
	qerr     error // last queue error, for /readyz
	httpAddr net.Addr
	ready    chan struct{}
}

// The idle connections kept to the services, in all and per host: twice the default
// DISPATCH_CONCURRENCY, so a burst's workers reuse theirs instead of opening new ones.
const maxIdleConns, maxIdleConnsPerHost = 256, 64

// New builds a Bot from a validated Config. It makes no connection.
func New(ctx context.Context, cfg Config, opts Options, log zerolog.Logger) (*Bot, error) {
	b := &Bot{cfg: cfg, opts: opts, log: log, metrics: NewMetrics(), ready: make(chan struct{})}
	if opts.PollWait == 0 {
		b.opts.PollWait = 20 * time.Second
	}
	base := opts.HTTPClient
	if base == nil {
		// net/http keeps 2 idle connections per host by default: with several alarms in flight
		// the rest are closed and re-opened, each costing a TCP and TLS handshake to the service.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxIdleConns, maxIdleConnsPerHost
		base = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	b.health = newHealth(b.metrics)
	b.metrics.onCall = func(service string, req *http.Request, status int, err error) {
		failed, cause := outcomeCause(status, err)
		b.health.observe(service, endpointOf(req), failed, cause)
	}
	policy := scalePolicy(retry.Default, opts.TimeScale)
	client := func(service string) *http.Client {
		c := *base
		c.Transport = b.metrics.instrument(service, base.Transport)
		c.CheckRedirect = sameHostRedirects
		return &c
	}

	so := slackOptions(cfg, client("slack"))
	so.Retry = policy
	b.slack = slackapi.New(so)
	ghHTTP, ghApp, err := b.githubHTTP(client("github"))
	if err != nil {
		return nil, err
	}
	gho := githubOptions(cfg, ghHTTP, ghApp, policy)
	gho.OnPrimary = func(limit, remaining int) {
		b.metrics.GitHubLimit.Set(float64(limit))
		b.metrics.GitHubRemaining.Set(float64(remaining))
	}
	b.github, err = githubapi.New(gho)
	if err != nil {
		return nil, err
	}
	b.pager = pagerdutyapi.New(pagerdutyapi.Options{EventsURL: cfg.PagerDutyURL, RoutingKey: cfg.PagerDutyKey, ServiceKeys: cfg.ServiceKeys, HTTPClient: client("pagerduty"), Retry: policy,
		Pace: pace.Share(scaleWindows(pagerdutyapi.EventLimits, opts.TimeScale), cfg.Replicas)})

	awsCfg := opts.AWS
	if awsCfg == nil {
		// The SDK keeps 10 idle connections per host: a burst's workers (receives, deletes,
		// visibility heartbeats, deferred tasks) would re-open the rest, a TLS handshake each.
		sqsHTTP := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxIdleConns, maxIdleConnsPerHost
		})
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(SDKLogger(log)), awsconfig.WithHTTPClient(sqsHTTP))
		if err != nil {
			return nil, fmt.Errorf("aws configuration: %w", err)
		}
		awsCfg = &c
	}
	c := awsCfg.Copy()
	c.HTTPClient = awsfix.Wrap(c.HTTPClient)
	if opts.Secrets != nil && c.Credentials != nil {
		c.Credentials = secretCredentials{c.Credentials, opts.Secrets}
	}
	awsCfg = &c
	b.queue = sqsqueue.New(sqs.NewFromConfig(*awsCfg), cfg.QueueURL, cfg.taskKeys())

	host, _ := os.Hostname()
	b.router = handlers.NewRouter(handlers.Config{
		DefaultRepo: cfg.GitHubRepo, DefaultGitHubUser: cfg.GitHubDefault, FallbackChannel: cfg.FallbackChannel,
		Source: "dispatch@" + host, RemindAfter: cfg.RemindAfter, EscalateAfter: cfg.EscalateAfter,
		TaskKeys: cfg.taskKeys(), AllowedRepos: cfg.AllowedRepos,
		AnswerCopyAfter: time.Duration(float64(30*time.Second) / max(opts.TimeScale, 1)),
	}, b.github, countingPager{b.pager, b.metrics}, b.slack, b.queue)
	if err := b.useDuo(cfg); err != nil { // issue 19
		return nil, err
	}
	b.follow = b.newFollower(*awsCfg, client("pagerduty"))
	b.router.WatchHealth(b.health.down)
	b.commands = handlers.NewCommands(cfg.GitHubRepo, b, b.router, b, cfg.taskKeys()) // the router lists only dispatch's own issues
	b.socket = newSocket(b.slack.API(), b, b.metrics, log, client("slack"), opts.PingInterval)
	b.metrics.watch(b.queue.Depth, func() bool { return b.socket.Connected() && b.queueErr() == nil })
	b.consumer = &consumer{q: queueWatch{b.queue, b}, router: b.router, metrics: b.metrics, log: log,
		slots: cfg.Concurrency, visibility: cfg.Visibility, wait: b.opts.PollWait, scale: max(opts.TimeScale, 1),
		// A waiting alarm comes back within the longest redelivery delay; one not seen for twice
		// that was finished elsewhere (another replica) or dead-lettered.
		waiting: &waitingAlarms{expire: 2 * time.Duration(float64(redeliveryDelay(100))/max(opts.TimeScale, 1)), gauge: b.metrics.Waiting.Set}}
	b.consumer.health = b.health
	b.health.waiting = b.consumer.waiting.count
	b.health.notify = func(ctx context.Context, c handlers.ServiceChange) {
		if c.Down {
			log.Error().Str("service", c.Service).Str("cause", c.Cause).Int("waiting", c.Waiting).Msg("service failing: alarms wait and are retried")
		} else {
			log.Info().Str("service", c.Service).Dur("down_for", c.Ended.Sub(c.Since)).Int("waiting", c.Waiting).Msg("service answers again")
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()
				b.consumer.serviceBack(ctx)
			}()
		}
		b.router.ServiceChanged(log.WithContext(ctx), c)
	}
	return b, nil
}

// slackOptions configures the Slack adapter, its pacing at cfg.SlackLimitScale and its share of
// the workspace's and each channel's limits (cfg.Replicas).
func slackOptions(cfg Config, c *http.Client) slackapi.Options {
	o := slackapi.Options{BotToken: cfg.SlackBotToken, AppToken: cfg.SlackAppToken, APIURL: cfg.SlackAPIURL, HTTPClient: c,
		Limits: slackapi.Limits, PostPace: slackapi.PostLimits}
	if s := cfg.SlackLimitScale; s > 0 && s != 1 {
		o.Limits = slackapi.ScaleLimits(o.Limits, s)
		o.PostPace = slackapi.ScaleLimits(map[string][]pace.Window{"": o.PostPace}, s)[""]
	}
	limits := make(map[string][]pace.Window, len(o.Limits))
	for m, ws := range o.Limits {
		limits[m] = pace.Share(ws, cfg.Replicas)
	}
	o.Limits, o.PostPace = limits, pace.Share(o.PostPace, cfg.Replicas)
	return o
}

// githubOptions are the GitHub client's: its share of the credential's content-creating windows
// and of its points.
func githubOptions(cfg Config, hc *http.Client, app *githubapi.AppAuth, policy retry.Policy) githubapi.Options {
	return githubapi.Options{BaseURL: cfg.GitHubAPIURL, HTTPClient: hc, App: app, IndexMaxAge: cfg.GitHubWatch, Retry: policy,
		Pace: pace.Share(cfg.GitHubLimits, cfg.Replicas), Points: pace.Share(cfg.GitHubPoints, cfg.Replicas), Replicas: cfg.Replicas}
}

// scaleWindows shortens pacing windows by the time scale (Options.TimeScale), so that the requests
// a scaled run makes are paced as the same run in real time would be.
func scaleWindows(ws []pace.Window, scale float64) []pace.Window {
	if scale <= 1 {
		return ws
	}
	out := make([]pace.Window, len(ws))
	for i, w := range ws {
		out[i] = pace.Window{Limit: w.Limit, Span: time.Duration(float64(w.Span) / scale)}
	}
	return out
}

// scalePolicy runs a retry policy's own waits scale times faster (Options.TimeScale).
func scalePolicy(p retry.Policy, scale float64) retry.Policy {
	if scale <= 1 {
		return p
	}
	f := func(d time.Duration) time.Duration { return time.Duration(float64(d) / scale) }
	p.Initial, p.Max, p.MaxWait = f(p.Initial), f(p.Max), f(p.MaxWait)
	return p
}

// secretCredentials tells the log filter the AWS secret key and session token each time the SDK
// resolves them (environment, profile, role; the SDK caches them between refreshes).
type secretCredentials struct {
	aws.CredentialsProvider
	secrets *Secrets
}

func (p secretCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err == nil {
		p.secrets.Add(creds.SecretAccessKey, creds.SessionToken)
	}
	return creds, err
}

// sameHostRedirects is the services' redirect policy: a redirect to another host is refused, since
// a credential can ride along. Slack's token and PagerDuty's routing key travel in the body, which
// net/http resends on a 307 or 308, and GitHub's header is set again on every hop by its transport.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if from := via[0].URL; !strings.EqualFold(req.URL.Host, from.Host) || req.URL.Scheme != from.Scheme {
		return fmt.Errorf("refused a redirect from %s to %s://%s: credentials go only to their configured host", from.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// taskKeys are DISPATCH_TASK_KEYS as bytes, the first the signing key.
func (c Config) taskKeys() sqsqueue.TaskKeys {
	keys := make(sqsqueue.TaskKeys, 0, len(c.TaskKeys))
	for _, k := range c.TaskKeys {
		keys = append(keys, []byte(k))
	}
	return keys
}

// githubHTTP authenticates GitHub calls as the GitHub App installation when GITHUB_APP_ID is set,
// else with GITHUB_TOKEN (the app is nil then). It fails only on an unusable app key.
func (b *Bot) githubHTTP(c *http.Client) (*http.Client, *githubapi.AppAuth, error) {
	if b.cfg.GitHubAppID != 0 {
		auth, err := githubapi.NewAppAuth(b.cfg.GitHubAppID, b.cfg.GitHubInstallationID, []byte(b.cfg.GitHubAppKey), b.cfg.GitHubAPIURL, c.Transport)
		if err != nil {
			return nil, nil, fmt.Errorf("github app: %w", err)
		}
		if b.opts.Secrets != nil {
			auth.SetOnSecret(func(s string) { b.opts.Secrets.Add(s) })
		}
		c.Transport = auth
		return c, auth, nil
	}
	c.Transport = githubapi.TokenTransport(b.cfg.GitHubAPIURL, b.cfg.GitHubToken, c.Transport)
	return c, nil, nil
}

// Check verifies, before serving, that Slack accepts both tokens and the queue is reachable. It
// reports every failure at once.
func (b *Bot) Check(ctx context.Context) error {
	_, err := b.check(ctx)
	return err
}

// check is Check, and whether every failure was Slack not answering for now (slackapi.Unavailable):
// worth waiting out rather than exiting on.
func (b *Bot) check(ctx context.Context) (slackUnavailable bool, err error) {
	var errs []error
	unavailable := 0
	slackCheck := func(err error, refused string) {
		switch {
		case err == nil:
		case slackapi.Unavailable(err):
			unavailable++
			errs = append(errs, fmt.Errorf("Slack is not answering now: %w", err))
		default:
			errs = append(errs, fmt.Errorf("%s: %w", refused, err))
		}
	}
	_, _, err = b.slack.AuthTest(ctx)
	slackCheck(err, "SLACK_BOT_TOKEN was refused by Slack (check it is the app's Bot User OAuth Token, xoxb-…)")
	slackCheck(b.slack.AppTokenTest(ctx), "SLACK_APP_TOKEN was refused by Slack (check it is an app-level token with connections:write, xapp-…, and that Socket Mode is on)")
	if err := b.queue.Discover(ctx); err != nil {
		errs = append(errs, fmt.Errorf("DISPATCH_QUEUE_URL is not reachable (check the URL, the region and the credentials): %w", err))
	}
	if err := b.follow.check(ctx); err != nil {
		errs = append(errs, err)
	}
	return unavailable > 0 && unavailable == len(errs), errors.Join(errs...)
}

// startWait bounds one wait of the start-up check for Slack to answer again.
const startWait = 30 * time.Second

// checkUntilSlackAnswers runs the start-up check until it passes, or fails for a reason other than
// Slack not answering (a refused token, an unreachable queue: exit, an operator mends those). A
// replica that starts during a Slack incident or a 429 storm waits for Slack, as a running one
// does, instead of exiting: one that exited would be restarted into the same storm, each start
// adding to it, until the orchestrator gives up.
func (b *Bot) checkUntilSlackAnswers(ctx context.Context) error {
	for try := 0; ; try++ {
		unavailable, err := b.check(ctx)
		if err == nil || !unavailable {
			return err
		}
		wait := min(time.Second<<min(try, 5), startWait)
		if after, ok := retry.RetryAfter(err); ok && after > wait {
			wait = min(after, startWait)
		}
		b.log.Warn().Err(err).Dur("retry_in", wait).Msg("Slack is not answering: waiting for it before starting")
		if retry.Sleep(ctx, wait) != nil {
			return err
		}
	}
}

// Run checks the services, then serves until ctx ends, then stops gracefully: it stops receiving,
// lets work in flight finish within ShutdownTimeout (releasing the rest back to the queue), closes
// the Socket Mode connection and returns nil. It returns an error if start-up fails.
func (b *Bot) Run(ctx context.Context) error {
	b.started = time.Now()
	if err := b.checkUntilSlackAnswers(ctx); err != nil {
		return err
	}
	if b.queue.DLQURL() == "" {
		b.log.Warn().Msg("the queue has no redrive policy: rejected alarms are hidden for 12 hours instead of moved to a dead-letter queue")
	}
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	b.slack.Preload(b.log.WithContext(workCtx)) // a large workspace takes minutes at Tier 2
	defer b.slack.Close()
	addr, httpDone, err := b.serveHTTP(workCtx, b.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("DISPATCH_HTTP_ADDR %s: %w", b.cfg.HTTPAddr, err)
	}
	b.httpAddr = addr
	b.log.Info().Str("version", Version).Str("http", addr.String()).Str("queue", b.cfg.QueueURL).Msg("dispatch starting")

	sockCtx, stopSocket := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSocket()
	sockErr := make(chan error, 1)
	go func() { sockErr <- b.socket.run(sockCtx, workCtx) }()
	// The watch loads the index of dispatch's issues (the first lookups wait for that load), keeps
	// it fresh, and settles the prompts of issues closed or escalated on GitHub.
	go b.github.WatchAll(b.log.WithContext(workCtx), b.cfg.GitHubRepo, b.cfg.GitHubWatch, b.router.ChangedOnGitHub)
	recvDone := make(chan struct{})
	go func() { b.consumer.run(ctx, workCtx); close(recvDone) }()
	followDone := make(chan struct{})
	go func() { b.follow.run(ctx, workCtx); close(followDone) }()
	close(b.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-sockErr:
		b.log.Error().Err(runErr).Msg("socket mode failed: stopping")
	}
	b.log.Info().Msg("stopping: no new alarms; finishing work in flight")
	<-recvDone
	<-followDone
	grace, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	if !b.consumer.drain(grace, cancelWork) {
		b.log.Warn().Msg("work still in flight at the shutdown timeout was released back to the queue")
	}
	b.socket.wg.Wait() // answers started before the stop finish (or end with workCtx)
	flush, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	b.router.Flush(flush)
	cancelFlush()
	stopSocket()
	cancelWork()
	if err := <-httpDone; err != nil {
		b.log.Error().Err(err).Msg("health server")
	}
	b.log.Info().Msg("dispatch stopped")
	return runErr
}

// Ready is closed once Run is serving.
func (b *Bot) Ready() <-chan struct{} { return b.ready }

// HTTPAddr is the health server's address once Ready.
func (b *Bot) HTTPAddr() net.Addr { return b.httpAddr }

// Metrics are the bot's metrics.
func (b *Bot) Metrics() *Metrics { return b.metrics }

func (b *Bot) queueErr() error {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	return b.qerr
}

func (b *Bot) setQueueErr(err error) {
	b.qmu.Lock()
	b.qerr = err
	b.qmu.Unlock()
}

// Status implements handlers.Status for /dispatch status.
func (b *Bot) Status(ctx context.Context) handlers.StatusReport {
	snap := b.metrics.Snapshot()
	st := handlers.StatusReport{
		Version: Version, Uptime: time.Since(b.started), Connected: b.socket.Connected(), Reconnects: b.socket.Reconnects(),
		HandledByType: snap.ByType, Errors: snap.Errors, LastAlarm: snap.LastAlarm,
		DefaultRepo: b.cfg.GitHubRepo, FallbackChannel: b.cfg.FallbackChannel,
	}
	st.QueueDepth, st.QueueInFlight, st.DLQDepth, st.QueueErr = b.queue.Depth(ctx)
	st.Down, st.Waiting = b.health.report(), b.consumer.waiting.count()
	if st.QueueErr != nil {
		// Members see the Problem's sentence; the account, ARN and URL stay here.
		b.log.Warn().Err(st.QueueErr).Msg("/dispatch status: the queue is unreachable")
	}
	return st
}

// Publish implements handlers.Publisher: it sends an alarm body straight to the queue.
func (b *Bot) Publish(ctx context.Context, body []byte) error {
	return b.queue.Send(ctx, body)
}

// Take makes a click's answer durable and returns its work (Interactions, see handlers.Router.Take).
func (b *Bot) Take(ctx context.Context, c handlers.Click) (func() error, error) {
	return b.router.Take(ctx, c)
}

// TakeReason makes a submitted reason modal's words durable and returns the work that records them
// (Interactions, see handlers.Router.TakeReason).
func (b *Bot) TakeReason(ctx context.Context, s handlers.Submission) (func() error, error) {
	return b.router.TakeReason(ctx, s)
}

// HomeOpened publishes a user's App Home tab.
func (b *Bot) HomeOpened(ctx context.Context, userID string) error {
	return b.router.HomeOpened(ctx, userID)
}

// CommandStartsWork reports whether a /dispatch command puts work on the queue (Interactions).
func (b *Bot) CommandStartsWork(text string) bool { return b.commands.StartsWork(text) }

// Command answers /dispatch.
func (b *Bot) Command(ctx context.Context, c handlers.Command) handlers.Reply {
	return b.commands.Command(ctx, c)
}

// queueWatch records the queue's reachability for /readyz as the consumer receives.
type queueWatch struct {
	*sqsqueue.Queue
	b *Bot
}

func (q queueWatch) Receive(ctx context.Context, n int, wait, visibility time.Duration) ([]sqsqueue.Message, error) {
	msgs, err := q.Queue.Receive(ctx, n, wait, visibility)
	if ctx.Err() == nil {
		q.b.setQueueErr(err)
		q.b.health.observe("sqs", "ReceiveMessage", err != nil, "ReceiveMessage failing")
	}
	return msgs, err
}

// countingPager counts escalations.
type countingPager struct {
	handlers.Pager
	m *Metrics
}

func (p countingPager) Trigger(ctx context.Context, pg handlers.Page) error {
	err := p.Pager.Trigger(ctx, pg)
	if err == nil {
		p.m.Escalations.Inc()
	}
	return err
}
