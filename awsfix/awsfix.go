// Package awsfix works around a race between aws-sdk-go-v2 and net/http that
// can tear down a connection while a response larger than net/http's 4 KiB
// read buffer is still being read.
//
// # Why
//
// The SDK wraps every request body in a "safe" reader whose WriteTo returns
// io.EOF once the body is closed, and it closes the body as soon as
// http.Client.Do returns, that is when the response headers have arrived.
// net/http writes a body with a known length in two steps: exactly
// ContentLength bytes through an io.LimitReader, then one more io.Copy to
// io.Discard to notice a body longer than announced; that second copy calls
// WriteTo when the body has it. Because net/http does not recognise the SDK's
// body as in-memory, it flushes the headers first and streams the body
// straight to the socket, so the server can answer before the writing
// goroutine reaches the second copy. When the scheduler lets the SDK close
// the body first, WriteTo reports io.EOF, net/http takes it for a write error
// and closes the connection, and the SDK's read of the rest of the response
// fails with "use of closed network connection". The SDK then reports
// "deserialization failed" and retries. For SQS ReceiveMessage that retry is
// the damage: the lost answer had already made its batch invisible, so the
// batch reappears only when its visibility timeout ends, and nothing says so.
// How often it happens depends on scheduling and load; a local SQS (goaws
// over loopback) answers fast enough to hit it.
//
// Hiding io.WriterTo makes net/http use Read for the second copy, and Read on
// the closed body returns io.EOF, which net/http takes for the normal end of
// the body. The bytes on the wire are unchanged.
//
// Public reports: https://github.com/aws/aws-sdk-go-v2/issues/1825 and
// https://github.com/aws/aws-sdk-go-v2/issues/2935. The SDK's answer
// (retrying net.ErrClosed) hides the error but not the stranded SQS batch.
package awsfix

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient returns a copy of base whose transport hides io.WriterTo on
// request bodies (see the package documentation). A nil base means the SDK's
// own default client (awshttp.NewBuildableClient: its timeouts, connection
// pool and redirect policy). base itself is not modified. Use the result as
// aws.Config.HTTPClient or with config.WithHTTPClient.
func HTTPClient(base *http.Client) *http.Client {
	if base == nil {
		if c, ok := awshttp.NewBuildableClient().Freeze().(*http.Client); ok {
			base = c
		} else {
			base = &http.Client{}
		}
	}
	c := *base
	c.Transport = Transport(base.Transport)
	return &c
}

// Transport wraps base (http.DefaultTransport when nil) so that request
// bodies reach it without an io.WriterTo method. Requests without a body, or
// whose body has no WriteTo, pass through untouched; the caller's request is
// never modified.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if t, ok := base.(*transport); ok {
		return t // already wrapped
	}
	return &transport{base: base}
}

type transport struct {
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(hideWriterTo(req))
}

// Wrap returns an aws.HTTPClient that hides io.WriterTo on request bodies before handing them to
// inner. Use it on the client config.LoadDefaultConfig built (cfg.HTTPClient = awsfix.Wrap(cfg.HTTPClient)),
// which keeps everything that client was configured with, AWS_CA_BUNDLE included: passing a plain
// *http.Client through config.WithHTTPClient instead fails when AWS_CA_BUNDLE is set.
func Wrap(inner aws.HTTPClient) aws.HTTPClient {
	if inner == nil {
		inner = awshttp.NewBuildableClient()
	}
	if w, ok := inner.(wrapped); ok {
		return w
	}
	return wrapped{inner: inner}
}

type wrapped struct {
	inner aws.HTTPClient
}

// Do implements aws.HTTPClient.
func (w wrapped) Do(req *http.Request) (*http.Response, error) {
	return w.inner.Do(hideWriterTo(req))
}

// hideWriterTo returns req, or a shallow copy whose body has no WriteTo method. A RoundTripper must
// not modify the caller's request, hence the copy.
func hideWriterTo(req *http.Request) *http.Request {
	if _, ok := req.Body.(io.WriterTo); !ok || req.Body == http.NoBody {
		return req
	}
	r := new(http.Request)
	*r = *req
	r.Body = readCloser{req.Body}
	if getBody := req.GetBody; getBody != nil {
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return readCloser{b}, nil
		}
	}
	return r
}

// readCloser exposes only Read and Close of the body it embeds.
type readCloser struct {
	io.ReadCloser
}
