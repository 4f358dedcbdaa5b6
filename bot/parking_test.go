package bot

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

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
	p.park("a", msg("m-young", time.Minute), time.Hour)
	p.park("b", msg("m-old", time.Hour), time.Hour)
	p.park("c", msg("m-expired", 2*time.Hour), -time.Second)
	p.park("d", msg("m-received-again", 3*time.Hour), time.Hour)
	p.park("e", msg("m-middle", 10*time.Minute), time.Hour)
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
