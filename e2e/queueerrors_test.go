package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// TestStatusAndReadyzShowNoAWSDetail: the bot's role loses its SQS permissions while it runs. AWS's
// refusal names the account, the role ARN and the queue; /dispatch status (any member) and /readyz
// say only what kind of failure it is, and the log keeps the detail.
func TestStatusAndReadyzShowNoAWSDetail(t *testing.T) {
	a, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	var deny atomic.Bool
	target, _ := url.Parse(a.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	iam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !deny.Load() {
			proxy.ServeHTTP(w, r)
			return
		}
		awstest.WriteAccessDenied(w, "100010001000", "receivemessage")
	}))
	defer iam.Close()
	cfg := a.AWSConfig()
	cfg.BaseEndpoint = aws.String(iam.URL)
	e := stack.New(t, stack.Options{AWS: &cfg})
	r := e.StartBot()
	deny.Store(true)

	var readyz string
	e.Eventually("/readyz to see the queue refused", wait, func() bool {
		code, body := e.HTTPGet(r, "/readyz")
		readyz = body
		return code == http.StatusServiceUnavailable && strings.Contains(body, "access denied")
	})
	status := e.Slash("U0ALICE", "status").Text
	if !strings.Contains(status, "the queue is unreachable: access denied") {
		t.Errorf("status does not say why:\n%s", status)
	}
	for _, shown := range []string{readyz, status} {
		for _, detail := range []string{"100010001000", "arn:aws", "dispatch-role", "operation error", "RequestID"} {
			if strings.Contains(shown, detail) {
				t.Errorf("a member sees %q:\n%s", detail, shown)
			}
		}
	}
	if len(e.LogLines("arn:aws:sts::100010001000:assumed-role/dispatch-role")) == 0 {
		t.Error("the log lost the detail")
	}
	deny.Store(false)
}
