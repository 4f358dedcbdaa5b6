package pace

import (
	"context"
	"sync"
	"testing"
	"time"
)

// admitted records the times the pacer admitted, by its own clock.
func admitted(p *Pacer) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times...)
}

func TestPacerNeverExceedsAnyWindow(t *testing.T) {
	windows := []Window{{Limit: 5, Span: 150 * time.Millisecond}, {Limit: 8, Span: 400 * time.Millisecond}}
	p := New(windows...)
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := p.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(times) != 20 {
		t.Fatalf("admitted %d of 20", len(times))
	}
	// The pacer keeps the last 8 admissions: check every window over them, and over all 20 times
	// as the callers saw them (admission precedes the caller's clock read).
	got := admitted(p)
	if len(got) != 8 {
		t.Fatalf("kept %d times, want 8", len(got))
	}
	for _, w := range windows {
		for i := range got {
			n := 0
			for _, u := range got[i:] {
				if u.Sub(got[i]) < w.Span {
					n++
				}
			}
			if n > w.Limit {
				t.Errorf("%d admissions within %s (limit %d)", n, w.Span, w.Limit)
			}
		}
	}
	// 20 requests under 8 per 400 ms need at least two full spans.
	first, last := times[0], times[0]
	for _, u := range times {
		if u.Before(first) {
			first = u
		}
		if u.After(last) {
			last = u
		}
	}
	if d := last.Sub(first); d < 800*time.Millisecond {
		t.Errorf("20 admissions in %s: the pacer did not hold them back", d)
	}
}

func TestPacerStopsWaitingWhenTheContextEnds(t *testing.T) {
	p := New(Window{Limit: 1, Span: time.Hour})
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); err != context.Canceled {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestKeyedPacersAreIndependentAndNilAdmitsAll(t *testing.T) {
	k := NewKeyed(Window{Limit: 1, Span: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, key := range []string{"C1", "C2", "C3"} {
		if err := k.Wait(ctx, key); err != nil {
			t.Fatalf("first call for %s waited: %v", key, err)
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if err := k.Wait(short, "C1"); err == nil {
		t.Error("a second call for C1 within the hour was admitted")
	}
	var nilKeyed *Keyed
	var nilPacer *Pacer
	if nilKeyed.Wait(ctx, "x") != nil || nilPacer.Wait(ctx) != nil {
		t.Error("nil pacers must admit everything")
	}
}
