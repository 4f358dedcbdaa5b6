package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Bounds of the notice queue: beyond maxPendingNotices the oldest are counted and dropped (the log,
// the metrics and the dead-letter queue still have every one); a digest lists at most digestLines.
const (
	maxPendingNotices = 1000
	digestLines       = 20
)

// notices posts operator notices to the fallback channel without holding up the alarms they are
// about: one at a time in the background, and, when they pile up (a flood of bad input), as one
// digest, so the channel stays readable and within Slack's per-channel limit.
type notices struct {
	post func(context.Context, Message) error
	log  zerolog.Logger

	mu      sync.Mutex
	pending []Message
	dropped int
	wake    chan struct{}
	idle    *sync.Cond // signalled when the queue is empty and nothing is being posted
	busy    bool
	once    sync.Once
}

func newNotices(post func(context.Context, Message) error) *notices {
	n := &notices{post: post, wake: make(chan struct{}, 1)}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// add queues a notice; it never blocks.
func (n *notices) add(ctx context.Context, m Message) {
	n.once.Do(func() {
		n.log = *zerolog.Ctx(ctx)
		go n.run()
	})
	n.mu.Lock()
	if len(n.pending) >= maxPendingNotices {
		n.pending = n.pending[1:]
		n.dropped++
	}
	n.pending = append(n.pending, m)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notices) run() {
	for range n.wake {
		for {
			n.mu.Lock()
			batch, dropped := n.pending, n.dropped
			n.pending, n.dropped = nil, 0
			n.busy = len(batch) > 0
			if !n.busy {
				n.idle.Broadcast()
				n.mu.Unlock()
				break
			}
			n.mu.Unlock()
			m := batch[0]
			if len(batch) > 1 || dropped > 0 {
				m = noticeDigest(batch, dropped)
			}
			if err := n.post(context.Background(), m); err != nil {
				n.log.Error().Err(err).Msg("could not post to the fallback channel")
			}
		}
	}
}

// flush waits until every queued notice was posted, or ctx ends.
func (n *notices) flush(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		n.mu.Lock()
		for n.busy || len(n.pending) > 0 {
			n.idle.Wait()
		}
		n.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// noticeDigest folds several notices into one.
func noticeDigest(batch []Message, dropped int) Message {
	var b strings.Builder
	for i, m := range batch {
		if i == digestLines {
			fmt.Fprintf(&b, "…and %d more.\n", len(batch)-digestLines)
			break
		}
		body, _, _ := strings.Cut(m.Body, "\n")
		fmt.Fprintf(&b, "• %s: %s (%s)\n", m.Title, body, m.Note)
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "%d more notices were dropped in the flood.\n", dropped)
	}
	return Message{
		Title: fmt.Sprintf("%d notices", len(batch)+dropped),
		Body:  b.String(),
		Note:  "every one is in the log (and rejected alarms in the dead-letter queue)",
	}
}

// ServiceHealth is a service that is failing now, for /dispatch status.
type ServiceHealth struct {
	Service string    // "GitHub", "Slack", "PagerDuty", "SQS"
	Since   time.Time // its first failure in the current run of failures
	Cause   string    // the last failure, e.g. "HTTP 502"
}

// ServiceChange is a service going down (Down) or coming back (Ended set), for the fallback channel.
type ServiceChange struct {
	Service string
	Down    bool
	Since   time.Time // when it started failing
	Ended   time.Time // when it answered again (zero while Down)
	Cause   string    // the last failure
	Waiting int       // alarms waiting to be retried, at the change
}

// ServiceChanged announces in the fallback channel that a service is failing, or is back. The caller
// calls it once when an outage starts and once when it ends, never once per alarm; like every
// notice it is posted in the background (and, Slack itself being down, only logged).
func (r *Router) ServiceChanged(ctx context.Context, c ServiceChange) {
	if r.cfg.FallbackChannel != "" {
		r.notices.add(ctx, serviceNotice(c))
	}
}

func serviceNotice(c ServiceChange) Message {
	if c.Down && c.Service == "PagerDuty" {
		// The one thing a PagerDuty outage costs: say so where the on-call looks.
		return Message{
			Key:   "outage/" + c.Service + "/" + c.Since.UTC().Format(time.RFC3339),
			Title: "PagerDuty is failing: paging is delayed",
			Body: fmt.Sprintf("Calls to PagerDuty have failed since %s UTC (%s). Pages and escalations wait on the queue and are retried until PagerDuty answers, for up to a day; none is dropped. DMs and issues go on meanwhile. %d waiting now. A notice follows when it answers again.",
				c.Since.UTC().Format("15:04:05"), c.Cause, c.Waiting),
			Note: "dispatch · /dispatch status shows the waiting alarms",
		}
	}
	if c.Down {
		return Message{
			Key:   "outage/" + c.Service + "/" + c.Since.UTC().Format(time.RFC3339),
			Title: c.Service + " is failing: alarms wait and are retried",
			Body: fmt.Sprintf("Calls to %s have failed since %s UTC (%s). Alarms that need it stay on the queue and are retried with backoff, for up to a day; none is dropped. %d waiting now. A notice follows when it answers again.",
				c.Service, c.Since.UTC().Format("15:04:05"), c.Cause, c.Waiting),
			Note: "dispatch · /dispatch status shows the waiting alarms",
		}
	}
	return Message{
		Key:   "outage/" + c.Service + "/" + c.Since.UTC().Format(time.RFC3339) + "/end",
		Title: c.Service + " answers again",
		Body: fmt.Sprintf("%s failed from %s to %s UTC (%s; last failure: %s). The %d alarms waiting are being delivered now, at the services' limits; each DM says how late it is.",
			c.Service, c.Since.UTC().Format("15:04:05"), c.Ended.UTC().Format("15:04:05"), c.Ended.Sub(c.Since).Round(time.Second), c.Cause, c.Waiting),
		Note: "dispatch",
	}
}

// writeServices adds the failing services and the waiting alarms to /dispatch status.
func writeServices(b *strings.Builder, down []ServiceHealth, waiting int, now time.Time) {
	if len(down) == 0 {
		b.WriteString("• Services: Slack, GitHub, PagerDuty and SQS answering\n")
	}
	for _, s := range down {
		fmt.Fprintf(b, "• %s: *failing* for %s (%s)\n", s.Service, now.Sub(s.Since).Round(time.Second), s.Cause)
	}
	fmt.Fprintf(b, "• Alarms waiting to be retried: %d\n", waiting)
}
