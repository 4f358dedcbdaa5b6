package bot

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// Queue is the SQS queue as the consumer uses it.
type Queue interface {
	Receive(ctx context.Context, n int, wait, visibility time.Duration) ([]sqsqueue.Message, error)
	Unwrap(m sqsqueue.Message) (sqsqueue.Unwrapped, error)
	Delete(ctx context.Context, m sqsqueue.Message) error
	SetVisibility(ctx context.Context, m sqsqueue.Message, d time.Duration) error
	DeadLetter(ctx context.Context, m sqsqueue.Message, reason string) error
	Resend(ctx context.Context, m sqsqueue.Message, u sqsqueue.Unwrapped, delay time.Duration, stalled bool) error
	MaxReceiveCount() int
}

// GiveUpAfter bounds how long a valid alarm is retried through transient failures (an outage of
// GitHub, Slack or PagerDuty): after a day of failures it is dead-lettered with the reason and
// announced, as an alarm that can never succeed is at once.
const GiveUpAfter = 24 * time.Hour

// maxStalls is how many copies of one message may stop dispatch while it works on them (each
// taking three receives to the redrive policy's edge: see nearLimit) before the next is set aside.
const maxStalls = 2

// AlarmRouter is the use case the consumer feeds.
type AlarmRouter interface {
	Handle(ctx context.Context, in handlers.Inbound) (handlers.Outcome, error)
	RunTask(ctx context.Context, t handlers.Task) error
	Reject(ctx context.Context, in handlers.Inbound, reason error)
}

// consumer long-polls the queue and handles up to `slots` messages at once. A message is deleted
// only after its work is done; while it is worked on its visibility is extended, so a slow GitHub
// never makes it reappear, and a crash makes it reappear (never lost).
type consumer struct {
	q          Queue
	router     AlarmRouter
	metrics    *Metrics
	log        zerolog.Logger
	slots      int
	visibility time.Duration // per receive, extended while working
	wait       time.Duration // long-poll wait
	scale      float64       // divides the waits the consumer chooses (Options.TimeScale); >= 1
	waiting    *waitingAlarms
	health     *health // nil: no gate (every alarm calls its services, down or not)
	parking    parking // messages handed back while a service is down, released when it is back

	wg sync.WaitGroup
}

// scaled is d on the consumer's clock (see Options.TimeScale).
func (c *consumer) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / max(c.scale, 1))
}

// run receives until recvCtx ends; handlers run under workCtx, which outlives recvCtx so work in
// flight can finish during a graceful stop. run returns once receiving has stopped; wait for the
// work with drain.
func (c *consumer) run(recvCtx, workCtx context.Context) {
	go everyTick(recvCtx, c.scaled(nudgeEvery), func() { c.nudgeProbes(recvCtx) }) // a probe comes round every probeEvery
	sem := make(chan struct{}, c.slots)
	backoff := c.scaled(time.Second)
	for recvCtx.Err() == nil {
		// Ask for as many as there are free slots (at least one: wait for it).
		select {
		case sem <- struct{}{}:
		case <-recvCtx.Done():
			return
		}
		free := 1
		for free < 10 && len(sem) < cap(sem) {
			sem <- struct{}{}
			free++
		}
		msgs, err := c.q.Receive(recvCtx, free, c.wait, c.visibility)
		for i := len(msgs); i < free; i++ {
			<-sem
		}
		if err != nil {
			if recvCtx.Err() != nil {
				return
			}
			c.log.Error().Err(err).Dur("retry_in", backoff).Msg("queue receive failed")
			select {
			case <-time.After(backoff):
			case <-recvCtx.Done():
				return
			}
			backoff = min(backoff*2, c.scaled(30*time.Second))
			continue
		}
		backoff = c.scaled(time.Second)
		for _, m := range msgs {
			c.wg.Add(1)
			slot := &workerSlot{sem: sem, held: true}
			go func() {
				defer func() { slot.Release(); c.wg.Done() }()
				c.process(handlers.WithSlot(workCtx, slot), m)
			}()
		}
	}
}

// workerSlot is one message's place in the consumer's semaphore, which the router gives up while
// the alarm waits for another with its title (handlers.Slot).
type workerSlot struct {
	sem  chan struct{}
	mu   sync.Mutex
	held bool
}

// Release frees the slot for another message; it does nothing when not held.
func (s *workerSlot) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		<-s.sem
		s.held = false
	}
}

// Reacquire waits for a free slot, until ctx ends.
func (s *workerSlot) Reacquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
	return nil
}

// drain waits for work in flight until grace ends; then it cancels the work, whose messages are
// released back to the queue at once (visibility 0) so another replica takes them. It reports
// whether everything finished within grace.
func (c *consumer) drain(grace context.Context, cancelWork context.CancelFunc) bool {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-grace.Done():
	}
	cancelWork()
	<-done
	return false
}

