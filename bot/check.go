package bot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"time"

	"github.com/dispatch-oss/dispatch/pagerdutyapi"
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
		var f *finding
		switch {
		case errors.As(err, &f):
			r.Detail = f.Error()
		case err != nil:
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
					return "", &finding{what: "not checked: the queue is not reachable"}
				case b.queue.DLQURL() == "":
					return "", &finding{what: "the queue has no redrive policy", fix: "give it one (deploy/dispatch.yaml does), so that rejected alarms are kept, not hidden."}
				}
				_, _, dead, err := b.queue.Depth(ctx)
				return fmt.Sprintf("%s (%d messages)", b.queue.DLQURL(), dead), err
			}},
		step{"GitHub repository " + b.cfg.GitHubRepo,
			Service{URLVar: "GITHUB_API_URL", Host: hostOf(b.cfg.GitHubAPIURL), CredentialsFix: "set GITHUB_TOKEN to a token that can write issues in GITHUB_REPO (or set the GitHub App variables).",
				OtherFix: "check GITHUB_REPO and that GITHUB_TOKEN (or the GitHub App installation) can write issues there."},
			func(ctx context.Context) (string, error) { return b.github.CheckRepo(ctx, b.cfg.GitHubRepo) }},
		step{"PagerDuty routing key", b.pagerDutyService("PAGERDUTY_ROUTING_KEY"),
			b.routingKeyCheck(b.cfg.PagerDutyKey, "PAGERDUTY_ROUTING_KEY", true)},
	)
	ids := make([]string, 0, len(b.cfg.ServiceKeys))
	for id := range b.cfg.ServiceKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		steps = append(steps, step{"PagerDuty service " + id, b.pagerDutyService("its entry in PAGERDUTY_SERVICE_KEYS"),
			b.routingKeyCheck(b.cfg.ServiceKeys[id], "the routing key for "+id, false)})
	}
	return steps
}

// pagerDutyService describes the REST API, for a routing key's check; setting names where the
// key is configured.
func (b *Bot) pagerDutyService(setting string) Service {
	return Service{URLVar: "PAGERDUTY_API_URL", Host: hostOf(b.cfg.PagerDutyAPIURL),
		CredentialsFix: "set PAGERDUTY_API_TOKEN to a REST API key of the account (a read-only one is enough), or unset it to check only the keys' format.",
		OtherFix:       "copy the Integration Key of an Events API v2 integration into " + setting + "."}
}

// routingKeyCheck checks an Events API v2 routing key: its format, and, with a REST API key
// configured (PAGERDUTY_API_TOKEN), that one of the account's services has it. Without one, the
// format is all that can be checked: the Events API accepts any well-formed key and answers for a
// wrong one only by never opening an incident, so the result says so plainly (at length for the
// default key's line, shortly for the others).
func (b *Bot) routingKeyCheck(key, what string, explain bool) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if !routingKeyPattern.MatchString(key) {
			return "", fmt.Errorf("%s is not 32 letters and digits", what)
		}
		if b.cfg.PagerDutyAPIToken == "" {
			if explain {
				return "well formed (32 characters). Only its format can be checked: PagerDuty's Events API accepts any well-formed key. " +
					"Set PAGERDUTY_API_TOKEN (a read-only REST API key) to have check find its service, or send a test event from the service's integration page", nil
			}
			return "well formed (32 characters; only the format can be checked without PAGERDUTY_API_TOKEN)", nil
		}
		found, err := pagerdutyapi.FindRoutingKey(ctx, pagerdutyapi.RESTOptions{APIURL: b.cfg.PagerDutyAPIURL, Token: b.cfg.PagerDutyAPIToken}, key)
		if err != nil {
			return "", err
		}
		return "belongs to " + found + " (found with PAGERDUTY_API_TOKEN)", nil
	}
}

// finding is a check's failure that is not a failed call: what was found, and what to do.
type finding struct {
	what string
	fix  string // "" when there is nothing to do about it here
}

func (f *finding) Error() string {
	if f.fix == "" {
		return f.what
	}
	return f.what + ". Fix: " + f.fix
}

// hostOf is the host (and port) of a URL, or "".
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
}
