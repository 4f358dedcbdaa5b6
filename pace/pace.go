// Package pace holds calls to an outside service within its documented rate limits, ahead of time,
// so dispatch never has to be told to slow down (GitHub blocks a token that ignores its secondary
// limits; Slack and PagerDuty answer 429).
package pace

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

// Pacer admits requests so that no window's limit is ever exceeded, keeping the times of the most
// recent requests (as many as the largest limit). It is exact, not a token bucket approximation.
// A nil *Pacer admits everything.
type Pacer struct {
	mu      sync.Mutex
	windows []Window
	times   []time.Time // admitted request times, oldest first, at most max(limit) entries
	now     func() time.Time
}

// New makes a Pacer for the windows; with none it admits everything.
func New(windows ...Window) *Pacer {
	return &Pacer{windows: windows, now: time.Now}
}

// Wait blocks until a request may be made, and counts it as made. It returns ctx's error if ctx ends
// first.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil || len(p.windows) == 0 {
		return nil
	}
	for {
		p.mu.Lock()
		now := p.now()
		wait := p.delayLocked(now)
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

// Delay is how long a request made now would wait, without making one. Callers use it to choose
// between waiting and doing something else first.
func (p *Pacer) Delay() time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delayLocked(p.now())
}

func (p *Pacer) delayLocked(now time.Time) time.Duration {
	wait := time.Duration(0)
	for _, w := range p.windows {
		if len(p.times) < w.Limit {
			continue
		}
		// The request Limit places back must have left the window.
		if d := p.times[len(p.times)-w.Limit].Add(w.Span).Sub(now); d > wait {
			wait = d
		}
	}
	return wait
}

func (p *Pacer) maxLimit() int {
	m := 0
	for _, w := range p.windows {
		m = max(m, w.Limit)
	}
	return m
}

// Keyed keeps one Pacer per key (a Slack channel, a PagerDuty routing key), each with the same
// windows.
type Keyed struct {
	mu      sync.Mutex
	windows []Window
	pacers  map[string]*Pacer
}

// NewKeyed makes a Keyed pacer.
func NewKeyed(windows ...Window) *Keyed {
	return &Keyed{windows: windows, pacers: map[string]*Pacer{}}
}

// Wait waits for key's turn (see Pacer.Wait). A nil *Keyed admits everything.
func (k *Keyed) Wait(ctx context.Context, key string) error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	p := k.pacers[key]
	if p == nil {
		p = New(k.windows...)
		k.pacers[key] = p
	}
	k.mu.Unlock()
	return p.Wait(ctx)
}
