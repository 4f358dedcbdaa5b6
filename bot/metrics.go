package bot

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are dispatch's Prometheus metrics, on a registry of their own (no globals, so tests can
// run several bots in one process). They also feed /dispatch status.
type Metrics struct {
	Registry *prometheus.Registry

	Received    prometheus.Counter
	Handled     *prometheus.CounterVec // by type
	Duplicates  *prometheus.CounterVec // by type
	Rejected    *prometheus.CounterVec // by reason
	Failed      *prometheus.CounterVec // transient failures, by type
	Answers     *prometheus.CounterVec // by answer: yes, no, refused, duplicate
	MFA         *prometheus.CounterVec // Duo checks by result (issue 19)
	Reasons     *prometheus.CounterVec // reason modals submitted: given, empty, failed (issue 19)
	Escalations prometheus.Counter
	APICalls    *prometheus.CounterVec // by service and outcome
	Latency     prometheus.Histogram
	InFlight    prometheus.Gauge
	Connected   prometheus.Gauge
	Reconnects  prometheus.Counter
	ServiceUp   *prometheus.GaugeVec // by service: 0 while it is failing (see health)
	Waiting     prometheus.Gauge     // alarms handed back after a transient failure, not finished yet
	Resent      prometheus.Counter   // messages re-sent as fresh copies to stay clear of maxReceiveCount
	// GitHubLimit and GitHubRemaining are GitHub's primary limit and what is left of it, as its last
	// answer said (X-RateLimit-Limit and -Remaining): the credential's, shared by every replica.
	GitHubLimit, GitHubRemaining prometheus.Gauge

	// onCall, when set, sees every service call's outcome (the health tracker).
	onCall func(service string, req *http.Request, status int, err error)
	// TasksExpired counts signed tasks dropped past their expiry, by kind.
	TasksExpired *prometheus.CounterVec

	state      *stateCollector
	collectors []prometheus.Collector

	mu        sync.Mutex
	lastAlarm time.Time
	counts    map[string]int // by type, for /dispatch status
	errors    int
}

// NewMetrics registers dispatch's metrics (and the Go and process collectors) on a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{
		Registry:    r,
		Received:    prometheus.NewCounter(prometheus.CounterOpts{Name: "dispatch_alarms_received_total", Help: "Queue messages received."}),
		Handled:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_alarms_handled_total", Help: "Alarms handled, by type."}, []string{"type"}),
		Duplicates:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_alarms_duplicate_total", Help: "Alarms that matched an existing issue and raised nothing new, by type."}, []string{"type"}),
		Rejected:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_alarms_rejected_total", Help: "Messages that can't be routed, by reason."}, []string{"reason"}),
		Failed:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_alarms_failed_total", Help: "Transient failures handling an alarm (it is retried), by type."}, []string{"type"}),
		Answers:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_answers_total", Help: "Button clicks on self-service alarms, by outcome."}, []string{"answer"}),
		Reasons:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_answer_reasons_total", Help: "Reason modals submitted with an answer, by whether words were given (given, empty, failed)."}, []string{"reason"}),
		MFA:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_mfa_total", Help: "Duo checks of a Yes, by result (approved, reused, bypass, denied, timeout, unreachable, not_enrolled, no_push_device, refused)."}, []string{"result"}),
		Escalations: prometheus.NewCounter(prometheus.CounterOpts{Name: "dispatch_escalations_total", Help: "PagerDuty triggers."}),
		APICalls:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_api_calls_total", Help: "HTTP calls to outside services, by service and outcome."}, []string{"service", "outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dispatch_alarm_handling_seconds", Help: "Time from receiving an alarm to finishing its work.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}),
		InFlight:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "dispatch_alarms_in_flight", Help: "Alarms being handled now."}),
		Connected:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "dispatch_slack_connected", Help: "1 while the Socket Mode connection is up."}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "dispatch_slack_reconnects_total", Help: "Socket Mode connections opened after the first."}),
		ServiceUp:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dispatch_service_up", Help: "0 while calls to the service keep failing (5xx or no answer), else 1."}, []string{"service"}),
		Waiting:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "dispatch_alarms_waiting", Help: "Alarms waiting in the queue to be retried after a transient failure."}),
		Resent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "dispatch_messages_resent_total", Help: "Messages re-sent as a fresh copy before their receive count reached the redrive policy's maxReceiveCount."}),
		counts:     map[string]int{},
		GitHubLimit: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dispatch_github_rate_limit",
			Help: "GitHub's primary limit of requests an hour for dispatch's credential, as GitHub last said (X-RateLimit-Limit)."}),
		GitHubRemaining: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dispatch_github_rate_remaining",
			Help: "Requests left of GitHub's primary limit until its reset, as GitHub last said (X-RateLimit-Remaining); shared by every replica."}),
		TasksExpired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_tasks_expired_total",
			Help: "Deferred tasks (answers, reminders, escalations, filings) dropped past their expiry, by kind."}, []string{"kind"}),
	}
	m.state = newStateCollector()
	m.collectors = []prometheus.Collector{m.Received, m.Handled, m.Duplicates, m.Rejected, m.Failed, m.Answers, m.MFA, m.Reasons, m.Escalations, m.APICalls, m.Latency, m.InFlight, m.Connected, m.Reconnects, m.TasksExpired,
		m.ServiceUp, m.Waiting, m.Resent, m.GitHubLimit, m.GitHubRemaining, m.state, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, c := range m.collectors {
		f(c)
	}
	return m
}

func (m *Metrics) handled(typ string, d time.Duration) {
	m.Handled.WithLabelValues(typ).Inc()
	m.Latency.Observe(d.Seconds())
	m.mu.Lock()
	m.counts[typ]++
	m.lastAlarm = time.Now()
	m.mu.Unlock()
}

func (m *Metrics) failure() {
	m.mu.Lock()
	m.errors++
	m.mu.Unlock()
}

// Snapshot is what /dispatch status shows of the counters.
type Snapshot struct {
	ByType    map[string]int
	Errors    int
	LastAlarm time.Time
}

// Snapshot copies the counters /dispatch status shows.
func (m *Metrics) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	by := make(map[string]int, len(m.counts))
	for k, v := range m.counts {
		by[k] = v
	}
	return Snapshot{ByType: by, Errors: m.errors, LastAlarm: m.lastAlarm}
}

// instrument counts every HTTP call a service client makes, by outcome (a status class or "error").
func (m *Metrics) instrument(service string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(req)
		outcome := "error"
		if err == nil {
			outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
		}
		m.APICalls.WithLabelValues(service, outcome).Inc()
		if m.onCall != nil && req.Context().Err() == nil {
			status := 0
			if err == nil {
				status = resp.StatusCode
			}
			m.onCall(service, req, status, err)
		}
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
