package bot

import (
	"context"
	"fmt"
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

var routingKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// CheckAll reaches every service with the configuration and reports what works and what to fix. It
// never stops at the first failure.
func (b *Bot) CheckAll(ctx context.Context) []CheckResult {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []CheckResult
	add := func(name string, err error, ok, fix string) {
		if err != nil {
			out = append(out, CheckResult{Name: name, Detail: fmt.Sprintf("%v. %s", err, fix)})
			return
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: ok})
	}

	user, team, err := b.slack.AuthTest(ctx)
	add("Slack bot token (auth.test)", err, fmt.Sprintf("bot user %s in team %s", user, team),
		"Fix: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (OAuth & Permissions, xoxb-…).")
	err = b.slack.AppTokenTest(ctx)
	add("Slack app token (Socket Mode)", err, "apps.connections.open accepted",
		"Fix: set SLACK_APP_TOKEN to an app-level token with connections:write (Basic Information → App-Level Tokens, xapp-…) and turn Socket Mode on.")

	err = b.queue.Discover(ctx)
	add("SQS queue", err, b.cfg.QueueURL+" reachable",
		"Fix: check DISPATCH_QUEUE_URL, AWS_REGION and the credentials (the bot needs sqs:GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility, SendMessage).")
	if err == nil {
		if b.queue.DLQURL() == "" {
			out = append(out, CheckResult{Name: "SQS dead-letter queue", Detail: "the queue has no redrive policy. Fix: give it one (deploy/dispatch.yaml does), so rejected alarms are kept, not hidden."})
		} else {
			_, _, dead, derr := b.queue.Depth(ctx)
			add("SQS dead-letter queue", derr, fmt.Sprintf("%s (%d messages)", b.queue.DLQURL(), dead), "Fix: the bot needs sqs:GetQueueAttributes and sqs:SendMessage on the dead-letter queue.")
		}
	}

	desc, err := b.github.CheckRepo(ctx, b.cfg.GitHubRepo)
	add("GitHub repository "+b.cfg.GitHubRepo, err, desc,
		"Fix: check GITHUB_REPO and that GITHUB_TOKEN (or the GitHub App installation) can write issues there.")

	var keyErr error
	if !routingKeyPattern.MatchString(b.cfg.PagerDutyKey) {
		keyErr = fmt.Errorf("PAGERDUTY_ROUTING_KEY is not 32 letters and digits")
	}
	add("PagerDuty routing key", keyErr, "well formed (Events API v2 accepts any well-formed key; send a test event from PagerDuty to be sure)",
		"Fix: copy the Integration Key of an Events API v2 integration.")
	ids := make([]string, 0, len(b.cfg.ServiceKeys))
	for id := range b.cfg.ServiceKeys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var err error
		if !routingKeyPattern.MatchString(b.cfg.ServiceKeys[id]) {
			err = fmt.Errorf("the routing key for %s is not 32 letters and digits", id)
		}
		add("PagerDuty service "+id, err, "well formed", "Fix: correct its entry in PAGERDUTY_SERVICE_KEYS.")
	}
	return out
}
