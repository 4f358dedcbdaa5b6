// Package fakepagerduty is an in-memory PagerDuty Events API v2 for tests.
// It speaks the real wire protocol, so code under test uses the real
// go-pagerduty client:
//
//	pd := fakepagerduty.New()
//	defer pd.Close()
//	pd.AddRoutingKey(key)
//	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(pd.URL()))
//	_, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: key, Action: "trigger", ...})
//
// It validates events as PagerDuty does, keeps one incident per routing key
// and dedup key, records every accepted event, and can add latency, fail
// requests or rate-limit them.
//
// go-pagerduty v1.8.0's Client.ManageEventWithContext returns errors as
// pagerduty.APIError, which looks for a REST-style {"error":{...}} body; the
// Events API (and so this fake) answers {"status","message","errors"}, so
// only APIError.StatusCode (and RateLimited, Temporary) carries information.
package fakepagerduty

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/internal/conntrack"
	"github.com/dispatch-oss/dispatch/fakes/internal/servicetime"
)

// EnqueuePath is where the Events API v2 takes events.
const EnqueuePath = "/v2/enqueue"

// DefaultEventsPerMinute is PagerDuty's published Events API v2 limit per routing key.
const DefaultEventsPerMinute = 120

// maxEventBytes is PagerDuty's documented size limit for one event.
const maxEventBytes = 512 * 1024

// Server is a fake Events API v2 listening on 127.0.0.1. Its methods are
// safe for concurrent use.
type Server struct {
	srv   *httptest.Server
	conns conntrack.Tracker

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever an event is accepted
	keys      map[string]bool
	events    []Event
	orphans   []Event
	incidents []*Incident
	open      map[incidentKey]*Incident // triggered or acknowledged
	requests  int
	rejected  int
	service   servicetime.Clock // spent answering, SetLatency's delay excluded
	faults    faults
	restToken string // the REST API key GET /services accepts
	restLimit restLimit

	seq      int        // incidents opened, for their ids
	shape    EventShape // of the events sent to sink
	sink     func([]byte) error
	outbox   [][]byte // events not yet sent to sink
	emitted  [][]byte
	sinkErrs []error
	flushMu  sync.Mutex // one flush at a time, so events go out in order
}

// New starts a fake on a free port of 127.0.0.1. Call Close when done.
func New() *Server {
	s := &Server{
		changed: make(chan struct{}),
		keys:    make(map[string]bool),
		open:    make(map[incidentKey]*Incident),
	}
	// PagerDuty's Events API v2 limit, on by default: 120 events a minute per routing key over
	// a sliding window; tests that need more say why (SetRateLimit).
	s.faults.perWindow, s.faults.window = DefaultEventsPerMinute, time.Minute
	s.faults.accepted = make(map[string][]time.Time)
	s.restLimit = restLimit{perWindow: DefaultRESTPerMinute, window: time.Minute}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EnqueuePath, s.enqueue)
	mux.HandleFunc("GET "+ServicesPath, s.restServices)
	mux.HandleFunc("GET "+IncidentsPath, s.restIncidents)
	mux.HandleFunc("GET "+IncidentsPath+"/{id}/log_entries", s.restLogEntries)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, response{Status: "not found", Message: "Not Found"})
	})
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conntrack.First(r) {
			s.mu.Lock()
			d := s.faults.connectLatency
			s.mu.Unlock()
			if d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	}))
	s.conns.Track(s.srv.Config)
	s.srv.Start()
	return s
}

// TCPConnections reports how many TCP connections clients have opened to the server: with
// keep-alive working, a handful; one per request when clients cannot reuse them.
func (s *Server) TCPConnections() int { return s.conns.Opened() }

// URL returns the base URL, "http://127.0.0.1:PORT", for
// pagerduty.WithV2EventsAPIEndpoint; events go to URL()+EnqueuePath.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down, waiting for requests in progress.
func (s *Server) Close() { s.srv.Close() }

// AddRoutingKey registers an integration key. Events to well-formed keys
// that were never added are accepted, as PagerDuty does, but only recorded
// in UnknownKeyEvents: they open no incident.
func (s *Server) AddRoutingKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
}

// Requests returns how many requests reached the server, including the ones
// that failed, were throttled or were invalid. Retries show up here.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ServiceTime reports how long the fake has spent answering requests, SetLatency's delay
// excluded: the share of a client's wait that is the fake's own work.
func (s *Server) ServiceTime() time.Duration { return s.service.Total() }

// response is the Events API's answer body, for success and failure alike.
type response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	latency := s.faults.latency
	s.mu.Unlock()

	// Read the body first: only then does net/http watch the connection and
	// cancel r.Context() when a client gives up during the delay.
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	start := time.Now()
	defer s.service.Since(start)
	if status, failed := s.injectedFailure(); failed {
		writeJSON(w, status, failureBody(status))
		return
	}
	if readErr != nil {
		s.reject(w, []string{"Event object is too large or unreadable"})
		return
	}
	ev, errs := parseEvent(body)
	if len(errs) > 0 {
		s.reject(w, errs)
		return
	}
	ev.Received = time.Now()

	s.mu.Lock()
	if !s.faults.allow(ev.RoutingKey, ev.Received) {
		s.mu.Unlock()
		writeJSON(w, http.StatusTooManyRequests, failureBody(http.StatusTooManyRequests))
		return
	}
	if ev.DedupKey == "" {
		ev.DedupKey = newDedupKey()
	}
	s.record(ev)
	s.mu.Unlock()
	s.flush()

	writeJSON(w, http.StatusAccepted, response{Status: "success", Message: "Event processed", DedupKey: ev.DedupKey})
}

func (s *Server) reject(w http.ResponseWriter, errs []string) {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	writeJSON(w, http.StatusBadRequest, response{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
}

func writeJSON(w http.ResponseWriter, status int, body response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// newDedupKey makes a key like the ones PagerDuty hands out: 32 hex digits.
func newDedupKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return hex.EncodeToString(b)
}
