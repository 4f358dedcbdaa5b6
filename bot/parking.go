package bot

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// maxParked bounds how many handed-back messages the consumer remembers (each a receipt handle, no
// body); beyond it the newest just wait out their delay.
const maxParked = 10000

// parking remembers the messages handed back to wait out an outage, while they are still hidden,
// so that when the service answers again they can be made visible at once, oldest first, instead
// of each waiting out the rest of its delay: the backlog drains as soon as the service is back.
type parking struct {
	mu     sync.Mutex
	parked map[string]parked // by delivery ID: one alarm, its latest copy
}

type parked struct {
	m         sqsqueue.Message // receipt and ID only
	firstSeen time.Time
	until     time.Time // hidden until then; after it, the receipt may be stale
	services  []string  // the services it waits for (servicesFor)
}

// park remembers m, hidden for delay from now, waiting for services.
func (p *parking) park(deliveryID string, m sqsqueue.Message, delay time.Duration, services []string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parked == nil {
		p.parked = map[string]parked{}
	}
	if len(p.parked) >= maxParked {
		for id, e := range p.parked {
			if !now.Before(e.until) {
				delete(p.parked, id)
			}
		}
		if len(p.parked) >= maxParked {
			return
		}
	}
	p.parked[deliveryID] = parked{m: sqsqueue.Message{ID: m.ID, Receipt: m.Receipt}, firstSeen: m.FirstSeen(), until: now.Add(delay), services: services}
}

// unpark forgets the alarm (it was received again, or is done).
func (p *parking) unpark(deliveryID string) {
	p.mu.Lock()
	delete(p.parked, deliveryID)
	p.mu.Unlock()
}

// release makes every message still hidden visible again, oldest alarm first, and forgets them.
// A receipt that is stale by then (the message came back and went elsewhere) fails harmlessly.
func (p *parking) release(ctx context.Context, q Queue, log zerolog.Logger) int {
	now := time.Now()
	p.mu.Lock()
	list := make([]parked, 0, len(p.parked))
	for _, e := range p.parked {
		if now.Before(e.until) {
			list = append(list, e)
		}
	}
	p.parked = nil
	p.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].firstSeen.Before(list[j].firstSeen) })
	released := 0
	for _, e := range list {
		if ctx.Err() != nil {
			break
		}
		if err := q.SetVisibility(ctx, e.m, 0); err != nil {
			log.Debug().Err(err).Str("message_id", e.m.ID).Msg("could not release a waiting message early: it comes back after its delay")
			continue
		}
		released++
	}
	return released
}

// releaseOne makes the oldest alarm still hidden that waits for service visible again, and forgets
// it: brought forward to find out whether service is back (see consumer.nudgeProbes). It reports
// the message released, if any. One whose receipt is stale by then (or SQS failing) is forgotten:
// the next call tries the next.
func (p *parking) releaseOne(ctx context.Context, q Queue, service string) (string, bool) {
	now := time.Now()
	p.mu.Lock()
	id, oldest := "", parked{}
	for d, e := range p.parked {
		if now.Before(e.until) && slices.Contains(e.services, service) && (id == "" || e.firstSeen.Before(oldest.firstSeen)) {
			id, oldest = d, e
		}
	}
	delete(p.parked, id)
	p.mu.Unlock()
	if id == "" || q.SetVisibility(ctx, oldest.m, 0) != nil {
		return "", false
	}
	return oldest.m.ID, true
}
