package sqsqueue

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatch-oss/dispatch/fakes/awstest"
)

// TestQueueErrorsAreClassified: against goaws, a missing queue and an unreachable endpoint come
// back as a Problem whose sentence names the kind of failure and no account or URL; the SDK's error
// stays inside for the log.
func TestQueueErrorsAreClassified(t *testing.T) {
	a, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.AWSConfig()
	missing := New(sqs.NewFromConfig(cfg), a.URL()+"/100010001000/no-such-queue", TaskKeys{[]byte(strings.Repeat("k", 32))})
	// SQS's refusal, in its JSON protocol, as AWS words it for a role without sqs:GetQueueAttributes.
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awstest.WriteAccessDenied(w, "100010001000", "getqueueattributes")
	}))
	defer deny.Close()
	cfg.BaseEndpoint = aws.String(deny.URL)
	denied := New(sqs.NewFromConfig(cfg), deny.URL+"/100010001000/q", nil)
	cfg.BaseEndpoint = aws.String("http://127.0.0.1:1")
	cfg.RetryMaxAttempts = 1
	down := New(sqs.NewFromConfig(cfg), "http://127.0.0.1:1/100010001000/q", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		q    *Queue
		want string
	}{
		{"access denied", denied, "access denied"},
		{"goaws's refusal of a missing queue", missing, "AWS refused the request (AWS.SimpleQueueService.InvalidParameterValue)"},
		{"nothing listening", down, "network error"},
	} {
		_, _, _, err := tc.q.Depth(ctx)
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("%s: %v is not a *Problem", tc.name, err)
		}
		if !strings.Contains(p.Public(), tc.want) || strings.Contains(p.Public(), "100010001000") || strings.Contains(p.Public(), "http") {
			t.Errorf("%s: members see %q", tc.name, p.Public())
		}
		if !strings.Contains(err.Error(), "100010001000") && tc.q == denied {
			t.Errorf("%s: the log loses the detail: %v", tc.name, err)
		}
	}
}
