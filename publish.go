package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"

	"github.com/dispatch-oss/dispatch/awsfix"
	"github.com/dispatch-oss/dispatch/bot"
)

// publishTimeout bounds finding the credentials and sending, together.
const publishTimeout = 30 * time.Second

var publishCommand = &command{
	name:    "publish",
	args:    "(--topic-arn ARN | --queue-url URL) FILE|-",
	summary: "validate an alarm, then send it to the SNS topic or the SQS queue",
	description: `Validates one alarm message (a file, or standard input for "-") and, if it is valid, publishes it
to the SNS topic or sends it straight to the queue, so the README's examples need no AWS CLI.
AWS settings come from the SDK's usual places (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an IAM role); with no region configured, the
region is the one the topic ARN or the queue URL names.`,
	exits: "0 sent, 1 invalid alarm or sending failed, 2 usage error, unreadable file or AWS not configured",
	flags: func(fs *flagSet) runner {
		topic := fs.String("topic-arn", "", "SNS topic ARN to publish to (arn:aws:sns:REGION:ACCOUNT:NAME)")
		queue := fs.String("queue-url", "", "SQS queue URL to send to directly (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
		return func(inv *invocation) int {
			if (*topic == "") == (*queue == "") {
				return inv.usageError("give one of --topic-arn and --queue-url")
			}
			if inv.fs.NArg() != 1 {
				return inv.usageError("publish takes one FILE, or - for standard input")
			}
			return publish(*topic, *queue, inv)
		}
	},
}

// publish validates the alarm and sends it to topic, or else to queue.
func publish(topic, queue string, inv *invocation) int {
	data, err := readInput(inv.fs.Arg(0), inv.stdin)
	if err != nil {
		fmt.Fprintln(inv.stderr, "dispatch publish:", err)
		return exitUsage
	}
	if code := report(data, false, io.Discard, inv.stderr); code != exitOK {
		fmt.Fprintln(inv.stderr, "dispatch publish: not sent")
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	// The SDK's own logger would print its warnings (IMDS fallbacks…) before the message that matters.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		fmt.Fprintln(inv.stderr, "dispatch publish: the AWS configuration is unusable:", err)
		return exitUsage
	}
	if cfg.Region == "" {
		cfg.Region = regionOf(topic, queue)
	}
	if cfg.Region == "" {
		fmt.Fprintln(inv.stderr, "dispatch publish: no AWS region: set AWS_REGION (e.g. AWS_REGION=us-east-1), or give the full topic ARN or queue URL, which name it. Not sent.")
		return exitUsage
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		fmt.Fprintln(inv.stderr, "dispatch publish: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile of ~/.aws/config), or run where an IAM role is available. Not sent.")
		return exitUsage
	}
	cfg.HTTPClient = awsfix.Wrap(cfg.HTTPClient)
	body := string(data)
	var id string
	if topic != "" {
		var out *sns.PublishOutput
		if out, err = sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: &body}); err == nil {
			id = "published " + aws.ToString(out.MessageId)
		}
	} else {
		var out *sqs.SendMessageOutput
		if out, err = sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &queue, MessageBody: &body}); err == nil {
			id = "sent " + aws.ToString(out.MessageId)
		}
	}
	if err != nil {
		fmt.Fprintln(inv.stderr, "dispatch publish: not sent:", bot.ExplainFailure(err, awsService(topic), publishTimeout))
		return exitFailure
	}
	fmt.Fprintln(inv.stdout, id)
	return exitOK
}

// awsService describes SNS or SQS for bot.ExplainFailure.
func awsService(topic string) bot.Service {
	if topic != "" {
		return bot.Service{URLVar: "AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SNS)", CredentialsFix: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials allowed sns:Publish on the topic"}
	}
	return bot.Service{URLVar: "AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SQS)", CredentialsFix: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to credentials allowed sqs:SendMessage on the queue"}
}

// regionOf returns the region a topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME) or a queue URL
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or the older https://REGION.queue.amazonaws.com/…)
// names, or "".
func regionOf(topicARN, queueURL string) string {
	if topicARN != "" {
		if parts := strings.Split(topicARN, ":"); len(parts) >= 6 && parts[0] == "arn" && parts[2] == "sns" {
			return parts[3]
		}
		return ""
	}
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	labels := strings.Split(u.Hostname(), ".")
	switch {
	case len(labels) >= 4 && labels[0] == "sqs" && labels[2] == "amazonaws":
		return labels[1]
	case len(labels) >= 4 && labels[1] == "queue" && labels[2] == "amazonaws":
		return labels[0]
	}
	return ""
}
