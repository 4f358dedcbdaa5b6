package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatch-oss/dispatch/awsfix"
)

// publish validates an alarm and sends it to an SNS topic or straight to the queue, so the README's
// examples need no awscli. AWS settings come from the SDK's default chain (AWS_REGION,
// AWS_ENDPOINT_URL, credentials).
func publish(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topic := fs.String("topic-arn", "", "SNS topic ARN to publish to")
	queue := fs.String("queue-url", "", "SQS queue URL to send to directly")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*topic == "") == (*queue == "") || fs.NArg() != 1 {
		fmt.Fprint(stderr, "usage: dispatch publish (--topic-arn ARN | --queue-url URL) FILE|-\n")
		return 2
	}
	data, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch publish:", err)
		return 2
	}
	if code := report(data, io.Discard, stderr); code != 0 {
		fmt.Fprintln(stderr, "dispatch publish: not sent")
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "dispatch publish: aws configuration:", err)
		return 1
	}
	cfg.HTTPClient = awsfix.Wrap(cfg.HTTPClient)
	body := string(data)
	if *topic != "" {
		out, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: topic, Message: &body})
		if err != nil {
			fmt.Fprintln(stderr, "dispatch publish:", err)
			return 1
		}
		fmt.Fprintln(stdout, "published", aws.ToString(out.MessageId))
		return 0
	}
	out, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queue, MessageBody: &body})
	if err != nil {
		fmt.Fprintln(stderr, "dispatch publish:", err)
		return 1
	}
	fmt.Fprintln(stdout, "sent", aws.ToString(out.MessageId))
	return 0
}