func (c *consumer) process(ctx context.Context, m sqsqueue.Message) {
	start := time.Now()
	c.metrics.Received.Inc()
	c.metrics.InFlight.Inc()
	defer c.metrics.InFlight.Dec()

	log := c.log.With().Str("message_id", m.ID).Int("receive_count", m.ReceiveCount).Logger()
	ctx = log.WithContext(ctx)
	stop := c.heartbeat(ctx, m)
	defer stop()

	var in handlers.Inbound
	defer func() {
		if p := recover(); p != nil {
			// A bug dispatch hit on this message: it would hit it again on every replica, so it is
			// dead-lettered with the reason rather than crash the process.
			zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(p)).Str("stack", string(debug.Stack())).Msg("panic while handling a message")
			c.reject(ctx, m, in, retry.Permanent(fmt.Errorf("dispatch failed on it (a bug, logged with its stack): %v", p)), "panic")
		}
	}()
	u, err := c.q.Unwrap(m)
	in = handlers.Inbound{DeliveryID: u.DeliveryID, Body: u.Payload, Redelivered: m.ReceiveCount > 1 || m.Resent != nil, PublishedAt: u.PublishedAt}
	if errors.Is(err, sqsqueue.ErrTaskExpired) {
		c.dropExpired(ctx, m, u.TaskID, err)
		return
	}
	if err != nil {
		c.reject(ctx, m, in, retry.Permanent(err), "envelope")
		return
	}
	c.parking.unpark(in.DeliveryID)
	if c.nearLimit(m) {
		if m.Stalls() >= maxStalls {
			// Copy after copy stopped dispatch while it was worked on: set it aside before it
			// stops every replica again, with everyone else's alarms behind it.
			c.reject(ctx, m, in, retry.Permanent(fmt.Errorf("dispatch stopped while handling it, on %d copies, %d receives in all: set aside so it can't keep stopping dispatch",
				m.Stalls()+1, m.Attempts())), "stalled")
			return
		}
		// Crashes took this copy close to the redrive policy: go on with a fresh copy.
		c.resend(ctx, m, u, 0, true)
		return
	}
	if c.health != nil && c.health.anyDown() {
		if ok, down := c.health.admit(servicesFor(u), c.scaled(probeEvery)); !ok {
			// The service is down and another alarm is finding out whether it is back: wait in the
			// queue, without a slot and without calling it.
			c.retryLater(ctx, m, u, in, fmt.Errorf("%s is failing: waiting without calling it", down), "waiting")
			return
		}
	}
	if u.Task != nil {
		ctx = log.With().Str("task_id", u.TaskID).Logger().WithContext(ctx)
		err := c.router.RunTask(ctx, *u.Task)
		c.finish(ctx, m, u, in, err, "task:"+u.Task.Kind)
		return
	}
	out, err := c.router.Handle(ctx, in)
	if err == nil {
		c.metrics.handled(string(out.Type), time.Since(start))
		if out.Duplicate {
			c.metrics.Duplicates.WithLabelValues(string(out.Type)).Inc()
		}
	}
	c.finish(ctx, m, u, in, err, string(out.Type))
}

// finish deletes a done message, dead-letters a permanent failure and leaves a transient one for
// redelivery, a little later each time (see retryLater).
func (c *consumer) finish(ctx context.Context, m sqsqueue.Message, u sqsqueue.Unwrapped, in handlers.Inbound, err error, kind string) {
	log := zerolog.Ctx(ctx)
	switch {
	case err == nil:
		c.waiting.done(in.DeliveryID)
		if err := c.q.Delete(context.WithoutCancel(ctx), m); err != nil {
			// The work is done; a redelivery will find it done and raise nothing twice.
			log.Error().Err(err).Msg("alarm handled but not deleted from the queue")
		}
	case retry.IsPermanent(err):
		reason := "permanent"
		var inv *alerts.InvalidError
		if errors.As(err, &inv) {
			reason = inv.Reason()
		}
		c.reject(ctx, m, in, err, reason)
	case ctx.Err() != nil:
		// Stopping: hand the message straight back for another replica (or the next start), as a
		// fresh copy when it is that close to the redrive policy, as a hand-back for a failure is:
		// only a process that dies takes a message to the edge (see nearLimit), not a stop.
		log.Warn().Err(err).Msg("stopped before the alarm was finished: released to the queue")
		if c.freshCopyNext(m.ReceiveCount + 1) {
			c.resend(ctx, m, u, 0, false)
			return
		}
		if err := c.q.SetVisibility(context.WithoutCancel(ctx), m, 0); err != nil {
			log.Error().Err(err).Msg("could not release the message")
		}
	default:
		c.metrics.Failed.WithLabelValues(kind).Inc()
		c.metrics.failure()
		c.retryLater(ctx, m, u, in, err, kind)
	}
}

