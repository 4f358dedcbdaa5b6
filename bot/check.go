package bot

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"time"
)

// CheckResult is one line of `dispatch check`.
type CheckResult struct {
	Name   string
	OK     bool
	Detail string // what was found, or what is wrong and how to fix it
}

// CheckOptions tunes CheckAll. The zero value is the defaults.
type CheckOptions struct {
	// Timeout bounds each check (DefaultCheckTimeout when zero): a service that never answers
	// fails its own check and holds up the rest no longer than that.
	Timeout time.Duration
	// Started, when set, is called with a check's name before it runs, and Done with its result
	// after, so that a caller can show progress.
	Started func(name string)
	Done    func(CheckResult)
}

// DefaultCheckTimeout bounds each of `dispatch check`'s checks.
const DefaultCheckTimeout = 10 * time.Second

var routingKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// step is one check: what it is called, what it does (a description of what was found, or an
// error) and how to read its failures.
type step struct {
	name    string
	service Service
	run     func(ctx context.Context) (string, error)
}

// CheckAll reaches every service with the configuration and reports what works and what to fix,
// one check after another, each bounded by opts.Timeout. It never stops at the first failure.
func (b *Bot) CheckAll(ctx context.Context, opts CheckOptions) []CheckResult {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultCheckTimeout
	}
	var out []CheckResult
	for _, s := range b.checkSteps() {
		if opts.Started != nil {
			opts.Started(s.name)
		}
		sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		detail, err := s.run(sctx)
		cancel()
		r := CheckResult{Name: s.name, OK: err == nil, Detail: detail}
		if err != nil {
			r.Detail = ExplainFailure(err, s.service, opts.Timeout)
		}
		out = append(out, r)
		if opts.Done != nil {
			opts.Done(r)
		}
	}
	return out
}

// checkSteps lists the checks, in the order a new user mends them: Slack, the queue, GitHub, then
// PagerDuty.
func (b *Bot) checkSteps() []step {
	slack := func(fix string) Service {
		return Service{URLVar: "SLACK_API_URL", Host: hostOf(b.cfg.SlackAPIURL), CredentialsFix: fix}
	}
	steps := []step{
		{"Slack bot token (auth.test)", slack("set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (OAuth & Permissions, xoxb-…)."),
			func(ctx context.Context) (string, error) {
				user, team, err := b.slack.AuthTest(ctx)
				return fmt.Sprintf("bot user %s in team %s", user, team), err
			}},
		{"Slack app token (Socket Mode)", slack("set SLACK_APP_TOKEN to an app-level token with connections:write (Basic Information → App-Level Tokens, xapp-…) and turn Socket Mode on."),
			func(ctx context.Context) (string, error) {
				return "apps.connections.open accepted", b.slack.AppTokenTest(ctx)
			}},
	}
	sqsService := Service{URLVar: "DISPATCH_QUEUE_URL (or AWS_ENDPOINT_URL)", Host: hostOf(b.cfg.QueueURL), CredentialsFix: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an IAM role) to credentials allowed sqs:GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility and SendMessage.",
		OtherFix: "check DISPATCH_QUEUE_URL, AWS_REGION and the credentials (the bot needs sqs:GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility, SendMessage)."}
	queueOK := false
	steps = append(steps,
		step{"SQS queue", sqsService, func(ctx context.Context) (string, error) {
			err := b.queue.Discover(ctx)
			queueOK = err == nil
			return b.cfg.QueueURL + " reachable", err
		}},
		step{"SQS dead-letter queue", Service{URLVar: sqsService.URLVar, Host: sqsService.Host, CredentialsFix: sqsService.CredentialsFix, OtherFix: "the bot needs sqs:GetQueueAttributes and sqs:SendMessage on the dead-letter queue."},
			func(ctx context.Context) (string, error) {
				switch {
				case !queueOK:
					return "", fmt.Errorf("not checked: the queue is not reachable")
				case b.queue.DLQURL() == "":
					return "", fmt.Errorf("the queue has no redrive policy")
				}
				_, _, dead, err := b.queue.Depth(ctx)
				return fmt.Sprintf("%s (%d messages)", b.queue.DLQURL(), dead), err
			}},
		step{"GitHub repository " + b.cfg.GitHubRepo,
			Service{URLVar: "GITHUB_API_URL", Host: hostOf(b.cfg.GitHubAPIURL), CredentialsFix: "set GITHUB_TOKEN to a token that can write issues in GITHUB_REPO (or set the GitHub App variables).",
				OtherFix: "check GITHUB_REPO and that GITHUB_TOKEN (or the GitHub App installation) can write issues there."},
			func(ctx context.Context) (string, error) { return b.github.CheckRepo(ctx, b.cfg.GitHubRepo) }},
		step{"PagerDuty routing key", Service{OtherFix: "copy the Integration Key of an Events API v2 integration into PAGERDUTY_ROUTING_KEY."},
			func(context.Context) (string, error) {
				return routingKeyFormat(b.cfg.PagerDutyKey, "PAGERDUTY_ROUTING_KEY")
			}},
	)
	ids := make([]string, 0, len(b.cfg.ServiceKeys))
	for id := range b.cfg.ServiceKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		steps = append(steps, step{"PagerDuty service " + id, Service{OtherFix: "correct its entry in PAGERDUTY_SERVICE_KEYS."},
			func(context.Context) (string, error) {
				return routingKeyFormat(b.cfg.ServiceKeys[id], "the routing key for "+id)
			}})
	}
	return steps
}

// routingKeyFormat checks what can be checked of an Events API v2 routing key without sending an
// event: its format. The Events API accepts any well-formed key and answers for a wrong one only
// by never opening an incident, so the result says so plainly.
func routingKeyFormat(key, what string) (string, error) {
	if !routingKeyPattern.MatchString(key) {
		return "", fmt.Errorf("%s is not 32 letters and digits", what)
	}
	return "well formed (32 characters); only its format can be checked: PagerDuty's Events API accepts any well-formed key, so send a test event from the service's integration page to be sure", nil
}

// hostOf is the host (and port) of a URL, or "".
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
}
