// Package awstest runs goaws, a local SNS and SQS, inside the test binary and
// hands out AWS SDK clients, queues and topics for tests.
//
// goaws keeps its state in package variables, so there is one server per
// process: Start is idempotent, and every queue and topic gets a unique name
// derived from the test's name. Tests may share the server and run in
// parallel: awstest serialises the goaws calls that would otherwise race
// (see guard.go) and does long polling itself.
//
// Where goaws differs from AWS (all checked against goaws v0.5.4):
//   - ApproximateNumberOfMessages counts in-flight and delayed messages too.
//   - goaws answers ApproximateReceiveCount "1" on every receive and
//     SentTimestamp as the time of the receive; awstest corrects both, and
//     ApproximateFirstReceiveTimestamp, in JSON answers (counts.go), so the
//     receive count grows as on SQS and matches the count goaws's redrive
//     acts on. The old query (XML) protocol keeps goaws's values.
//   - Visibility timeouts and dead-letter moves are checked once a second,
//     so a message becomes visible again up to a second late.
//   - Deleting with the receipt handle of an earlier receive fails with 404
//     "AWS.SimpleQueueService.QueueExists"; AWS may accept it.
//   - The non-raw SNS envelope carries "Subject":"" when no subject was set
//     and message attributes as {"DataType","StringValue"}.
//
// Set AWSTEST_GOAWS_LOG=debug (or info, warn, error) to see goaws's own log
// on stderr; by default it is discarded.
package awstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sirupsen/logrus"

	"github.com/dispatch-oss/dispatch/awsfix"
)

const (
	// Region is the AWS region the server reports in ARNs.
	Region = "us-east-1"
	// AccountID is the AWS account the server reports in ARNs and queue URLs.
	AccountID = "100010001000"
	// DefaultVisibilityTimeout applies to queues created without one.
	DefaultVisibilityTimeout = 30 * time.Second
)

// Server is the process-wide goaws instance with SDK clients bound to it.
// Its methods are safe for concurrent use.
type Server struct {
	url string
	cfg aws.Config
	sqs *sqs.Client
	sns *sns.Client
	seq atomic.Uint64 // makes queue and topic names unique
	g   *guard
}

var (
	startOnce sync.Once
	started   *Server
	startErr  error
)

// Start starts (once per process) goaws on 127.0.0.1 at a free port, with
// region Region, account AccountID and a default visibility timeout of
// DefaultVisibilityTimeout, plus the once-a-second task that makes expired
// messages visible again and moves them to dead-letter queues. Later calls
// return the same server, or the same error. The server lives until the
// process exits.
func Start() (*Server, error) {
	startOnce.Do(func() { started, startErr = start() })
	return started, startErr
}

func start() (*Server, error) {
	configureLogging()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awstest: listen: %w", err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)

	// goaws reads this global while building URLs and ARNs, so it must be
	// complete before the first request.
	models.CurrentEnvironment = models.Environment{
		Host:             "127.0.0.1",
		Port:             port,
		Region:           Region,
		AccountID:        AccountID,
		EnableDuplicates: true, // FIFO deduplication, as on AWS
		QueueAttributeDefaults: models.EnvQueueAttributes{
			VisibilityTimeout:      int(DefaultVisibilityTimeout / time.Second),
			MaximumMessageSize:     262144,
			MessageRetentionPeriod: 345600,
		},
	}

	g := newGuard(router.New())
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	g.conns.Track(srv)
	go func() { _ = srv.Serve(l) }()
	// Without this task goaws never expires visibility timeouts nor moves
	// messages to a dead-letter queue. It runs for the life of the process.
	go gosqs.PeriodicTasks(time.Second, make(chan bool))

	s := &Server{url: "http://" + l.Addr().String(), g: g}
	s.cfg = aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDAWSTEST", "awstest-secret", ""),
		BaseEndpoint: aws.String(s.url),
		HTTPClient:   awsfix.HTTPClient(nil),
	}
	s.sqs = sqs.NewFromConfig(s.cfg)
	s.sns = sns.NewFromConfig(s.cfg)
	return s, nil
}

func configureLogging() {
	lvl, err := logrus.ParseLevel(os.Getenv("AWSTEST_GOAWS_LOG"))
	if err != nil || os.Getenv("AWSTEST_GOAWS_LOG") == "" {
		// goaws logs every message body at info level; formatting alone
		// costs more than the queue work, so keep the level low as well.
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
		return
	}
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(lvl)
}

// URL returns the server's base URL, "http://127.0.0.1:PORT". Use it as the
// endpoint (AWS_ENDPOINT_URL, BaseEndpoint, aws --endpoint-url) for both SNS
// and SQS.
func (s *Server) URL() string { return s.url }

// AWSConfig returns a configuration for sqs.NewFromConfig and
// sns.NewFromConfig: static dummy credentials, region Region, BaseEndpoint
// URL, and an HTTP client with the awsfix workaround. Each call returns a
// fresh copy that the caller may change.
func (s *Server) AWSConfig() aws.Config { return s.cfg.Copy() }

// Calls returns how many SNS and SQS requests the server has answered since it started, keyed by
// action ("ReceiveMessage", "Publish", …), from every client in the process: tests that share the
// server see each other's calls. A long-polled ReceiveMessage counts once, as on AWS's bill.
func (s *Server) Calls() map[string]int { return s.g.calls() }

// TCPConnections reports how many TCP connections clients have opened to the server since it
// started, from every client in the process.
func (s *Server) TCPConnections() int { return s.g.conns.Opened() }

// SQS returns an SQS client for the server, shared by all callers.
func (s *Server) SQS() *sqs.Client { return s.sqs }

// SNS returns an SNS client for the server, shared by all callers.
func (s *Server) SNS() *sns.Client { return s.sns }

// newName returns a queue or topic name unique in this process, built from
// the test name; max is the longest name the caller can accept.
func (s *Server) newName(testName string, max int) string {
	suffix := fmt.Sprintf("-%d", s.seq.Add(1))
	b := make([]byte, 0, len(testName))
	for _, c := range []byte(testName) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b = append(b, c)
		default:
			b = append(b, '_')
		}
	}
	if len(b) > max-len(suffix) {
		b = b[len(b)-(max-len(suffix)):] // subtests differ at the end
	}
	return string(b) + suffix
}

// cleanupContext bounds the deletes run from t.Cleanup, when the test's own
// context is already cancelled.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
