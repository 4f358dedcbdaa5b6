package awstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/models"

	"github.com/dispatch-oss/dispatch/fakes/internal/conntrack"
)

// goaws reads its global queue and topic maps without locks in most
// handlers, so creating or deleting a queue while another test sends to its
// own queue is a data race (the race detector flags it, and Go's runtime may
// abort on a concurrent map write). guard serialises the calls that change
// those maps or a queue's settings against all other calls. It also takes
// long polling out of goaws: goaws's ReceiveMessage would hold the shared
// lock for up to 20 s and stall every create and delete behind it, so guard
// asks goaws for a non-waiting receive and repeats it itself until a message
// shows up or the wait is over.
type guard struct {
	next http.Handler
	mu   sync.RWMutex // held exclusively by exclusiveActions, shared by the rest

	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced after every call that may add messages

	countMu sync.Mutex
	counts  map[string]int // requests by action, a long-polled receive once
	conns   conntrack.Tracker

	receives receiveCounts // SQS's receive count and timestamps on every answer (counts.go)
	faults   receiveFaults
}

// exclusiveActions change goaws's queue or topic maps, or settings other
// handlers read without a lock.
var exclusiveActions = map[string]bool{
	"CreateQueue": true, "DeleteQueue": true, "SetQueueAttributes": true,
	"CreateTopic": true, "DeleteTopic": true, "Subscribe": true, "Unsubscribe": true,
	"SetSubscriptionAttributes": true, "ConfirmSubscription": true,
}

const (
	jsonContentType = "application/x-amz-json-1.0"
	maxRequestBody  = 32 << 20               // SendMessageBatch tops out near 2.5 MiB
	maxWait         = 20 * time.Second       // SQS's upper bound for WaitTimeSeconds
	pollInterval    = 100 * time.Millisecond // what goaws itself uses while long polling
)

func newGuard(next http.Handler) *guard {
	return &guard{next: next, wake: make(chan struct{}), counts: map[string]int{}}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "awstest: reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	isJSON := r.Header.Get("Content-Type") == jsonContentType
	action := actionOf(r, body, isJSON)
	g.countMu.Lock()
	g.counts[action]++
	g.countMu.Unlock()
	switch {
	case fifoSendRefused(w, action, body, isJSON):
	case action == "ReceiveMessage":
		g.receive(w, r, body, isJSON)
	default:
		g.serve(w, withBody(r, body), exclusiveActions[action])
		g.signal()
	}
}

// serve passes one request to goaws under the lock.
func (g *guard) serve(w http.ResponseWriter, r *http.Request, exclusive bool) {
	if exclusive {
		g.mu.Lock()
		defer g.mu.Unlock()
	} else {
		g.mu.RLock()
		defer g.mu.RUnlock()
	}
	g.next.ServeHTTP(w, r)
}

// calls returns a copy of the request counts by action.
func (g *guard) calls() map[string]int {
	g.countMu.Lock()
	defer g.countMu.Unlock()
	return maps.Clone(g.counts)
}

func (g *guard) signal() {
	g.wakeMu.Lock()
	close(g.wake)
	g.wake = make(chan struct{})
	g.wakeMu.Unlock()
}

func (g *guard) wakeChan() <-chan struct{} {
	g.wakeMu.Lock()
	defer g.wakeMu.Unlock()
	return g.wake
}

// receive answers ReceiveMessage with SQS's long-poll semantics, asking goaws
// only for immediate receives.
func (g *guard) receive(w http.ResponseWriter, r *http.Request, body []byte, isJSON bool) {
	wait, queueName, inner, err := noWaitReceive(r, body, isJSON)
	if err != nil { // let goaws word the error
		g.serve(w, withBody(r, body), false)
		return
	}
	if g.faults.fail(w, queueName) {
		return
	}
	if wait == 0 {
		wait = queueWait(queueName)
	}
	deadline := time.Now().Add(min(max(wait, 0), maxWait))
	for {
		woken := g.wakeChan()
		rec := httptest.NewRecorder()
		g.serve(rec, withBody(r, inner), false)
		if rec.Code == http.StatusOK && isJSON && hasMessages(rec.Body.Bytes(), isJSON) {
			body := g.receives.annotate(queueName, rec.Body.Bytes())
			rec.Body.Reset()
			rec.Body.Write(body)
			copyResponse(w, rec)
			return
		}
		if rec.Code != http.StatusOK || hasMessages(rec.Body.Bytes(), isJSON) || !time.Now().Before(deadline) {
			copyResponse(w, rec)
			return
		}
		timer := time.NewTimer(min(pollInterval, time.Until(deadline)))
		select {
		case <-woken:
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			copyResponse(w, rec)
			return
		}
		timer.Stop()
	}
}

// noWaitReceive returns the requested wait (0 when absent), the queue name
// and the request body rewritten to WaitTimeSeconds -1, which goaws takes as
// "do not wait" (0 would mean "use the queue's default").
func noWaitReceive(r *http.Request, body []byte, isJSON bool) (wait time.Duration, queue string, inner []byte, err error) {
	var secs int
	var queueURL string
	if isJSON {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, "", nil, err
		}
		if raw, ok := m["WaitTimeSeconds"]; ok {
			if err := json.Unmarshal(raw, &secs); err != nil {
				return 0, "", nil, err
			}
		}
		if raw, ok := m["QueueUrl"]; ok {
			if err := json.Unmarshal(raw, &queueURL); err != nil {
				return 0, "", nil, err
			}
		}
		m["WaitTimeSeconds"] = json.RawMessage("-1")
		if inner, err = json.Marshal(m); err != nil {
			return 0, "", nil, err
		}
	} else {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return 0, "", nil, err
		}
		if v := vals.Get("WaitTimeSeconds"); v != "" {
			if secs, err = strconv.Atoi(v); err != nil {
				return 0, "", nil, err
			}
		}
		queueURL = vals.Get("QueueUrl")
		vals.Set("WaitTimeSeconds", "-1")
		inner = []byte(vals.Encode())
	}
	if queueURL == "" {
		queueURL = r.URL.Path
	}
	if secs < 0 {
		return 0, "", nil, fmt.Errorf("negative WaitTimeSeconds %d", secs)
	}
	return time.Duration(secs) * time.Second, queueURL[strings.LastIndex(queueURL, "/")+1:], inner, nil
}

// queueWait returns the queue's ReceiveMessageWaitTimeSeconds, which SQS
// uses when a receive asks for no wait of its own.
func queueWait(name string) time.Duration {
	models.SyncQueues.RLock()
	defer models.SyncQueues.RUnlock()
	if q, ok := models.SyncQueues.Queues[name]; ok {
		return time.Duration(q.ReceiveMessageWaitTimeSeconds) * time.Second
	}
	return 0
}

func hasMessages(body []byte, isJSON bool) bool {
	if !isJSON {
		return bytes.Contains(body, []byte("<Message>"))
	}
	var res struct{ Messages []json.RawMessage }
	return json.Unmarshal(body, &res) == nil && len(res.Messages) > 0
}

// actionOf names the API call the way goaws's router does.
func actionOf(r *http.Request, body []byte, isJSON bool) string {
	if isJSON {
		target := r.Header.Get("X-Amz-Target")
		return target[strings.LastIndex(target, ".")+1:]
	}
	if vals, err := url.ParseQuery(string(body)); err == nil && vals.Get("Action") != "" {
		return vals.Get("Action")
	}
	return r.URL.Query().Get("Action")
}

// withBody returns a copy of r that reads body.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
