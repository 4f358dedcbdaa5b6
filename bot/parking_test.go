package bot

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// releaseRecorder is the consumer's Queue as far as parking uses it: it records releases.
type releaseRecorder struct {
	Queue
	mu       sync.Mutex
	released []string
}

func (r *releaseRecorder) SetVisibility(_ context.Context, m sqsqueue.Message, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d == 0 {
		r.released = append(r.released, m.ID)
	}
	return nil
}

// TestParkedMessagesAreReleasedOldestFirst: when a service is back, the messages still hidden are
// made visible, the alarm first seen earliest first; one whose delay is over is left alone (its
// receipt may be stale), and an alarm received again since is forgotten.
func TestParkedMessagesAreReleasedOldestFirst(t *testing.T) {
	var p parking
	now := time.Now()
	msg := func(id string, age time.Duration) sqsqueue.Message {
		return sqsqueue.Message{ID: id, Receipt: "r-" + id, FirstReceivedAt: now.Add(-age)}
	}
	p.park("a", msg("m-young", time.Minute), time.Hour, nil)
	p.park("b", msg("m-old", time.Hour), time.Hour, nil)
	p.park("c", msg("m-expired", 2*time.Hour), -time.Second, nil)
	p.park("d", msg("m-received-again", 3*time.Hour), time.Hour, nil)
	p.park("e", msg("m-middle", 10*time.Minute), time.Hour, nil)
	p.unpark("d")
	q := &releaseRecorder{}
	if n := p.release(context.Background(), q, zerolog.Nop()); n != 3 {
		t.Errorf("released %d, want 3", n)
	}
	if want := []string{"m-old", "m-middle", "m-young"}; !slices.Equal(q.released, want) {
		t.Errorf("released %v, want %v", q.released, want)
	}
	if n := p.release(context.Background(), q, zerolog.Nop()); n != 0 {
		t.Errorf("a second release released %d again", n)
	}
}

// TestAWaitingAlarmIsBroughtForwardToProbeEveryInterval: alarms held back together come round
// together, maxWaitingDelay apart. CI saw GitHub back 33.7 s (of the scenario's clock) before an
// alarm came round to find out. While a service is down and no alarm was let through as its probe
// for a probe's interval, the oldest alarm parked for it is made visible at once, one an interval;
// none that waits for another service, and none while an alarm came round by itself.
func TestAWaitingAlarmIsBroughtForwardToProbeEveryInterval(t *testing.T) {
	h := newHealth(NewMetrics())
	for range failuresForOutage {
		h.observe("github", "POST /repos/*/*/issues", true, "HTTP 502")
	}
	q := &releaseRecorder{}
	const scale = 100 // a probe's interval is 100 ms
	c := &consumer{q: q, log: zerolog.Nop(), scale: scale, health: h}
	now := time.Now()
	msg := func(id string, age time.Duration) sqsqueue.Message {
		return sqsqueue.Message{ID: id, Receipt: "r-" + id, FirstReceivedAt: now.Add(-age)}
	}
	c.parking.park("a", msg("m-young", time.Minute), time.Hour, []string{"github"})
	c.parking.park("b", msg("m-slack", 2*time.Hour), time.Hour, []string{"slack"})
	c.parking.park("c", msg("m-old", time.Hour), time.Hour, []string{"github"})
	released := func() []string {
		q.mu.Lock()
		defer q.mu.Unlock()
		return slices.Clone(q.released)
	}
	ctx := context.Background()

	c.nudgeProbes(ctx)
	c.nudgeProbes(ctx)
	if want := []string{"m-old"}; !slices.Equal(released(), want) { // not m-slack, older but waiting for Slack
		t.Fatalf("released %v, want %v: the oldest alarm waiting for GitHub, once an interval", released(), want)
	}
	if ok, _ := h.admit([]string{"github"}, c.scaled(probeEvery)); !ok { // it comes round: the probe
		t.Fatal("the alarm brought forward was not let through as the probe")
	}
	c.nudgeProbes(ctx)
	if len(released()) != 1 {
		t.Fatalf("released %v right after a probe was let through", released())
	}
	eventually(t, "the next alarm brought forward an interval later", 5*time.Second, func() bool {
		c.nudgeProbes(ctx)
		return len(released()) == 2
	})
	if want := []string{"m-old", "m-young"}; !slices.Equal(released(), want) {
		t.Errorf("released %v, want %v", released(), want)
	}
	h.observe("github", "POST /repos/*/*/issues", false, "") // GitHub is back
	if due := h.probesDue(0); len(due) != 0 {
		t.Errorf("probes due %v with every service up", due)
	}
}

// handBackRecorder is the consumer's Queue as retryLater uses it: it records every hand-back's
// delay and every fresh copy's.
type handBackRecorder struct {
	releaseRecorder
	hidden, resent []time.Duration
}

func (r *handBackRecorder) SetVisibility(ctx context.Context, m sqsqueue.Message, d time.Duration) error {
	r.mu.Lock()
	r.hidden = append(r.hidden, d)
	r.mu.Unlock()
	return r.releaseRecorder.SetVisibility(ctx, m, d)
}

func (r *handBackRecorder) Resend(_ context.Context, _ sqsqueue.Message, _ sqsqueue.Unwrapped, d time.Duration, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resent = append(r.resent, d)
	return nil
}

func (r *handBackRecorder) MaxReceiveCount() int { return 5 }

// TestNothingSleepsPastTheRecovery: what waits for a service must be moving within 15 s of its
// return, whatever the parking can't reach. A fresh copy of an alarm that failed calling a service
// known down (it can't be released early) waits half a probe's interval at most, not its 40 s
// backoff; and an alarm held back just as the service came back, after the release, is released
// at once rather than after its delay.
func TestNothingSleepsPastTheRecovery(t *testing.T) {
	h := newHealth(NewMetrics())
	for range failuresForOutage {
		h.observe("github", "POST /repos/*/*/issues", true, "HTTP 502")
	}
	q := &handBackRecorder{}
	c := &consumer{q: q, metrics: NewMetrics(), log: zerolog.Nop(), scale: 1, health: h, waiting: &waitingAlarms{expire: time.Minute}}
	ctx := zerolog.Nop().WithContext(context.Background())
	m := sqsqueue.Message{ID: "m-1", Receipt: "r-1", ReceiveCount: 3, FirstReceivedAt: time.Now()}
	c.retryLater(ctx, m, sqsqueue.Unwrapped{}, handlers.Inbound{DeliveryID: "d-1"}, errors.New("github: HTTP 502"), "self-service")
	if len(q.resent) != 1 || q.resent[0] > probeEvery/2 {
		t.Errorf("fresh copy of an alarm failing on a service known down delayed %v, want at most %s", q.resent, probeEvery/2)
	}

	h.observe("github", "POST /repos/*/*/issues", false, "") // the call that failed answers: the service is back
	m = sqsqueue.Message{ID: "m-2", Receipt: "r-2", ReceiveCount: 1, FirstReceivedAt: time.Now()}
	c.retryLater(ctx, m, sqsqueue.Unwrapped{}, handlers.Inbound{DeliveryID: "d-2"}, errors.New("GitHub is failing: waiting without calling it"), "waiting")
	if !slices.Equal(q.released, []string{"m-2"}) {
		t.Errorf("an alarm held back as its service came back: hidden %v, released %v; want it released at once", q.hidden, q.released)
	}
}
