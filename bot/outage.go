package bot

import (
	"context"
	"net/http"
	"strings"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/sqsqueue"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/handlers"
)

// failuresForOutage is how many calls in a row must fail before a service counts as down: one
// failed call is a blip the retries absorb, three in a row (each already retried) is an outage.
const failuresForOutage = 3

// probeEvery is how often, while a service is down, one alarm that needs it is let through to find
// out whether it is back; the others wait in the queue without calling it (see health.admit).
const probeEvery = 10 * time.Second

// quietProbes is how many probe intervals a down service's failing call may go uncalled before the
// service stops holding alarms back: the probes let through meanwhile succeeded without it, so
// holding the rest protects nothing (the outage itself lasts until that call answers).
const quietProbes = 6

// serviceNames are the services as operators know them, by the label the metrics use.
var serviceNames = map[string]string{"slack": "Slack", "github": "GitHub", "pagerduty": "PagerDuty", "sqs": "SQS"}

// health follows whether each outside service answers, from the outcome of every call, so that
// /dispatch status and dispatch_service_up can say which one is failing, and the fallback channel
// hears once when an outage starts and once when it ends (never once per alarm).
type health struct {
	metrics *Metrics
	waiting func() int                                    // alarms waiting now
	notify  func(context.Context, handlers.ServiceChange) // announces a change

	mu       sync.Mutex
	services map[string]*serviceState
}

type serviceState struct {
	failing map[string]int // calls failed in a row, by endpoint (see endpointOf)
	down    bool           // announced as down
	since   time.Time      // first failure of the current run
	failed  time.Time      // the last failure
	cause   string         // the last failure
	probed  time.Time      // when an alarm was last let through while down
	nudged  time.Time      // when a waiting alarm was last brought forward to probe (see probesDue)
}

// outage reports whether some endpoint has failed failuresForOutage times in a row.
func (st *serviceState) outage() bool {
	for _, n := range st.failing {
		if n >= failuresForOutage {
			return true
		}
	}
	return false
}

// endpointOf names the endpoint a request calls, without the parts that vary by call: the method,
// and the path with every number in it (issue and comment numbers), and a GitHub repository's
// owner and name, replaced by "*" ("POST /repos/*/*/issues", "POST /api/chat.postMessage").
func endpointOf(r *http.Request) string {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i, seg := range segs {
		if (seg != "" && strings.Trim(seg, "0123456789") == "") || (i > 0 && i < 3 && segs[0] == "repos") {
			segs[i] = "*"
		}
	}
	return r.Method + " /" + strings.Join(segs, "/")
}

// admit reports whether an alarm that calls services may go ahead now: yes unless one of them is
// down, and then only as that service's probe, one every `every`, for as long as its failing call
// keeps failing: once it has not failed for quietProbes intervals, no alarm calls it any more and
// alarms go ahead (a call that fails again holds them back again). down names the service that
// holds it back.
func (h *health) admit(services []string, every time.Duration) (ok bool, down string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for _, s := range services {
		st := h.services[s]
		if st == nil || !st.down || now.Sub(st.failed) >= quietProbes*every {
			continue
		}
		if now.Sub(st.probed) < every {
			return false, serviceNames[s]
		}
		st.probed = now
	}
	return true, ""
}

