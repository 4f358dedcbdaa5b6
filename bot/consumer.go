package bot

import (
	"context"
	"errors"
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
}

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

	wg sync.WaitGroup
}

// run receives until recvCtx ends; handlers run under workCtx, which outlives recvCtx so work in
// flight can finish during a graceful stop. run returns once receiving has stopped; wait for the
// work with drain.
func (c *consumer) run(recvCtx, workCtx context.Context) {
	sem := make(chan struct{}, c.slots)
	backoff := time.Second
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
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
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

	u, err := c.q.Unwrap(m)
	in := handlers.Inbound{DeliveryID: u.DeliveryID, Body: u.Payload, Redelivered: m.ReceiveCount > 1}
	if err != nil {
		c.reject(ctx, m, in, retry.Permanent(err), "envelope")
		return
	}
	if u.Task != nil {
		err := c.router.RunTask(ctx, *u.Task)
		c.finish(ctx, m, in, err, "task:"+u.Task.Kind)
		return
	}
	out, err := c.router.Handle(ctx, in)
	if err == nil {
		c.metrics.handled(string(out.Type), time.Since(start))
		if out.Duplicate {
			c.metrics.Duplicates.WithLabelValues(string(out.Type)).Inc()
		}
	}
	c.finish(ctx, m, in, err, string(out.Type))
}

// finish deletes a done message, dead-letters a permanent failure and leaves a transient one for
// redelivery, a little later each time.
func (c *consumer) finish(ctx context.Context, m sqsqueue.Message, in handlers.Inbound, err error, kind string) {
	log := zerolog.Ctx(ctx)
	switch {
	case err == nil:
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
		// Stopping: hand the message straight back for another replica (or the next start).
		log.Warn().Err(err).Msg("stopped before the alarm was finished: released to the queue")
		if err := c.q.SetVisibility(context.WithoutCancel(ctx), m, 0); err != nil {
			log.Error().Err(err).Msg("could not release the message")
		}
	default:
		c.metrics.Failed.WithLabelValues(kind).Inc()
		c.metrics.failure()
		delay := redeliveryDelay(m.ReceiveCount)
		log.Warn().Err(err).Str("kind", kind).Dur("retry_in", delay).Msg("alarm not finished: it will be delivered again")
		if err := c.q.SetVisibility(context.WithoutCancel(ctx), m, delay); err != nil {
			log.Error().Err(err).Msg("could not delay the redelivery")
		}
	}
}

// reject logs, counts and announces a message that can't be routed, then moves it to the
// dead-letter queue (or, without one, hides it for 12 hours so it can't loop hot).
func (c *consumer) reject(ctx context.Context, m sqsqueue.Message, in handlers.Inbound, err error, reason string) {
	log := zerolog.Ctx(ctx)
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

// heartbeat extends the message's visibility while it is worked on.
func (c *consumer) heartbeat(ctx context.Context, m sqsqueue.Message) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.q.SetVisibility(ctx, m, c.visibility); err != nil && ctx.Err() == nil {
					zerolog.Ctx(ctx).Warn().Err(err).Msg("could not extend the message's visibility")
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// redeliveryDelay grows with the receive count: 10 s, 20 s, 40 s … up to 15 minutes.
func redeliveryDelay(receiveCount int) time.Duration {
	return min(10*time.Second<<min(max(receiveCount-1, 0), 10), 15*time.Minute)
}
