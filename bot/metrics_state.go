package bot

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// depthCacheFor is how long a reading of the queues' depth is reused: every replica is scraped,
// perhaps by several Prometheus servers, and SQS's numbers are approximate and lag anyway.
const depthCacheFor = 15 * time.Second

// depthTimeout bounds the SQS call a scrape may make, so a slow SQS can't hang /metrics.
const depthTimeout = 3 * time.Second

// queueDepth reports the queue's visible and in-flight messages and the dead-letter queue's (-1 when
// there is none), as sqsqueue.Queue.Depth does.
type queueDepth func(ctx context.Context) (queued, inFlight, dead int, err error)

var (
	readyDesc = prometheus.NewDesc("dispatch_ready",
		"1 while this replica is ready (Slack connected and the queue reachable), as /readyz says.", nil, nil)
	queuedDesc = prometheus.NewDesc("dispatch_queue_messages",
		"Messages waiting in the queue (SQS ApproximateNumberOfMessages); absent when SQS can't be read.", nil, nil)
	inFlightDesc = prometheus.NewDesc("dispatch_queue_messages_in_flight",
		"Messages received from the queue by any replica and not yet deleted (ApproximateNumberOfMessagesNotVisible).", nil, nil)
	deadDesc = prometheus.NewDesc("dispatch_dead_letter_messages",
		"Messages in the dead-letter queue; absent when the queue has no redrive policy or SQS can't be read.", nil, nil)
)

// stateCollector exports what is read at scrape time rather than counted: readiness and the
// queues' depth (which includes what SQS itself moved to the dead-letter queue after too many
// receives, which no counter in dispatch sees). Until watch is called it exports nothing.
type stateCollector struct {
	mu    sync.Mutex
	ready func() bool
	depth queueDepth
	now   func() time.Time

	readAt                 time.Time
	queued, inFlight, dead int
	depthErr               error
}

func newStateCollector() *stateCollector { return &stateCollector{now: time.Now} }

// watch makes the metrics export readiness and the queues' depth, read from these functions when
// scraped.
func (m *Metrics) watch(depth queueDepth, ready func() bool) {
	m.state.mu.Lock()
	m.state.depth, m.state.ready = depth, ready
	m.state.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, queuedDesc, inFlightDesc, deadDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready != nil {
		v := 0.0
		if s.ready() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v)
	}
	if s.depth == nil {
		return
	}
	if now := s.now(); now.Sub(s.readAt) >= depthCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
		s.queued, s.inFlight, s.dead, s.depthErr = s.depth(ctx)
		cancel()
		s.readAt = now
	}
	if s.depthErr != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(s.queued))
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(s.inFlight))
	if s.dead >= 0 {
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(s.dead))
	}
}

// Describe sends the descriptor of every metric dispatch exports, including those no label value
// has been seen for yet (which /metrics doesn't list), so a dashboard's or an alert rule's queries
// can be checked against what the bot really exports.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
}
