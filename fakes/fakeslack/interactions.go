package fakeslack

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// verificationToken is the deprecated token Slack still puts in interaction payloads.
const verificationToken = "verification-token"

// ClickButton makes userID click the button with actionID on the message (channel, ts), and
// sends the block_actions "interactive" envelope Slack would: user, container, channel, the
// stored message, a response_url pointing at this server, and the action with the block_id
// and value from the posted blocks. The button is looked for in "actions" blocks' elements
// and "section" accessories. channel may also be a user id, meaning that user's DM; a
// message the user saw as an ephemeral is clicked with is_ephemeral true and no message.
// It returns the envelope id, or an error when the user, message or button does not exist.
func (s *Server) ClickButton(userID, channel, ts, actionID string) (string, error) {
	return s.clickButton(userID, channel, ts, actionID, nil)
}

// ClickButtonWithValue is ClickButton with the action's value replaced by value: what a client
// that crafts its own block_actions would send, to test that a forged or altered value is refused.
func (s *Server) ClickButtonWithValue(userID, channel, ts, actionID, value string) (string, error) {
	return s.clickButton(userID, channel, ts, actionID, &value)
}

// ClickButtonAsShown makes userID click a button of shown, a message as a Slack client showed it
// earlier: a second device, or a client that hasn't caught up with a chat.update that took the
// buttons away. The message must still exist; its buttons now need not.
func (s *Server) ClickButtonAsShown(userID string, shown Message, actionID string) (string, error) {
	return s.clickButton(userID, shown.Channel, shown.TS, actionID, nil, &shown)
}

func (s *Server) clickButton(userID, channel, ts, actionID string, value *string, shown ...*Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakeslack: click by unknown user %q", userID)
	}
	ch, ok := s.channels[channel]
	if !ok {
		ch, ok = s.channels[dmID(channel)]
	}
	if !ok {
		return "", fmt.Errorf("fakeslack: click in unknown channel %q", channel)
	}
	var msg *storedMessage
	if _, m := ch.find(ts); m != nil {
		msg = m
	}
	ephemeral := false
	if msg == nil {
		for _, m := range s.ephemerals[u.ID] {
			if m.Channel == ch.id && m.TS == ts {
				msg, ephemeral = m, true
			}
		}
	}
	if msg == nil {
		return "", fmt.Errorf("fakeslack: no message %s in %s", ts, ch.id)
	}
	if len(shown) > 0 && !ephemeral {
		msg = &storedMessage{Message: *shown[0]}
	}
	b, ok := findButton(msg.Blocks, actionID, "")
	if !ok {
		return "", fmt.Errorf("fakeslack: message %s in %s has no button with action_id %q", ts, ch.id, actionID)
	}
	if value != nil {
		el := maps.Clone(b.element) // the stored message keeps its own value
		el["value"] = *value
		b.element = el
	}
	payload := s.blockActionsLocked(u, b, time.Now())
	payload["container"] = map[string]any{"type": "message", "message_ts": ts, "channel_id": ch.id, "is_ephemeral": ephemeral}
	payload["channel"] = map[string]any{"id": ch.id, "name": ch.name}
	if !ephemeral {
		payload["message"] = s.messageJSON(msg)
	}
	payload["response_url"] = s.newResponseURLLocked(responseTarget{channel: ch.id, user: u.ID, ts: ts, ephemeral: ephemeral})
	return s.sendPayloadLocked("interactive", payload, false)
}

// ClickHomeButton makes userID click a button in their App Home view, sending block_actions
// with container type "view" and the published view. value, when not empty, picks among
// buttons sharing actionID (a list of items with one action each). As from Slack, there is no
// response_url: a view has no message to respond to. It errors when the user has no home
// view or the view has no such button.
func (s *Server) ClickHomeButton(userID, actionID, value string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakeslack: click by unknown user %q", userID)
	}
	h, ok := s.homes[userID]
	if !ok {
		return "", fmt.Errorf("fakeslack: user %s has no published home view", userID)
	}
	blocks, _ := h.view["blocks"].(json.RawMessage)
	b, ok := findButton(blocks, actionID, value)
	if !ok {
		return "", fmt.Errorf("fakeslack: home view of %s has no button with action_id %q and value %q", userID, actionID, value)
	}
	payload := s.blockActionsLocked(u, b, time.Now())
	payload["container"] = map[string]any{"type": "view", "view_id": h.id}
	payload["view"] = h.view
	return s.sendPayloadLocked("interactive", payload, false)
}

