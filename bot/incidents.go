package bot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pagerdutyapi"
	"github.com/dispatch-oss/dispatch/retry"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// DefaultPagerDutyPoll is how often dispatch polls the REST API for its open escalations when it
// has PAGERDUTY_API_TOKEN and no events queue.
const DefaultPagerDutyPoll = 30 * time.Second

// eventsGroup is the message group of what dispatch dead-letters from a FIFO events queue, the one
// deploy/dispatch.yaml's rule sends in.
const eventsGroup = "pagerduty"

// eventsVisibility hides an events-queue message while it is applied; one that fails comes back
// after it (and goes to the dead-letter queue after the redrive policy's receives).
const eventsVisibility = 30 * time.Second

// follower carries PagerDuty's changes of dispatch's incidents to the router: from the events queue
// (EventBridge), or by polling the REST API.
type follower struct {
	router *handlers.Router
	log    zerolog.Logger
	counts *prometheus.CounterVec // by source and outcome
	events *sqsqueue.Queue        // nil: no events queue
	rest   *pagerdutyapi.Incidents
	every  time.Duration
	wait   time.Duration

	mu   sync.Mutex
	done map[string]bool // change ids this replica has seen through (polling)
}

// newFollower makes the follower of b's configuration, or nil when there is nothing to follow
// (neither an events queue nor a REST key). With a REST key, the router confirms every change
// with the REST API before it closes or reopens an issue.
func (b *Bot) newFollower(awsCfg aws.Config, hc *http.Client) *follower {
	cfg := b.cfg
	f := &follower{router: b.router, log: b.log, every: cfg.PagerDutyPoll, wait: b.opts.PollWait, done: map[string]bool{},
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dispatch_incident_changes_total",
			Help: "PagerDuty incident changes taken from the events queue or the REST API, by source and outcome (applied, duplicate, stale, foreign, no_issue, unconfirmed, ignored, rejected, failed)."},
			[]string{"source", "outcome"})}
	b.metrics.Registry.MustRegister(f.counts)
	if cfg.PagerDutyAPIToken != "" {
		f.rest = pagerdutyapi.NewIncidents(pagerdutyapi.RESTOptions{APIURL: cfg.PagerDutyAPIURL, Token: cfg.PagerDutyAPIToken, HTTPClient: hc},
			scaleWindows(pagerdutyapi.RESTLimits, b.opts.TimeScale), scalePolicy(retry.Default, b.opts.TimeScale))
		b.router.SetIncidentStates(f.rest)
	}
	if cfg.PagerDutyEventsQueueURL != "" {
		f.events = sqsqueue.New(sqs.NewFromConfig(awsCfg), cfg.PagerDutyEventsQueueURL, cfg.taskKeys())
	}
	if f.rest == nil && f.events == nil {
		return nil
	}
	return f
}

// check proves the events queue reachable and learns its dead-letter queue.
func (f *follower) check(ctx context.Context) error {
	if f == nil || f.events == nil {
		return nil
	}
	if err := f.events.Discover(ctx); err != nil {
		return fmt.Errorf("PAGERDUTY_EVENTS_QUEUE_URL is not reachable (check the URL, the region and the credentials): %w", err)
	}
	return nil
}

// run follows until recvCtx ends: the events queue when there is one, else the REST API. Changes
// are applied under workCtx, which outlives recvCtx during a graceful stop.
func (f *follower) run(recvCtx, workCtx context.Context) {
	if f == nil {
		return
	}
	if f.events != nil {
		f.log.Info().Msg("following PagerDuty incidents from the events queue")
		f.consume(recvCtx, workCtx)
		return
	}
	f.log.Info().Dur("interval", f.every).Msg("following PagerDuty incidents by polling the REST API")
	f.poll(recvCtx, workCtx)
}

func (f *follower) count(source string, outcome string) {
	f.counts.WithLabelValues(source, outcome).Inc()
}

