package fakeslack

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// User is a workspace member as tests seed it; the Web API renders it as Slack's user object.
type User struct {
	ID, Name, RealName, DisplayName, Email string
	Deleted, IsBot                         bool
}

// Message is a message the client posted (or a response_url produced), as stored.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage // as stored: Slack fills in block_id and action_id where missing
	Metadata json.RawMessage // {"event_type":…,"event_payload":…} when the post carried metadata
	Updated  int             // how many times chat.update (or replace_original) changed it
	User     string          // the poster: the bot user id
	Posted   time.Time       // when the fake stored it (after any SetLatency delay), for latency measurements
}

type storedMessage struct {
	Message
	editedTS string
}

// channel is a conversation the fake knows: a public channel added by AddChannel or a DM
// opened by conversations.open (or by posting to a user id).
type channel struct {
	id, name string
	user     string // the other member, for a DM
	msgs     []*storedMessage
}

type homeView struct {
	id   string
	hash string
	view map[string]any // as published, plus the fields Slack adds (id, hash, team_id, …)
}

// AddUser adds a workspace member, or replaces the one with the same ID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.users {
		if old.ID == u.ID {
			s.users[i] = &u
			s.notifyLocked()
			return
		}
	}
	s.users = append(s.users, &u)
	s.notifyLocked()
}

// AddChannel adds a public channel the bot can post to, or renames an existing one.
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[id]; ok {
		ch.name = name
		return
	}
	s.channels[id] = &channel{id: id, name: name}
	s.notifyLocked()
}

// SetUsersPageSize sets the most users one users.list page returns (default 2, so clients'
// pagination is exercised); a client's smaller limit still wins. n < 1 means 1.
func (s *Server) SetUsersPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usersPageSize = max(n, 1)
}

// Messages returns the messages in a channel in post order (nil for an unknown channel).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesLocked(channel)
}

func (s *Server) messagesLocked(id string) []Message {
	ch, ok := s.channels[id]
	if !ok {
		return nil
	}
	out := make([]Message, len(ch.msgs))
	for i, m := range ch.msgs {
		out[i] = m.Message
	}
	return out
}

// DMs returns the messages in the bot's DM with userID, in post order.
func (s *Server) DMs(userID string) []Message {
	return s.Messages(dmID(userID))
}

// PostAsUser stores a message that member userID posted in channel (a channel id, or a user id for
// their DM with the bot), as any member can from their own client or an app of their own, with
// message metadata of their choosing (nil for none). It returns the message's ts.
func (s *Server) PostAsUser(userID, channel, text string, metadata json.RawMessage) (string, error) {
	return s.PostAsUserInThread(userID, channel, "", text, metadata)
}

// PostAsUserInThread is PostAsUser in the thread of threadTS ("" for none).
func (s *Server) PostAsUserInThread(userID, channel, threadTS, text string, metadata json.RawMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userLocked(userID) == nil {
		return "", fmt.Errorf("fakeslack: no user %s", userID)
	}
	ch := s.resolveChannelLocked(channel)
	if ch == nil {
		return "", fmt.Errorf("fakeslack: no channel %s", channel)
	}
	m := &storedMessage{Message: Message{Channel: ch.id, TS: s.newTSLocked(), ThreadTS: threadTS, Text: text, Metadata: metadata, User: userID, Posted: time.Now()}}
	ch.msgs = append(ch.msgs, m)
	return m.TS, nil
}

// Ephemerals returns the ephemeral messages shown to userID, in post order.
func (s *Server) Ephemerals(userID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.ephemerals[userID] {
		out = append(out, m.Message)
	}
	return out
}

// HomeView returns the App Home view last published for userID, with the fields Slack adds
// (id, hash, team_id, app_id, bot_id, state), and whether there is one.
func (s *Server) HomeView(userID string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.homes[userID]
	if !ok {
		return nil, false
	}
	b, _ := json.Marshal(h.view)
	return b, true
}

