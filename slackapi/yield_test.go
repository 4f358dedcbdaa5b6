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

// A low-priority post (an issue's link) waits while the workspace's window is taken by a burst's
// prompts, making no call and holding no place of the person's channel meanwhile: the person's
// next prompt goes at once.
func TestALowPriorityPostWaitsWithoutHoldingThePersonsChannel(t *testing.T) {
	srv := newFake(t)
	srv.AddChannel("C1", "alice-dm")
	c := newClient(t, srv, Options{
		PostPace: []pace.Window{{Limit: 2, Span: time.Hour}}, // two posts an hour in the channel
		Limits:   map[string][]pace.Window{"chat.postMessage": {{Limit: 1, Span: time.Hour}}},
	})
	ctx := testCtx(t)
	parent, err := c.Post(ctx, "C1", handlers.Message{Body: "was this you?"}) // the workspace's one place
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Reply(pace.WithLowPriority(short), parent, handlers.Message{Body: "Audit issue filed:"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reply = %v, want it still waiting when its context ended", err)
	}
	if n := srv.Calls("chat.postMessage"); n != 1 {
		t.Errorf("%d chat.postMessage calls, want only the prompt's", n)
	}
	if d := c.posts.Delay("C1"); d != 0 {
		t.Errorf("the person's next post waits %s: the waiting reply took the channel's last place", d.Round(time.Second))
	}
}

// A link waits while a prompt to the same person waits for the workspace: it never goes between.
func TestALowPriorityReplyDoesNotGoAheadOfAPromptToTheSamePerson(t *testing.T) {
	srv := newFake(t)
	srv.AddChannel("C1", "alice-dm")
	const span = 600 * time.Millisecond
	c := newClient(t, srv, Options{
		PostPace: []pace.Window{{Limit: 1, Span: time.Millisecond}},
		Limits:   map[string][]pace.Window{"chat.postMessage": {{Limit: 1, Span: span}}},
	})
	ctx := testCtx(t)
	parent, err := c.Post(ctx, "C1", handlers.Message{Body: "first prompt"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var replyErr, promptErr error
	wg.Go(func() { _, promptErr = c.Post(ctx, "C1", handlers.Message{Body: "second prompt"}) })
	wg.Go(func() {
		_, replyErr = c.Reply(pace.WithLowPriority(ctx), parent, handlers.Message{Body: "Audit issue filed:"})
	})
	wg.Wait()
	if replyErr != nil || promptErr != nil {
		t.Fatal(replyErr, promptErr)
	}
	var order []string
	for _, m := range srv.Messages("C1") {
		order = append(order, m.Text)
	}
	if len(order) != 3 || order[1] != "second prompt" {
		t.Errorf("C1 got %q: want both prompts before the link", order)
	}
}

// The link of an issue is found in its prompt's thread only when the bot posted it: a member's
// reply with the same metadata does not count.
func TestRepliedCountsOnlyTheBotsReply(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0MALLORY", Name: "mallory"})
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	prompt, err := c.DM(ctx, "U0MALLORY", handlers.Message{Key: "req-1/mallory", Body: "was this you?"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PostAsUserInThread("U0MALLORY", prompt.Channel, prompt.TS, "Audit issue filed:", []byte(`{"event_type":"dispatch_alarm","event_payload":{"key":"link/req-1/mallory"}}`)); err != nil {
		t.Fatal(err)
	}
	if found, err := c.Replied(ctx, prompt, "link/req-1/mallory"); err != nil || found {
		t.Fatalf("Replied = %v, %v before the bot's link; want a member's reply ignored", found, err)
	}
	if _, err := c.Reply(ctx, prompt, handlers.Message{Key: "link/req-1/mallory", Body: "Audit issue filed:"}); err != nil {
		t.Fatal(err)
	}
	if found, err := c.Replied(ctx, prompt, "link/req-1/mallory"); err != nil || !found {
		t.Errorf("Replied = %v, %v after the bot's link", found, err)
	}
	if _, found, err := c.Sent(ctx, "U0MALLORY", "link/req-1/mallory"); err != nil || found {
		t.Errorf("Sent found a thread reply (%v, %v): the history holds only the channel's own messages", found, err)
	}
}
