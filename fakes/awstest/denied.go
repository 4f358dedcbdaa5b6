package awstest

import "net/http"

// WriteAccessDenied answers a request as SQS's JSON protocol refuses a role without the permission:
// 403 AccessDenied, the message naming the role ARN, the account and the queue as AWS's does. It
// lets a test stand in for an IAM policy change (goaws checks no permissions).
func WriteAccessDenied(w http.ResponseWriter, account, action string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-query-error", "AccessDenied;Sender")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#AccessDenied","message":"User: arn:aws:sts::` + account + `:assumed-role/dispatch-role/i-0abc is not authorized to perform: sqs:` + action + ` on resource: arn:aws:sqs:us-east-1:` + account + `:dispatch"}`))
}
