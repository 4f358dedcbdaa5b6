package e2e

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatch-oss/dispatch/awsfix"
	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// scripts/awscli-examples.sh starts goaws, publishes the READMEs' `aws sns publish` examples to it
// with the AWS CLI, and runs TestAWSCLIExamples with these set.
const (
	awscliEndpointEnv = "DISPATCH_E2E_AWSCLI_ENDPOINT"  // goaws's URL, http://127.0.0.1:PORT
	awscliQueueEnv    = "DISPATCH_E2E_AWSCLI_QUEUE_URL" // the queue subscribed to the examples' topic
	awscliScript      = "../scripts/awscli-examples.sh"
	seedREADME        = "../testdata/seed-readme-examples.md" // from the README of the system dispatch replaces
)

// TestAWSCLIExamples starts dispatch on the queue the script's `aws sns publish` commands filled
// (the README's self-service example, and the seed README's self-service, high and broadcast ones)
// and checks each did what the README promises.
func TestAWSCLIExamples(t *testing.T) {
	endpoint, queueURL := os.Getenv(awscliEndpointEnv), os.Getenv(awscliQueueEnv)
	if endpoint == "" && queueURL == "" {
		t.Skipf("needs the AWS CLI and a goaws it published to: run `bash scripts/awscli-examples.sh` (sets %s and %s)", awscliEndpointEnv, awscliQueueEnv)
	}
	if endpoint == "" || queueURL == "" {
		t.Fatalf("set both %s and %s, or neither", awscliEndpointEnv, awscliQueueEnv)
	}
	awsCfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDAWSCLIEXAMPLES", "awscli-examples-secret", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   awsfix.HTTPClient(nil),
	}
	e := stack.New(t, stack.Options{AWS: &awsCfg, Configure: func(c *bot.Config) { c.QueueURL = queueURL }})
	depth := func() (int, error) { return externalDepth(sqs.NewFromConfig(awsCfg), queueURL) }
	if n, err := depth(); err != nil || n != 4 {
		t.Fatalf("the queue holds %d messages (%v), want the 4 the script published", n, err)
	}
	e.StartBot()

	e.Eventually("the queue to drain", wait, func() bool { n, err := depth(); return err == nil && n == 0 })
	e.Eventually("the DMs", wait, func() bool { return len(e.Slack.DMs("U0ALICE")) >= 2 && len(e.Slack.DMs("U0BOB")) >= 1 })

	// self-service, published twice (the README's and the seed's command): one issue, one DM.
	issues := map[string][]string{} // title → bodies
	for _, is := range e.Issues(repo) {
		issues[is.Title] = append(issues[is.Title], is.Body)
	}
	if got := issues["self-service title"]; len(got) != 1 || !strings.Contains(got[0], "self-service body") || !strings.Contains(got[0], "@alice") {
		t.Errorf("want one self-service issue mentioning @alice, got %q", got)
	}
	var selfService, broadcast []fakeslack.Message
	for _, m := range e.Slack.DMs("U0ALICE") {
		if len(stack.Buttons(t, m)) > 0 {
			selfService = append(selfService, m)
		} else {
			broadcast = append(broadcast, m)
		}
	}
	if len(selfService) != 1 {
		t.Fatalf("alice got %d DMs with buttons, want 1 (the second self-service example repeats the first)", len(selfService))
	}
	m := selfService[0]
	if bs := stack.Buttons(t, m); len(bs) != 2 || bs[0].Text != "testYesAction" || bs[1].Text != "testNoAction" {
		t.Errorf("self-service buttons = %+v", bs)
	}
	for _, want := range []string{"testSlackMessage", "testSlackPrompt", "/issues/"} {
		if !strings.Contains(string(m.Blocks), want) {
			t.Errorf("the self-service DM lacks %q: %s", want, m.Blocks)
		}
	}
	if n := len(e.LogLines("an issue with this title exists")); n != 1 {
		t.Errorf("want the repeated self-service example de-duplicated once, got %d log lines", n)
	}

	// broadcast: alice and bob get the message without buttons; one issue lists both.
	broadcast = append(broadcast, e.Slack.DMs("U0BOB")...)
	if len(broadcast) != 2 {
		t.Errorf("want one broadcast DM each to alice and bob, got %d", len(broadcast))
	}
	for _, m := range broadcast {
		if len(stack.Buttons(t, m)) != 0 || !strings.Contains(string(m.Blocks), "testSlackMessage") {
			t.Errorf("broadcast DM = %s", m.Blocks)
		}
	}
	if got := issues["broadcast title"]; len(got) != 1 || !strings.Contains(got[0], "@alice") || !strings.Contains(got[0], "@bob") {
		t.Errorf("want one broadcast issue listing @alice and @bob, got %q", got)
	}
	if len(issues) != 2 {
		t.Errorf("issues by title: %v, want the self-service and the broadcast ones only", issues)
	}

	// high: one page, though the seed's message ends in an extra "}".
	events := e.PD.Events()
	if len(events) != 1 || events[0].Summary != "pagerduty title" || events[0].Action != "trigger" || events[0].RoutingKey != routingKey {
		t.Errorf("PagerDuty events = %+v, want one trigger of \"pagerduty title\"", events)
	}

	if msgs := e.Slack.Messages(fallbackChannel); len(msgs) != 0 {
		t.Errorf("an example was rejected or unroutable: the fallback channel got %d messages", len(msgs))
	}
}

// externalDepth counts the messages a goaws queue holds, visible or not (goaws counts in-flight
// and delayed ones in ApproximateNumberOfMessages).
func externalDepth(client *sqs.Client, queueURL string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
}

// TestAWSCLIScriptRunsTheREADMEExamples keeps scripts/awscli-examples.sh honest: every
// `aws sns publish` command of README.md and of the seed README is in it, character for character
// (leading blanks and line continuations aside), so TestAWSCLIExamples tests what users copy.
func TestAWSCLIScriptRunsTheREADMEExamples(t *testing.T) {
	script := publishCommands(readText(t, awscliScript))
	for _, doc := range []string{"../README.md", seedREADME} {
		cmds := publishCommands(readText(t, doc))
		if len(cmds) == 0 {
			t.Errorf("%s has no `aws sns publish` examples any more: update this test and the script", doc)
		}
		for _, c := range cmds {
			if !slices.Contains(script, c) {
				t.Errorf("%s publishes an example the script doesn't run, or runs differently:\n%s", doc, c)
			}
		}
	}
}

// publishCommands returns the `aws sns publish` commands in text, each joined into one line.
func publishCommands(text string) []string {
	var cmds []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "aws sns publish ") {
			continue
		}
		var parts []string
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			parts = append(parts, strings.TrimSpace(strings.TrimSuffix(line, `\`)))
			i++
			line = strings.TrimSpace(lines[i])
		}
		cmds = append(cmds, strings.Join(append(parts, line), " "))
	}
	return cmds
}

func readText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