// blockActionsLocked builds the parts of a block_actions payload common to every container.
func (s *Server) blockActionsLocked(u *User, b button, now time.Time) map[string]any {
	tid := s.newTriggerIDLocked()
	s.rememberTriggerLocked(tid, u.ID, now)
	return map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID},
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"trigger_id":            tid,
		"team":                  map[string]any{"id": s.opts.TeamID, "domain": "fake"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"state":                 map[string]any{"values": map[string]any{}},
		"actions":               []any{b.actionJSON(actionTS(now))},
	}
}

// SlashCommand makes userID run command (e.g. "/dispatch") with text in their DM with the
// app, sending the "slash_commands" envelope Slack sends in Socket Mode: string fields only
// (is_enterprise_install is the string "false"), accepts_response_payload true, and a
// response_url pointing at this server. It errors for an unknown user.
func (s *Server) SlashCommand(userID, command, text string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakeslack: slash command by unknown user %q", userID)
	}
	ch, _ := s.openDMLocked(u)
	payload := map[string]any{
		"token":                 verificationToken,
		"team_id":               s.opts.TeamID,
		"team_domain":           "fake",
		"channel_id":            ch.id,
		"channel_name":          ch.name,
		"user_id":               u.ID,
		"user_name":             u.Name,
		"command":               command,
		"text":                  text,
		"api_app_id":            s.opts.AppID,
		"is_enterprise_install": "false",
		"response_url":          s.newResponseURLLocked(responseTarget{channel: ch.id, user: u.ID}),
		"trigger_id":            s.newTriggerIDLocked(),
	}
	return s.sendPayloadLocked("slash_commands", payload, true)
}

// SendEvent delivers an Events API event, e.g. {"type":"app_home_opened","user":"U1",…},
// wrapped the way Slack wraps it: an event_callback with team_id, api_app_id, event_id,
// event_time and authorizations. It errors unless innerEvent is a JSON object with a type.
func (s *Server) SendEvent(innerEvent json.RawMessage) (string, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(innerEvent, &probe); err != nil || probe.Type == "" {
		return "", fmt.Errorf("fakeslack: event must be a JSON object with a type: %s", innerEvent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendEventLocked(innerEvent, time.Now())
}

func (s *Server) sendEventLocked(inner json.RawMessage, now time.Time) (string, error) {
	payload := map[string]any{
		"token":      verificationToken,
		"team_id":    s.opts.TeamID,
		"api_app_id": s.opts.AppID,
		"event":      inner,
		"type":       "event_callback",
		"event_id":   "Ev" + strconv.FormatInt(s.nextSeqLocked(), 10) + randomHex(6),
		"event_time": now.Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": s.opts.TeamID, "user_id": s.opts.BotUserID,
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + randomHex(24),
	}
	return s.sendPayloadLocked("events_api", payload, false)
}

// OpenAppHome sends the app_home_opened event Slack sends when userID opens the app's Home
// tab, with the user's DM as channel and their current home view if one was published.
func (s *Server) OpenAppHome(userID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakeslack: app home opened by unknown user %q", userID)
	}
	ch, _ := s.openDMLocked(u)
	now := time.Now()
	ev := map[string]any{"type": "app_home_opened", "user": u.ID, "channel": ch.id, "tab": "home", "event_ts": actionTS(now)}
	if h, ok := s.homes[u.ID]; ok {
		ev["view"] = h.view
	}
	inner, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("fakeslack: encoding app_home_opened: %w", err)
	}
	return s.sendEventLocked(inner, now)
}

func (s *Server) sendPayloadLocked(typ string, payload map[string]any, acceptsResponse bool) (string, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("fakeslack: encoding %s payload: %w", typ, err)
	}
	return s.sendEnvelopeLocked(typ, b, acceptsResponse)
}
