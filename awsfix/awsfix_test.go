package awsfix_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dispatch-oss/dispatch/awsfix"
)

// TestLargeResponseSurvivesEarlyBodyClose replays, deterministically, the
// race behind aws/aws-sdk-go-v2#1825: net/http's writer reaches its final
// "anything left?" copy of the request body only after the SDK has seen the
// response headers and closed the body. The body is the SDK's own (built by
// smithy-go), and the response is larger than net/http's 4 KiB read buffer.
// Without awsfix the connection is torn down mid-response; with it the whole
// response arrives.
func TestLargeResponseSurvivesEarlyBodyClose(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fixed    bool
		wantLoss bool
	}{
		{name: "with awsfix", fixed: true, wantLoss: false},
		// Documents the bug. If this case starts failing, net/http or the SDK
		// changed and awsfix may no longer be needed.
		{name: "without awsfix", fixed: false, wantLoss: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := roundTripWithEarlyClose(t, tc.fixed)
			switch {
			case tc.wantLoss && err == nil:
				t.Fatalf("read all %d bytes; want the connection closed under the reader (bug not reproduced)", len(got))
			case tc.wantLoss:
				t.Logf("reproduced: %v", err)
			case err != nil:
				t.Fatalf("reading response: %v", err)
			case !bytes.Equal(got, largeResponse):
				t.Fatalf("read %d bytes, want %d", len(got), len(largeResponse))
			}
		})
	}
}

var largeResponse = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

// roundTripWithEarlyClose sends one request with an SDK-built body through a
// fresh connection and returns the response body, or the error reading it.
func roundTripWithEarlyClose(t *testing.T, fixed bool) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	proceed := make(chan struct{}) // lets the server send the rest of the body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "65536")
		_, _ = w.Write(largeResponse[:1024])
		w.(http.Flusher).Flush()
		select {
		case <-proceed:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(largeResponse[1024:])
	}))
	defer srv.Close()

	connClosed := make(chan struct{})
	var closeOnce sync.Once
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &notifyConn{Conn: c, onClose: func() { closeOnce.Do(func() { close(connClosed) }) }}, nil
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if fixed {
		client = awsfix.HTTPClient(client)
	}

	req, body := sdkRequest(ctx, t, srv.URL, []byte(`{"QueueUrl":"q","MaxNumberOfMessages":10}`))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("do: %v", err)
	}
	defer resp.Body.Close()

	// What smithy-go's ClientHandler does as soon as Do returns.
	_ = req.Body.Close()

	// Wait until net/http's writer has made its last call on the body, then
	// give it the chance to close the connection it would close.
	select {
	case <-body.finalCopyDone:
	case <-ctx.Done():
		t.Fatal("net/http never made its final copy of the request body")
	}
	select {
	case <-connClosed:
	case <-time.After(200 * time.Millisecond): // a healthy connection stays open
	}
	close(proceed)
	return io.ReadAll(resp.Body)
}

// sdkRequest builds the request the way the SDK does (smithy-go's
// Request.Build wraps the payload in its safe body) and holds net/http's
// final body copy until the body is closed, which is the unlucky scheduling
// that loses responses in the wild.
func sdkRequest(ctx context.Context, t *testing.T, url string, payload []byte) (*http.Request, *gatedBody) {
	t.Helper()
	sr := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	sr.Method = http.MethodPost
	sr.Header.Set("Content-Type", "application/x-amz-json-1.0")
	u, err := sr.URL.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	sr.URL = u
	sr, err = sr.SetStream(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req := sr.Build(ctx)
	if _, ok := req.Body.(io.WriterTo); !ok {
		t.Fatalf("SDK body %T has no WriteTo: the SDK changed, revisit awsfix", req.Body)
	}
	g := &gatedBody{inner: req.Body, remaining: req.ContentLength, closed: make(chan struct{}), finalCopyDone: make(chan struct{})}
	req.Body = gatedWriterTo{g}
	return req, g
}

// gatedBody passes the payload through, then blocks net/http's final copy
// (the call after all ContentLength bytes were read) until Close.
type gatedBody struct {
	inner         io.ReadCloser
	remaining     int64 // touched only by net/http's writer goroutine
	closeOnce     sync.Once
	closed        chan struct{}
	doneOnce      sync.Once
	finalCopyDone chan struct{}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.remaining > 0 {
		n, err := g.inner.Read(p)
		g.remaining -= int64(n)
		return n, err
	}
	<-g.closed
	defer g.doneOnce.Do(func() { close(g.finalCopyDone) })
	return g.inner.Read(p)
}

func (g *gatedBody) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.inner.Close()
}

// gatedWriterTo exposes WriteTo like the SDK's body does.
type gatedWriterTo struct{ *gatedBody }

func (g gatedWriterTo) WriteTo(w io.Writer) (int64, error) {
	if g.remaining > 0 {
		return io.Copy(w, g.gatedBody)
	}
	<-g.closed
	defer g.doneOnce.Do(func() { close(g.finalCopyDone) })
	return g.inner.(io.WriterTo).WriteTo(w)
}

type notifyConn struct {
	net.Conn
	onClose func()
}

func (c *notifyConn) Close() error {
	c.onClose()
	return c.Conn.Close()
}

func TestTransportHidesWriterToOnly(t *testing.T) {
	var seen *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	rt := awsfix.Transport(base)

	t.Run("body with WriteTo", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "http://x/", nil)
		req.Body = io.NopCloser(strings.NewReader("payload")) // NopCloser keeps WriteTo
		req.ContentLength = 7
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
		orig := req.Body
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if req.Body != orig {
			t.Error("caller's request was modified")
		}
		if _, ok := seen.Body.(io.WriterTo); ok {
			t.Error("body passed on still has WriteTo")
		}
		if seen.ContentLength != 7 || seen.Method != http.MethodPost {
			t.Errorf("request fields not kept: %s, ContentLength %d", seen.Method, seen.ContentLength)
		}
		b, err := seen.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.(io.WriterTo); ok {
			t.Error("GetBody's body still has WriteTo")
		}
		if got, _ := io.ReadAll(b); string(got) != "payload" {
			t.Errorf("GetBody read %q", got)
		}
		if got, _ := io.ReadAll(seen.Body); string(got) != "payload" {
			t.Errorf("body read %q", got)
		}
	})
	t.Run("no body or plain body passes through", func(t *testing.T) {
		for _, body := range []io.ReadCloser{nil, http.NoBody, io.NopCloser(onlyReader{strings.NewReader("x")})} {
			req := httptest.NewRequest(http.MethodPost, "http://x/", nil)
			req.Body = body
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if seen != req {
				t.Errorf("body %T: request was copied, want it passed as is", body)
			}
		}
	})
	t.Run("wrapping twice is wrapping once", func(t *testing.T) {
		if awsfix.Transport(rt) != rt {
			t.Error("Transport(Transport(x)) wrapped again")
		}
	})
}

func TestHTTPClientKeepsBase(t *testing.T) {
	errMarker := errors.New("marker")
	base := &http.Client{Timeout: 7 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return errMarker }}
	c := awsfix.HTTPClient(base)
	if c == base || base.Transport != nil {
		t.Fatal("base was modified or returned")
	}
	if c.Timeout != 7*time.Second || c.CheckRedirect(nil, nil) != errMarker {
		t.Error("base settings not kept")
	}
	if c.Transport == nil {
		t.Error("no transport")
	}
	def := awsfix.HTTPClient(nil)
	if def.CheckRedirect == nil {
		t.Error("nil base: want the SDK's default client, with its redirect policy")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// onlyReader hides every method of its reader but Read.
type onlyReader struct{ io.Reader }
