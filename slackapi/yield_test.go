package slackapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// countingSlot is a worker slot that records how often it was given up and taken back.
type countingSlot struct {
	mu                   sync.Mutex
	released, reacquired int
}

func (s *countingSlot) Release() { s.mu.Lock(); s.released++; s.mu.Unlock() }
func (s *countingSlot) Reacquire(context.Context) error {
	s.mu.Lock()
	s.reacquired++
	s.mu.Unlock()
	return nil
}

// A post that must wait for its channel's turn gives the worker slot up while it waits, so alarms
// for other people are not held behind one person's burst; a post that goes at once keeps it.
func TestAPostWaitingForItsChannelGivesUpTheWorkerSlot(t *testing.T) {
	srv := newFake(t)
	srv.AddChannel("C1", "alarms")
	c := newClient(t, srv, Options{})
	slot := &countingSlot{}
	ctx := handlers.WithSlot(testCtx(t), slot)
	// The bucket holds 4: those go at once, the fifth waits about a second for its turn.
	for i := range 5 {
		if _, err := c.Post(ctx, "C1", handlers.Message{Body: "alarm"}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		slot.mu.Lock()
		released, reacquired := slot.released, slot.reacquired
		slot.mu.Unlock()
		want := max(0, i-3)
		if released != want || reacquired != want {
			t.Errorf("after post %d: slot released %d and reacquired %d times, want %d and %d", i, released, reacquired, want, want)
		}
	}
}

// A burst of one person's alarms opens their DM channel once: conversations.open is Tier 3 (50 a
// minute), and an extra open per alarm would hold other people's first DMs back a minute.
func TestConcurrentFirstDMsOpenTheChannelOnce(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.DM(ctx, "U0ALICE", handlers.Message{Body: "was this you?"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.Calls("conversations.open"); n != 1 {
		t.Errorf("4 concurrent first DMs made %d conversations.open calls, want 1", n)
	}
}

// A low-priority post (an issue's link) that would wait for the workspace's window, which the
// prompts of a burst have taken, is told so at once: no call, no retries, the caller comes back.
func TestALowPriorityPostStandsAsideWhenSlackIsBusy(t *testing.T) {
	srv := newFake(t)
	srv.AddChannel("C1", "alarms")
	c := newClient(t, srv, Options{Limits: map[string][]pace.Window{"chat.postMessage": {{Limit: 1, Span: time.Hour}}}})
	ctx := testCtx(t)
	parent, err := c.Post(ctx, "C1", handlers.Message{Body: "was this you?"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Reply(pace.WithMaxWait(pace.WithLowPriority(ctx), 2*time.Second), parent, handlers.Message{Body: "Audit issue filed:"})
	if !errors.Is(err, pace.ErrWouldWait) || !retry.IsPermanent(err) {
		t.Fatalf("reply = %v, want pace.ErrWouldWait, final (not retried)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("standing aside took %s: it was waited or retried", took)
	}
	if n := srv.Calls("chat.postMessage"); n != 1 {
		t.Errorf("%d chat.postMessage calls, want only the prompt's", n)
	}
}
