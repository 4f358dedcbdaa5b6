package awstest

import (
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// NewTopic creates an SNS topic named after t.Name(), subscribes queue q to
// it with RawMessageDelivery set to raw, deletes the topic in t.Cleanup and
// returns the topic ARN. It fails the test (t.Fatal) if goaws refuses.
//
// With raw, each SQS message body is the published message itself. Without,
// it is the SNS envelope: {"Type":"Notification","MessageId","TopicArn",
// "Subject","Message","Timestamp","SignatureVersion","Signature",
// "SigningCertURL","UnsubscribeURL","MessageAttributes"} with the published
// message as the string Message.
func (s *Server) NewTopic(t testing.TB, q Queue, raw bool) string {
	t.Helper()
	ctx, cancel := cleanupContext()
	defer cancel()

	name := s.newName(t.Name(), 256)
	out, err := s.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("awstest: create topic %s: %v", name, err)
	}
	arn := aws.ToString(out.TopicArn)
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if _, err := s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
			t.Errorf("awstest: delete topic %s: %v", name, err)
		}
	})
	_, err = s.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:   aws.String(arn),
		Protocol:   aws.String("sqs"),
		Endpoint:   aws.String(q.ARN),
		Attributes: map[string]string{"RawMessageDelivery": strconv.FormatBool(raw)},
	})
	if err != nil {
		t.Fatalf("awstest: subscribe %s to %s: %v", q.Name, name, err)
	}
	return arn
}
