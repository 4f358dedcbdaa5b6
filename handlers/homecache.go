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

	mu      sync.Mutex
	entries map[string]homeLists
}

type homeLists struct {
	at           time.Time
	open, closed []Issue
}

func (h *homeCache) init() {
	h.slots = make(chan struct{}, homeRenders)
	h.entries = map[string]homeLists{}
}

// lookup returns userID's lists, from the cache when fresh, else from fetch (one at a time per user,
// at most homeRenders users at once; a caller waiting longer than its ctx gives up).
func (h *homeCache) lookup(ctx context.Context, userID string, now func() time.Time, fetch func(context.Context) ([]Issue, []Issue, error)) ([]Issue, []Issue, error) {
	unlock := h.locks.Lock(userID)
	defer unlock()
	if e, ok := h.get(userID, now()); ok {
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
	h.mu.Lock()
	defer h.mu.Unlock()
	for u, e := range h.entries { // keep the map to the users seen lately
		if now().Sub(e.at) > homeTTL {
			delete(h.entries, u)
		}
	}
	h.entries[userID] = homeLists{at: now(), open: open, closed: closed}
	return open, closed, nil
}

func (h *homeCache) get(userID string, now time.Time) (homeLists, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.entries[userID]
	return e, ok && now.Sub(e.at) <= homeTTL
}

// forget drops userID's lists, so the next lookup is fresh.
func (h *homeCache) forget(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.entries, userID)
}