// retryLater hands a transiently failed message back to the queue for another try, 10 s, 20 s,
// 40 s, 80 s, then 2 minutes later (by its attempts over every copy). It is handed back as it is
// while its receive count stays clear of the redrive policy's maxReceiveCount, else re-sent as a
// fresh copy, so waiting out an outage never sends a valid alarm to the dead-letter queue. After
// GiveUpAfter of failures an alarm is dead-lettered with the reason; a task is bounded by its own.
func (c *consumer) retryLater(ctx context.Context, m sqsqueue.Message, u sqsqueue.Unwrapped, in handlers.Inbound, err error, kind string) {
	log := zerolog.Ctx(ctx)
	delay := redeliveryDelay(m.Attempts())
	if kind == "waiting" {
		// Held back without calling the service: a retry costs SQS only, and comes sooner, so the
		// backlog drains soon after the service is back.
		delay = min(delay, maxWaitingDelay)
	}
	delay = c.scaled(delay)
	// A task carries its own bound (the handlers end failing work 72 hours after the click or the
	// due time, and the task expires a day later): GiveUpAfter is for alarms.
	if age := time.Since(m.FirstSeen()); u.Task == nil && age+delay > c.scaled(GiveUpAfter) {
		c.reject(ctx, m, in, retry.Permanent(fmt.Errorf("still failing after %s and %d attempts, the most dispatch retries: %w",
			age.Round(time.Second), m.Attempts(), err)), "gave-up")
		return
	}
	c.waiting.add(in.DeliveryID)
	lvl := zerolog.WarnLevel
	if kind == "waiting" {
		lvl = zerolog.DebugLevel // one line per alarm and retry would flood the log in an outage
	}
	log.WithLevel(lvl).Err(err).Str("kind", kind).Int("attempts", m.Attempts()).Dur("retry_in", delay).Msg("alarm not finished: it will be delivered again")
	if c.freshCopyNext(m.ReceiveCount + 1) {
		switch {
		case kind == "waiting":
			// A fresh copy can't be released early (see parking): let it come round at once, to
			// be held back, and parked, as this one was.
			delay = 0
		case c.health != nil && c.health.anyDown():
			// Nor can one that failed calling a service now known down: the end of the outage is
			// seen within a probe's interval, and this copy comes round at most half of one later,
			// well within the 15 s in which what waited must move again.
			delay = min(delay, c.scaled(probeEvery/2))
		}
		c.resend(ctx, m, u, delay, false)
		return
	}
	if err := c.q.SetVisibility(context.WithoutCancel(ctx), m, delay); err != nil {
		log.Error().Err(err).Msg("could not delay the redelivery")
		return
	}
	c.parking.park(in.DeliveryID, m, delay, servicesFor(u))
	if kind == "waiting" && c.health != nil && !c.health.anyDown() {
		// The service came back while this one was being handed back, after the waiting ones were
		// released: release it (and any other so caught) now rather than after its delay.
		c.serviceBack(ctx)
	}
}

// nudgeEvery is how often the consumer checks whether a down service's probe is due (nudgeProbes).
const nudgeEvery = probeEvery / 10

