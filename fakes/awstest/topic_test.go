package awstest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func TestSNSToSQS(t *testing.T) {
	const alarm = `{"AlarmName":"cpu-high","NewStateValue":"ALARM"}`
	for _, tc := range []struct {
		name string
		raw  bool
	}{
		{name: "raw", raw: true},
		{name: "envelope", raw: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ctx := startServer(t, 10*time.Second)
			q := s.NewQueue(t, QueueOptions{})
			topic := s.NewTopic(t, q, tc.raw)
			_, err := s.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(alarm), Subject: aws.String("ALARM")})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			body := aws.ToString(receiveWithin(ctx, t, s, q.URL).Body)
			if tc.raw {
				if body != alarm {
					t.Errorf("raw body = %s, want the published message %s", body, alarm)
				}
				return
			}
			var env struct {
				Type, MessageId, TopicArn, Subject, Message, Timestamp, Signature string
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatalf("envelope is not JSON: %v\n%s", err, body)
			}
			if env.Type != "Notification" || env.TopicArn != topic || env.Subject != "ALARM" || env.MessageId == "" || env.Timestamp == "" {
				t.Errorf("envelope = %+v", env)
			}
			if env.Message != alarm {
				t.Errorf("envelope Message = %q, want the published message as a string", env.Message)
			}
		})
	}
}
