package githubapi

import (
	"context"
	"sync"
	"time"
)

// Window is one limit: at most Limit requests in any Span.
type Window struct {
	Limit int
	Span  time.Duration
}

// SecondaryLimits are GitHub's documented limits on content-creating requests (POST, PATCH, PUT,
// DELETE): 80 a minute and 500 an hour. Exceeding them gets the token blocked for a while, so
// dispatch paces itself below them rather than waiting to be told.
var SecondaryLimits = []Window{{Limit: 80, Span: time.Minute}, {Limit: 500, Span: time.Hour}}

// pacer admits requests so that no window's limit is ever exceeded, keeping the times of the most
// recent requests (as many as the largest limit). It is exact, not a token bucket approximation.
type pacer struct {
	mu      sync.Mutex
	windows []Window
	times   []time.Time // admitted request times, oldest first, at most max(limit) entries
	now     func() time.Time
}

func newPacer(windows []Window) *pacer {
	return &pacer{windows: windows, now: time.Now}
}

// Wait blocks until a request may be made, and counts it as made. It returns ctx's error if ctx ends
// first.
func (p *pacer) Wait(ctx context.Context) error {
	if p == nil || len(p.windows) == 0 {
		return nil
	}
	for {
		p.mu.Lock()
		now := p.now()
		wait := time.Duration(0)
		for _, w := range p.windows {
			if len(p.times) < w.Limit {
				continue
			}
			// The request Limit places back must have left the window.
			oldest := p.times[len(p.times)-w.Limit]
			if d := oldest.Add(w.Span).Sub(now); d > wait {
				wait = d
			}
		}
		if wait <= 0 {
			p.times = append(p.times, now)
			if keep := p.maxLimit(); len(p.times) > keep {
				p.times = append(p.times[:0], p.times[len(p.times)-keep:]...)
			}
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (p *pacer) maxLimit() int {
	m := 0
	for _, w := range p.windows {
		m = max(m, w.Limit)
	}
	return m
}