// everyTick calls fn every d until ctx ends.
func everyTick(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// nudgeProbes makes the oldest alarm parked for each down service whose probe is due visible
// again, so it comes round and is let through as the probe (health.admit). Without it the probe
// waited for an alarm to come round by itself: alarms held back together come round together,
// maxWaitingDelay apart, so a service back just after a probe failed was seen up to that late.
func (c *consumer) nudgeProbes(ctx context.Context) {
	if c.health == nil || !c.health.anyDown() {
		return
	}
	for _, s := range c.health.probesDue(c.scaled(probeEvery)) {
		if id, ok := c.parking.releaseOne(ctx, c.q, s); ok {
			c.health.nudged(s)
			c.log.Debug().Str("service", serviceNames[s]).Str("message_id", id).Msg("a waiting alarm brought forward to find out whether the service is back")
		}
	}
}

// serviceBack releases the messages waiting for a service that answers again (see parking).
func (c *consumer) serviceBack(ctx context.Context) {
	if n := c.parking.release(ctx, c.q, c.log); n > 0 {
		c.log.Info().Int("released", n).Msg("waiting alarms released to the queue, oldest first")
	}
}

// freshCopyNext reports whether a message handed back now, to be received for the next-th time,
// should be re-sent as a fresh copy instead: with maxReceiveCount 3 or more, when next would be
// one short of it, which keeps one receive spare for a crash (see nearLimit); below 3, when next
// would exceed it.
func (c *consumer) freshCopyNext(next int) bool {
	switch limit := c.q.MaxReceiveCount(); {
	case limit <= 0:
		return false
	case limit >= 3:
		return next >= limit-1
	default:
		return next > limit
	}
}

// nearLimit reports whether a message received now should go on as a fresh copy before it is
// worked on: its receive count is one short of the redrive policy's maxReceiveCount (a crash took
// it there, as hand-backs stop earlier), so one more crash would let SQS move it to the dead-letter
// queue. (With a maxReceiveCount below 3 that would re-send every message; there only failures
// re-send.)
func (c *consumer) nearLimit(m sqsqueue.Message) bool {
	limit := c.q.MaxReceiveCount()
	return limit >= 3 && m.ReceiveCount >= limit-1
}

// resend replaces the message by a fresh copy delayed by delay. If that fails the message is
// handed back as it is: SQS may then dead-letter it if its count runs out, the one way left.
func (c *consumer) resend(ctx context.Context, m sqsqueue.Message, u sqsqueue.Unwrapped, delay time.Duration, stalled bool) {
	log := zerolog.Ctx(ctx)
	ctx = context.WithoutCancel(ctx)
	if err := c.q.Resend(ctx, m, u, delay, stalled); err != nil {
		log.Error().Err(err).Msg("could not re-send the message as a fresh copy: handed back as it is")
		if err := c.q.SetVisibility(ctx, m, delay); err != nil {
			log.Error().Err(err).Msg("could not delay the redelivery")
		}
		return
	}
	c.metrics.Resent.Inc()
	log.Info().Int("max_receive_count", c.q.MaxReceiveCount()).Int("attempts", m.Attempts()).Dur("delay", delay).
		Msg("re-sent as a fresh copy to stay clear of the redrive policy")
}

// reject logs, counts and announces a message that can't be routed, then moves it to the
// dead-letter queue (or, without one, hides it for 12 hours so it can't loop hot).
func (c *consumer) reject(ctx context.Context, m sqsqueue.Message, in handlers.Inbound, err error, reason string) {
	log := zerolog.Ctx(ctx)
	c.waiting.done(in.DeliveryID)
	log.Error().Err(err).Str("reason", reason).Msg("alarm rejected")
	c.metrics.Rejected.WithLabelValues(reason).Inc()
	c.metrics.failure()
	ctx = context.WithoutCancel(ctx)
	c.router.Reject(ctx, in, err)
	switch derr := c.q.DeadLetter(ctx, m, err.Error()); {
	case errors.Is(derr, sqsqueue.ErrNoDLQ):
		log.Warn().Msg("no dead-letter queue: the message is hidden for 12 hours and left to the queue's redrive policy")
		if err := c.q.SetVisibility(ctx, m, 12*time.Hour); err != nil {
			log.Error().Err(err).Msg("could not hide the rejected message")
		}
	case derr != nil:
		log.Error().Err(derr).Msg("could not move the rejected message to the dead-letter queue")
	}
}

// dropExpired deletes a signed task past its expiry: logged and counted, not dead-lettered (redriven,
// it would only expire again). Its signature was checked first, so it is dispatch's own.
func (c *consumer) dropExpired(ctx context.Context, m sqsqueue.Message, taskID string, err error) {
	kind, _, _ := strings.Cut(taskID, "/")
	zerolog.Ctx(ctx).Error().Err(err).Str("task_id", taskID).Msg("task dropped: past its expiry")
	c.metrics.TasksExpired.WithLabelValues(kind).Inc()
	if err := c.q.Delete(context.WithoutCancel(ctx), m); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("expired task not deleted from the queue")
	}
}

// heartbeat extends the message's visibility while it is worked on.
func (c *consumer) heartbeat(ctx context.Context, m sqsqueue.Message) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		everyTick(ctx, c.visibility/3, func() {
			if err := c.q.SetVisibility(ctx, m, c.visibility); err != nil && ctx.Err() == nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("could not extend the message's visibility")
			}
		})
	}()
	return func() { cancel(); <-done }
}

// maxRedeliveryDelay caps the wait between two tries of an alarm that failed calling a service;
// maxWaitingDelay that of one held back while its service is down (see health.admit), so that once
// the service is back every waiting alarm is tried again within it.
const (
	maxRedeliveryDelay = 2 * time.Minute
	maxWaitingDelay    = 30 * time.Second
)

// redeliveryDelay grows with the attempts: 10 s, 20 s, 40 s, 80 s, then every maxRedeliveryDelay.
func redeliveryDelay(attempts int) time.Duration {
	return min(10*time.Second<<min(max(attempts-1, 0), 10), maxRedeliveryDelay)
}
