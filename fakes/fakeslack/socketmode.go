package fakeslack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// writeTimeout bounds every websocket write, so a stuck client cannot stall the server.
	writeTimeout = 5 * time.Second
	// disconnectGrace is how long a connection told to disconnect may stay open; slack-go
	// closes it itself right away and dials a new one.
	disconnectGrace = 2 * time.Second
)

// wsConn is one Socket Mode websocket connection.
type wsConn struct {
	ws        *websocket.Conn
	writeMu   sync.Mutex // gorilla allows one concurrent writer (control frames excepted)
	done      chan struct{}
	closeOnce sync.Once

	draining bool // sent a disconnect: gets no more envelopes (guarded by Server.mu)
}

func (c *wsConn) writeRaw(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeRawLocked(b)
}

func (c *wsConn) writeRawLocked(b []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

func (c *wsConn) writeJSON(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeJSONLocked(v)
}

func (c *wsConn) writeJSONLocked(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeRawLocked(b)
}

// close drops the TCP connection without a close frame; safe to call more than once.
func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

// appsConnectionsOpen hands out a single-use websocket URL, as Slack does.
func (s *Server) appsConnectionsOpen(call) reply {
	ticket := randomHex(32)
	s.tickets[ticket] = true
	s.opens++
	return okReply(map[string]any{"url": s.linkURL + "?ticket=" + ticket})
}

// serveLink is the Socket Mode websocket endpoint: it checks the ticket, sends hello,
// delivers queued envelopes, pings, and reads acks until the connection ends.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket] && !s.closed
	delete(s.tickets, ticket)
	if valid {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	defer s.wg.Done()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}

	// Hold the write lock from registration until hello is out: the connection can be picked
	// for envelopes (or told to disconnect) as soon as it is registered, and those writes must
	// come after hello.
	c.writeMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.writeMu.Unlock()
		c.close()
		return
	}
	s.conns = append(s.conns, c)
	num := s.connectionsLocked()
	s.notifyLocked()
	s.mu.Unlock()

	hello := map[string]any{
		"type":            "hello",
		"num_connections": num,
		"debug_info":      map[string]any{"host": "fake", "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	}
	err = c.writeJSONLocked(hello)
	c.writeMu.Unlock()
	if err != nil {
		s.dropConn(c)
		return
	}

	s.spawn(func() { s.ping(c) })
	s.flush()
	s.readAcks(c)
}

// ping sends a PING control frame every PingInterval; slack-go treats a silent server as dead.
func (s *Server) ping(c *wsConn) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-s.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("fakeslack"), time.Now().Add(writeTimeout)); err != nil {
				s.dropConn(c)
				return
			}
		}
	}
}

// readAcks reads the client's frames until the connection fails. gorilla's default handlers
// answer the client's pings and close frames while this loop reads.
func (s *Server) readAcks(c *wsConn) {
	defer s.dropConn(c)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		var res struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &res) != nil || res.EnvelopeID == "" {
			continue // Slack ignores frames that are not acks
		}
		s.recordAck(res.EnvelopeID, res.Payload, now)
	}
}

// dropConn forgets c and closes it.
func (s *Server) dropConn(c *wsConn) {
	s.mu.Lock()
	for i, o := range s.conns {
		if o == c {
			s.conns = append(s.conns[:i:i], s.conns[i+1:]...)
			s.notifyLocked()
			break
		}
	}
	s.mu.Unlock()
	c.close()
}

// pickConnLocked chooses the connection for the next envelope, round robin over the
// connections that said hello and were not told to disconnect; nil when there is none.
func (s *Server) pickConnLocked() *wsConn {
	var live []*wsConn
	for _, c := range s.conns {
		if !c.draining {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return nil
	}
	c := live[s.nextConn%len(live)]
	s.nextConn++
	return c
}

// Connections returns how many Socket Mode connections can receive envelopes now: connected
// and not told to disconnect. Each connection gets its hello before any envelope.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectionsLocked()
}

func (s *Server) connectionsLocked() int {
	n := 0
	for _, c := range s.conns {
		if !c.draining {
			n++
		}
	}
	return n
}

// Opens returns how many apps.connections.open calls succeeded.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// WaitConnected blocks until at least n connections can receive envelopes (see Connections),
// or fails with the context's error (wrapped).
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	if err := s.waitFor(ctx, func() bool { return s.connectionsLocked() >= n }); err != nil {
		return fmt.Errorf("fakeslack: waiting for %d socket mode connections, have %d: %w", n, s.Connections(), err)
	}
	return nil
}

// Disconnect sends {"type":"disconnect","reason":reason} on every connection, as Slack does
// before it rotates a connection; reason "" means "refresh_requested". The connections get
// no further envelopes and are closed after a short grace period; slack-go opens a new one
// at once. Envelopes sent meanwhile wait for the new connection.
func (s *Server) Disconnect(reason string) {
	if reason == "" {
		reason = "refresh_requested"
	}
	s.mu.Lock()
	var targets []*wsConn
	for _, c := range s.conns {
		if !c.draining {
			c.draining = true
			targets = append(targets, c)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	msg := map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "fake"}}
	for _, c := range targets {
		if err := c.writeJSON(msg); err != nil {
			s.dropConn(c)
			continue
		}
		time.AfterFunc(disconnectGrace, func() {
			c.writeMu.Lock()
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.writeMu.Unlock()
			s.dropConn(c)
		})
	}
}

// DropConnections closes every connection's TCP socket abruptly, with no disconnect message
// or close frame, like a network failure; slack-go notices and reconnects. Unacked envelopes
// sent on them are lost unless RedeliverAfter is set.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}
