package handlers

import "context"

// Slot is the worker slot a queue consumer holds for each message it works on. An alarm that must
// wait for another with its title (they are handled one at a time, so neither misses the other's
// issue) gives its slot up while it waits and takes one back before going on: a flood of one title
// holds one slot, not all of them, and a high-priority page is never queued behind it.
type Slot interface {
	// Release gives the slot up; it does nothing if the slot is not held.
	Release()
	// Reacquire waits for a slot. It fails only when ctx ends.
	Reacquire(ctx context.Context) error
}

type slotKey struct{}

// WithSlot returns ctx carrying the caller's worker slot, for Handle to release while it waits.
func WithSlot(ctx context.Context, s Slot) context.Context {
	return context.WithValue(ctx, slotKey{}, s)
}

// lockYielding locks key; if another holds it, the worker slot in ctx (if any) is released while
// waiting and reacquired once the lock is held.
func (k *keyedMutex) lockYielding(ctx context.Context, key string) (unlock func(), err error) {
	e := k.entry(key)
	unlock = k.unlocker(key, e)
	if e.mu.TryLock() {
		return unlock, nil
	}
	s, _ := ctx.Value(slotKey{}).(Slot)
	if s == nil {
		e.mu.Lock()
		return unlock, nil
	}
	s.Release()
	e.mu.Lock()
	if err := s.Reacquire(ctx); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Yield runs wait, a wait for a service's rate limit (a Slack channel's turn, say), with the worker
// slot in ctx (if any) given up meanwhile, and takes a slot back before returning: alarms held back
// by one busy person's channel leave the slots to alarms for everyone else. Without a slot in ctx
// (an answer, a task run inline) it just waits.
func Yield(ctx context.Context, wait func() error) error {
	s, _ := ctx.Value(slotKey{}).(Slot)
	if s == nil {
		return wait()
	}
	s.Release()
	err := wait()
	if rerr := s.Reacquire(ctx); err == nil {
		err = rerr
	}
	return err
}