// WaitMessages blocks until channel holds at least n messages and returns them all; it fails
// with the context's error (wrapped) when ctx ends first.
func (s *Server) WaitMessages(ctx context.Context, channel string, n int) ([]Message, error) {
	var got []Message
	err := s.waitFor(ctx, func() bool {
		got = s.messagesLocked(channel)
		return len(got) >= n
	})
	if err != nil {
		return got, fmt.Errorf("fakeslack: waiting for %d messages in %s, have %d: %w", n, channel, len(got), err)
	}
	return got, nil
}

// dmID is the id the fake gives the bot's DM with a user. Real DM ids are unrelated to user
// ids, so clients must take it from conversations.open or chat.postMessage.
func dmID(userID string) string { return "D" + userID }

func (s *Server) userLocked(id string) *User {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (s *Server) botNameLocked() string {
	if u := s.userLocked(s.opts.BotUserID); u != nil {
		return u.Name
	}
	return "bot"
}

// openDMLocked returns the bot's DM with u, creating it; opened reports whether it was new.
func (s *Server) openDMLocked(u *User) (ch *channel, opened bool) {
	id := dmID(u.ID)
	if ch, ok := s.channels[id]; ok {
		return ch, false
	}
	ch = &channel{id: id, name: "directmessage", user: u.ID}
	s.channels[id] = ch
	return ch, true
}

// resolveChannelLocked maps a channel argument to a stored conversation: a known channel or
// opened DM id, or a user id, which Slack treats as that user's DM (opening it if needed).
func (s *Server) resolveChannelLocked(id string) *channel {
	if ch, ok := s.channels[id]; ok {
		return ch
	}
	if strings.HasPrefix(id, "U") || strings.HasPrefix(id, "W") {
		if u := s.userLocked(id); u != nil && !u.Deleted {
			ch, _ := s.openDMLocked(u)
			return ch
		}
	}
	return nil
}

func (ch *channel) find(ts string) (int, *storedMessage) {
	for i, m := range ch.msgs {
		if m.TS == ts {
			return i, m
		}
	}
	return -1, nil
}

// userJSON renders u as Slack's user object.
func (s *Server) userJSON(u *User) map[string]any {
	profile := map[string]any{
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.DisplayName,
		"display_name_normalized": u.DisplayName,
		"team":                    s.opts.TeamID,
	}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	if u.ID == s.opts.BotUserID {
		profile["bot_id"] = s.botID()
	}
	return map[string]any{
		"id":                  u.ID,
		"team_id":             s.opts.TeamID,
		"name":                u.Name,
		"deleted":             u.Deleted,
		"real_name":           u.RealName,
		"tz":                  "Etc/UTC",
		"tz_label":            "Coordinated Universal Time",
		"tz_offset":           0,
		"profile":             profile,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"is_admin":            false,
		"is_owner":            false,
		"is_restricted":       false,
		"is_ultra_restricted": false,
		"updated":             1700000000,
	}
}

// messageJSON renders a stored message as Slack's message object.
func (s *Server) messageJSON(m *storedMessage) map[string]any {
	out := map[string]any{
		"type": "message",
		"user": m.User,
		"text": m.Text,
		"ts":   m.TS,
		"team": s.opts.TeamID,
	}
	if m.User == s.opts.BotUserID {
		out["bot_id"], out["app_id"] = s.botID(), s.opts.AppID
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Metadata) > 0 {
		out["metadata"] = m.Metadata
	}
	if m.editedTS != "" {
		out["edited"] = map[string]any{"user": m.User, "ts": m.editedTS}
	}
	return out
}

// AddUsers adds many members at once (a large workspace); a user whose ID is already present
// replaces the old one.
func (s *Server) AddUsers(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := make(map[string]int, len(s.users))
	for i, u := range s.users {
		at[u.ID] = i
	}
	for _, u := range users {
		u := u
		if i, ok := at[u.ID]; ok {
			s.users[i] = &u
			continue
		}
		at[u.ID] = len(s.users)
		s.users = append(s.users, &u)
	}
	s.notifyLocked()
}

// ShuffleUsers puts the members in a random order (repeatable by seed), the order users.list
// then pages through: Slack promises none, so a client must not depend on it.
func (s *Server) ShuffleUsers(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(s.users), func(i, j int) { s.users[i], s.users[j] = s.users[j], s.users[i] })
}
