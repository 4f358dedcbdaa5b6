package fakeslack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxRetries is how often an unacked envelope is redelivered when RedeliverAfter is set;
// Slack's Events API gives up after three retries too.
const maxRetries = 3

// ErrClosed is returned by the methods that send envelopes once the server is closed.
var ErrClosed = errors.New("fakeslack: server closed")

// Ack is a client's acknowledgement of an envelope.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the client acked without a payload
	Latency    time.Duration   // from sending the acked delivery attempt to receiving the ack
	Attempt    int             // retry_attempt of the delivery that was acked
	Received   time.Time
}

// envelope is one Socket Mode request and its delivery state (guarded by Server.mu).
type envelope struct {
	seq             int64 // creation order
	id              string
	typ             string
	acceptsResponse bool
	payload         json.RawMessage
	attempt         int
	reason          string
	sentAt          time.Time
	acked           bool
}

func (e *envelope) wire() []byte {
	b, _ := json.Marshal(struct {
		EnvelopeID             string          `json:"envelope_id"`
		Type                   string          `json:"type"`
		AcceptsResponsePayload bool            `json:"accepts_response_payload"`
		RetryAttempt           int             `json:"retry_attempt"`
		RetryReason            string          `json:"retry_reason"`
		Payload                json.RawMessage `json:"payload"`
	}{e.id, e.typ, e.acceptsResponse, e.attempt, e.reason, e.payload})
	return b
}

// sendEnvelopeLocked queues a Socket Mode request and delivers it if a connection is up;
// otherwise it waits for the next connection.
func (s *Server) sendEnvelopeLocked(typ string, payload json.RawMessage, acceptsResponse bool) (string, error) {
	if s.closed {
		return "", ErrClosed
	}
	e := &envelope{seq: s.nextSeqLocked(), id: newEnvelopeID(), typ: typ, acceptsResponse: acceptsResponse, payload: payload}
	s.envelopes[e.id] = e
	s.queue = append(s.queue, e)
	s.notifyLocked()
	// Deliver outside the caller's lock; spawn so Close waits for the write.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.flush()
	}()
	return e.id, nil
}

// flush writes queued envelopes, each to one connection, until the queue is empty or no
// connection is available. A failed write puts the envelope back at the head of the queue.
func (s *Server) flush() {
	// One flusher at a time keeps envelopes in send order.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		s.mu.Lock()
		if s.closed || len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		c := s.pickConnLocked()
		if c == nil {
			s.mu.Unlock()
			return
		}
		e := s.queue[0]
		s.queue = s.queue[1:]
		msg, attempt := e.wire(), e.attempt
		e.sentAt = time.Now() // before the write: the ack may arrive before we relock
		s.mu.Unlock()

		if err := c.writeRaw(msg); err != nil {
			s.mu.Lock()
			s.queue = append([]*envelope{e}, s.queue...)
			s.mu.Unlock()
			s.dropConn(c)
			continue
		}
		if s.opts.RedeliverAfter > 0 {
			time.AfterFunc(s.opts.RedeliverAfter, func() { s.redeliver(e, attempt) })
		}
	}
}

// redeliver resends e if delivery attempt is still unacked and the latest one.
func (s *Server) redeliver(e *envelope, attempt int) {
	s.mu.Lock()
	if s.closed || e.acked || e.attempt != attempt || e.attempt >= maxRetries {
		s.mu.Unlock()
		return
	}
	e.attempt++
	e.reason = "timeout"
	s.queue = append(s.queue, e)
	s.notifyLocked()
	s.mu.Unlock()
	s.spawn(s.flush)
}

func (s *Server) recordAck(id string, payload json.RawMessage, now time.Time) {
	if len(payload) == 0 {
		payload = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Ack{EnvelopeID: id, Payload: payload, Received: now}
	if e, ok := s.envelopes[id]; ok {
		a.Latency = now.Sub(e.sentAt)
		a.Attempt = e.attempt
		if !e.acked {
			s.applyViewAckLocked(id, payload)
		}
		e.acked = true
	}
	s.acks = append(s.acks, a)
	s.notifyLocked()
}

// WaitAck blocks until the envelope is acked and returns the first ack for it, or fails with
// the context's error (wrapped).
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	var got Ack
	err := s.waitFor(ctx, func() bool {
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				got = a
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("fakeslack: waiting for the ack of envelope %s: %w", envelopeID, err)
	}
	return got, nil
}

// Acks returns every ack received, in order, including duplicates and acks of unknown
// envelope ids (those have Latency 0).
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Unacked returns the ids of envelopes sent or queued but not acked yet.
func (s *Server) Unacked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending []*envelope
	for _, e := range s.envelopes {
		if !e.acked {
			pending = append(pending, e)
		}
	}
	slices.SortFunc(pending, func(a, b *envelope) int { return cmp.Compare(a.seq, b.seq) })
	ids := make([]string, len(pending))
	for i, e := range pending {
		ids[i] = e.id
	}
	return ids
}
