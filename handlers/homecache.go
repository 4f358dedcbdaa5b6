package handlers

import (
	"context"
	"sync"
	"time"
)

// Budgets of the App Home: each user's lists are looked up at most once per homeTTL (opening the tab
// again and again costs nothing), and at most homeRenders lookups run at once.
const (
	homeTTL     = 30 * time.Second
	homeRenders = 4
)

// homeCache holds each user's App Home lists for homeTTL and coalesces concurrent opens by one user
// into one lookup. An answer forgets the user's entry, so the refreshed tab shows it.
type homeCache struct {
	slots chan struct{}
	locks keyedMutex
	lists lately[homeLists]
}

type homeLists struct {
	open, closed []Issue
}

func (h *homeCache) init() {
	h.slots = make(chan struct{}, homeRenders)
}

// lookup returns userID's lists, from the cache when fresh, else from fetch (one at a time per user,
// at most homeRenders users at once; a caller waiting longer than its ctx gives up).
func (h *homeCache) lookup(ctx context.Context, userID string, now func() time.Time, fetch func(context.Context) ([]Issue, []Issue, error)) ([]Issue, []Issue, error) {
	unlock := h.locks.Lock(userID)
	defer unlock()
	if e, ok := h.lists.get(userID, now()); ok {
		return e.open, e.closed, nil
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	open, closed, err := fetch(ctx)
	if err != nil {
		return nil, nil, err
	}
	h.lists.put(userID, homeLists{open: open, closed: closed}, now())
	return open, closed, nil
}

// forget drops userID's lists, so the next lookup is fresh.
func (h *homeCache) forget(userID string) { h.lists.forget(userID) }

// lately keeps, by user, what was last read for them and when, for homeTTL: one read serves every
// render within it. The zero value is ready.
type lately[V any] struct {
	mu      sync.Mutex
	entries map[string]readAt[V]
}

type readAt[V any] struct {
	at time.Time
	v  V
}

// get returns what was read for userID, when it was read within homeTTL of now.
func (l *lately[V]) get(userID string, now time.Time) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[userID]
	return e.v, ok && now.Sub(e.at) <= homeTTL
}

// put keeps v as read for userID at now, and drops what is older than homeTTL (the map keeps to
// the users seen lately).
func (l *lately[V]) put(userID string, v V, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[string]readAt[V]{}
	}
	for u, e := range l.entries {
		if now.Sub(e.at) > homeTTL {
			delete(l.entries, u)
		}
	}
	l.entries[userID] = readAt[V]{at: now, v: v}
}

// forget drops what was read for userID, so the next get misses.
func (l *lately[V]) forget(userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, userID)
}