// apply hands one change to the router and counts what it did.
func (f *follower) apply(ctx context.Context, source string, ch handlers.IncidentChange) error {
	// The router adds the change's own fields to the context's logger.
	log := f.log.With().Str("source", source).Logger()
	out, err := f.router.IncidentChanged(log.WithContext(ctx), ch)
	if err != nil {
		f.count(source, "failed")
		log.Error().Err(err).Str("incident", ch.Incident).Str("change", ch.ID).Msg("incident change not applied yet")
		return err
	}
	f.count(source, string(out))
	ev := log.Info()
	if out == handlers.IncidentForeign || out == handlers.IncidentIgnored {
		ev = log.Debug() // an account's other incidents: counted, not worth a line each
	}
	ev.Str("incident", ch.Incident).Str("change", ch.ID).Str("kind", ch.Kind).Str("outcome", string(out)).Msg("incident change")
	return nil
}

// consume long-polls the events queue. Messages are applied one after another, in the order
// received (a FIFO queue hands one group's messages in order; out-of-order ones are ordered by
// their time anyway), and deleted once applied. A failed one comes back after eventsVisibility; one
// that can never apply is dead-lettered with its reason, or left to the redrive policy.
func (f *follower) consume(recvCtx, workCtx context.Context) {
	for recvCtx.Err() == nil {
		msgs, err := f.events.Receive(recvCtx, 10, f.wait, eventsVisibility)
		if err != nil {
			if recvCtx.Err() == nil {
				f.log.Error().Err(err).Msg("receive from the PagerDuty events queue failed")
				_ = retry.Sleep(recvCtx, time.Second)
			}
			continue
		}
		for _, m := range msgs {
			f.handle(workCtx, m)
		}
	}
}

// handle applies one events-queue message.
func (f *follower) handle(ctx context.Context, m sqsqueue.Message) {
	const source = "eventbridge"
	ch, err := pagerdutyapi.ParseEvent(m.Body)
	switch {
	case errors.Is(err, pagerdutyapi.ErrNotFollowed):
		f.count(source, string(handlers.IncidentIgnored))
	case err != nil:
		f.count(source, "rejected")
		f.log.Error().Err(err).Str("message_id", m.ID).Msg("events queue message is not a PagerDuty incident event: set aside")
		f.setAside(ctx, m, err)
		return
	default:
		if err := f.apply(ctx, source, ch); err != nil {
			if retry.IsPermanent(err) {
				f.setAside(ctx, m, err)
			}
			return // transient: it comes back after the visibility timeout
		}
	}
	if err := f.events.Delete(ctx, m); err != nil {
		f.log.Warn().Err(err).Msg("could not delete an events queue message: it will be seen again and found done")
	}
}

// setAside moves a message that can never apply to the dead-letter queue with its reason (at once:
// on a FIFO queue it would hold up the events behind it); when it can't (no DLQ), the message is
// left for the redrive policy.
func (f *follower) setAside(ctx context.Context, m sqsqueue.Message, reason error) {
	if err := f.events.DeadLetterFIFO(ctx, m, reason.Error(), eventsGroup); err != nil {
		f.log.Warn().Err(err).Msg("could not dead-letter the message: the queue's redrive policy will")
	}
}

// poll asks the REST API, every interval, for the changes of the incidents of dispatch's open
// escalations. Each incident costs two requests a round (its incident and its log entries), paced
// within PagerDuty's REST limit; a change seen through once is not looked at again.
func (f *follower) poll(recvCtx, workCtx context.Context) {
	// Replicas start apart; a random first wait keeps their rounds from lining up.
	next := time.Duration(rand.Int64N(int64(f.every)/4 + 1))
	for retry.Sleep(recvCtx, next) == nil {
		next = f.every
		keys, err := f.router.OpenEscalations(f.log.WithContext(workCtx))
		if err != nil {
			f.log.Error().Err(err).Msg("could not list the open escalations to poll")
			continue
		}
		for _, key := range keys {
			if recvCtx.Err() != nil {
				return
			}
			changes, err := f.rest.Changes(f.log.WithContext(workCtx), key)
			if err != nil {
				f.log.Error().Err(err).Msg("polling a PagerDuty incident failed")
				continue
			}
			for _, ch := range changes {
				f.mu.Lock()
				seen := f.done[ch.ID]
				f.mu.Unlock()
				if seen || f.apply(workCtx, "rest", ch) != nil {
					continue
				}
				f.mu.Lock()
				f.done[ch.ID] = true
				f.mu.Unlock()
			}
		}
	}
}