// probesDue names the services down and holding alarms back (see admit) whose probe is due: no
// alarm let through for `every`, nor brought forward to be (nudged).
func (h *health) probesDue(every time.Duration) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	var out []string
	for s, st := range h.services {
		if st.down && now.Sub(st.failed) < quietProbes*every && now.Sub(st.probed) >= every && now.Sub(st.nudged) >= every {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// nudged records that a waiting alarm was brought forward to probe service.
func (h *health) nudged(service string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.services[service]; st != nil {
		st.nudged = time.Now()
	}
}

// anyDown reports whether some service is down (cheap: no alarm is decoded otherwise).
func (h *health) anyDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range h.services {
		if st.down {
			return true
		}
	}
	return false
}

func newHealth(m *Metrics) *health {
	h := &health{metrics: m, services: map[string]*serviceState{}}
	for s := range serviceNames {
		h.services[s] = &serviceState{failing: map[string]int{}}
		m.ServiceUp.WithLabelValues(s).Set(1)
	}
	return h
}

// observe records one call's outcome: failed is a 5xx or no answer at all (a 4xx, 429 included, is
// the service answering). Calls count by endpoint, so that a service whose chat.postMessage fails
// while its other methods answer is down (and stays down) until chat.postMessage answers again:
// only the call that failed ends its outage, never another call's success nor an alarm handled
// without it (a partial outage would flap, each end releasing the waiting alarms into the call
// that still fails).
func (h *health) observe(service, endpoint string, failed bool, cause string) {
	h.mu.Lock()
	st, ok := h.services[service]
	if !ok {
		h.mu.Unlock()
		return
	}
	var change *handlers.ServiceChange
	switch {
	case failed:
		if len(st.failing) == 0 && !st.down {
			st.since = time.Now()
		}
		st.failing[endpoint]++
		st.cause, st.failed = cause, time.Now()
		if !st.down && st.failing[endpoint] >= failuresForOutage {
			st.down = true
			change = &handlers.ServiceChange{Service: serviceNames[service], Down: true, Since: st.since, Cause: cause}
		}
	default:
		delete(st.failing, endpoint)
		if st.down && !st.outage() {
			change = h.endLocked(service, st)
		}
	}
	if change != nil && change.Down {
		h.metrics.ServiceUp.WithLabelValues(service).Set(0)
	}
	h.mu.Unlock()
	h.announce(change)
}

// endLocked ends the service's outage and returns the change to announce.
func (h *health) endLocked(service string, st *serviceState) *handlers.ServiceChange {
	change := &handlers.ServiceChange{Service: serviceNames[service], Since: st.since, Cause: st.cause, Ended: time.Now()}
	*st = serviceState{failing: map[string]int{}}
	h.metrics.ServiceUp.WithLabelValues(service).Set(1)
	return change
}

// announce hands a change (nil: none) to notify, with the alarms waiting now.
func (h *health) announce(change *handlers.ServiceChange) {
	if change == nil || h.notify == nil {
		return
	}
	if h.waiting != nil {
		change.Waiting = h.waiting()
	}
	h.notify(context.Background(), *change)
}

// report lists the services that are down now, by name, for /dispatch status.
func (h *health) report() []handlers.ServiceHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []handlers.ServiceHealth
	for s, st := range h.services {
		if st.down {
			out = append(out, handlers.ServiceHealth{Service: serviceNames[s], Since: st.since, Cause: st.cause})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// outcomeCause words a call's failure for the notices: the status, or that there was no answer.
func outcomeCause(status int, err error) (failed bool, cause string) {
	switch {
	case err != nil:
		return true, "no answer (network error or timeout)"
	case status >= 500:
		return true, "HTTP " + strconv.Itoa(status)
	default:
		return false, ""
	}
}

// waitingAlarms counts the alarms handed back to the queue after a transient failure and not
// finished since, by delivery ID. An entry older than expire is forgotten (another replica may
// have finished the alarm).
type waitingAlarms struct {
	expire time.Duration
	gauge  func(float64)

	mu   sync.Mutex
	last map[string]time.Time
}

func (w *waitingAlarms) add(id string) {
	w.mu.Lock()
	if w.last == nil {
		w.last = map[string]time.Time{}
	}
	w.last[id] = time.Now()
	w.mu.Unlock()
	w.count()
}

func (w *waitingAlarms) done(id string) {
	w.mu.Lock()
	_, ok := w.last[id]
	delete(w.last, id)
	w.mu.Unlock()
	if ok {
		w.count()
	}
}

// count returns (and sets the gauge to) the number waiting now.
func (w *waitingAlarms) count() int {
	w.mu.Lock()
	for id, t := range w.last {
		if time.Since(t) > w.expire {
			delete(w.last, id)
		}
	}
	n := len(w.last)
	w.mu.Unlock()
	if w.gauge != nil {
		w.gauge(float64(n))
	}
	return n
}

// servicesFor names the services the outage gate admits a message by: each step waits only for its
// own service (docs/RELIABILITY.md, section 0). A task is its step's one service (none for a
// reminder, which is skipped rather than held, and an answer's durable copy, whose steps each look
// at their own); a page PagerDuty; a self-service alarm none, as its steps (the issue, the DM, the
// deadlines) each go ahead or wait on their own service; a broadcast or a nag Slack, as its DMs go
// first while GitHub is down (its issue follows as a file task); a low-priority alarm, which is
// only its issue, GitHub. A message that doesn't decode calls none (it is rejected).
func servicesFor(u sqsqueue.Unwrapped) []string {
	if u.Task != nil {
		if s := u.Task.Service(); s != "" {
			return []string{s}
		}
		return nil
	}
	a, _, err := alerts.Decode(u.Payload)
	switch {
	case err != nil:
		return nil
	case a.Type == alerts.HighPriority:
		return []string{"pagerduty"}
	case a.Type == alerts.SelfService:
		return nil
	case a.Type == alerts.Broadcast, a.Type == alerts.Nag:
		return []string{"slack"}
	default:
		return []string{"github"}
	}
}

// down reports whether service is down now: the handlers defer a step of it without calling it.
func (h *health) down(service string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.services[service]
	return st != nil && st.down
}
