// Package servicetime accumulates how long a fake spends answering requests, its injected delays
// excluded: the share of a client's wait that is the fake's own work, which a benchmark of the
// client must not count against it. The fakes of Slack, GitHub and PagerDuty share it.
package servicetime

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use; its zero value is ready.
type Clock struct {
	mu    sync.Mutex
	total time.Duration
}

// Since adds the time since start (call it deferred around the work, after any injected delay).
func (c *Clock) Since(start time.Time) {
	d := time.Since(start)
	c.mu.Lock()
	c.total += d
	c.mu.Unlock()
}

// Total is the time accumulated so far.
func (c *Clock) Total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
