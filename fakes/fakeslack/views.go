package fakeslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Slack's modal limits (docs.slack.dev, views.open and "Modals"): a trigger_id works once, within
// 3 s; title, submit and close at most 24 characters; private_metadata 3,000; callback_id 255.
const (
	triggerLife        = 3 * time.Second
	maxModalTitle      = 24
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
)

type trigger struct {
	at   time.Time
	user string
	used bool
}

// modal is a view opened with views.open, until it is closed.
type modal struct {
	id     string
	user   string
	view   map[string]any
	closed bool
}

// Modal is an open (or closed) modal as a test sees it.
type Modal struct {
	ID     string
	User   string
	View   json.RawMessage
	Closed bool
}

// rememberTriggerLocked records a trigger_id handed to userID.
func (s *Server) rememberTriggerLocked(id, userID string, now time.Time) {
	if s.triggers == nil {
		s.triggers = map[string]*trigger{}
	}
	s.triggers[id] = &trigger{at: now, user: userID}
}

func (s *Server) viewsOpen(c call) reply {
	tr, ok := s.triggers[c.p.str("trigger_id")]
	switch {
	case c.p.str("trigger_id") == "":
		return errReply("invalid_arguments", "[ERROR] missing required field: trigger_id")
	case !ok:
		return errReply("invalid_trigger_id")
	case tr.used:
		return errReply("exchanged_trigger_id")
	case time.Since(tr.at) > triggerLife:
		return errReply("expired_trigger_id")
	}
	view, rep := s.checkModalLocked(c)
	if rep != nil {
		return *rep
	}
	tr.used = true
	m := &modal{id: "V" + strconv.FormatInt(s.nextSeqLocked(), 10), user: tr.user, view: view}
	view["id"], view["root_view_id"], view["team_id"], view["app_id"], view["bot_id"] = m.id, m.id, s.opts.TeamID, s.opts.AppID, s.botID()
	view["state"] = map[string]any{"values": map[string]any{}}
	if s.modals == nil {
		s.modals = map[string]*modal{}
	}
	s.modals[m.id] = m
	return okReply(map[string]any{"view": view})
}

func (s *Server) viewsUpdate(c call) reply {
	m, ok := s.modals[c.p.str("view_id")]
	if !ok || m.closed {
		return errReply("not_found")
	}
	view, rep := s.checkModalLocked(c)
	if rep != nil {
		return *rep
	}
	view["id"], view["root_view_id"] = m.id, m.id
	view["state"] = map[string]any{"values": map[string]any{}}
	m.view = view
	return okReply(map[string]any{"view": view})
}

// checkModalLocked reads and checks the call's "view" against Slack's limits.
func (s *Server) checkModalLocked(c call) (map[string]any, *reply) {
	raw, ok := c.p.jsonArg("view")
	if !ok {
		r := errReply("invalid_arguments", "[ERROR] missing required field: view")
		return nil, &r
	}
	var view map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&view); err != nil || view["type"] != "modal" {
		r := errReply("invalid_arguments", "[ERROR] view must be an object of type modal [json-pointer:/view/type]")
		return nil, &r
	}
	var problems []string
	for _, k := range []string{"title", "submit", "close"} {
		if t, ok := view[k].(map[string]any); ok {
			if text, _ := t["text"].(string); utf8.RuneCountInString(text) > maxModalTitle {
				problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/%s/text]", maxModalTitle+1, k))
			}
		} else if k == "title" {
			problems = append(problems, "[ERROR] missing required field: title [json-pointer:/view/title]")
		}
	}
	if md, _ := view["private_metadata"].(string); len(md) > maxPrivateMetadata {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/private_metadata]", maxPrivateMetadata+1))
	}
	if cb, _ := view["callback_id"].(string); len(cb) > maxCallbackID {
		problems = append(problems, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:/view/callback_id]", maxCallbackID+1))
	}
	blocksRaw, _ := json.Marshal(view["blocks"])
	blocks, bp := normalizeBlocks(blocksRaw, maxViewBlocks)
	problems = append(problems, bp...)
	if len(problems) > 0 {
		r := errReply("invalid_arguments", problems...)
		return nil, &r
	}
	view["blocks"] = blocks
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := view[k]; !ok {
			view[k] = ""
		}
	}
	return view, nil
}

// Modals returns the modals opened for userID, oldest first.
func (s *Server) Modals(userID string) []Modal {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Modal
	for _, m := range s.modals {
		if m.user == userID {
			b, _ := json.Marshal(m.view)
			out = append(out, Modal{ID: m.id, User: m.user, View: b, Closed: m.closed})
		}
	}
	for i := 1; i < len(out); i++ { // by id's number: creation order
		for j := i; j > 0 && viewSeq(out[j].ID) < viewSeq(out[j-1].ID); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func viewSeq(id string) int64 { n, _ := strconv.ParseInt(id[1:], 10, 64); return n }

// SubmitView makes userID submit the modal viewID with values (block_id → action_id → text), sending
// the view_submission "interactive" envelope Slack sends, with the view as stored (its
// private_metadata included). Like a client replaying a captured payload, it may submit a modal
// already closed: Slack itself wouldn't, but a test of replays needs to. The modal closes, stays
// or changes as the ack's response_action says. It errors for an unknown user or view.
func (s *Server) SubmitView(userID, viewID string, values map[string]map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakeslack: submission by unknown user %q", userID)
	}
	m, ok := s.modals[viewID]
	if !ok {
		return "", fmt.Errorf("fakeslack: no view %s", viewID)
	}
	state := map[string]any{}
	for block, actions := range values {
		as := map[string]any{}
		for action, v := range actions {
			as[action] = map[string]any{"type": "plain_text_input", "value": v}
		}
		state[block] = as
	}
	view := map[string]any{}
	for k, v := range m.view {
		view[k] = v
	}
	view["state"] = map[string]any{"values": state}
	now := time.Now()
	tid := s.newTriggerIDLocked()
	s.rememberTriggerLocked(tid, u.ID, now)
	payload := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": s.opts.TeamID, "domain": "fake"},
		"user":       map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID},
		"api_app_id": s.opts.AppID,
		"token":      verificationToken,
		"trigger_id": tid,
		"view":       view,
	}
	id, err := s.sendPayloadLocked("interactive", payload, true)
	if err == nil {
		if s.submissions == nil {
			s.submissions = map[string]string{}
		}
		s.submissions[id] = viewID
	}
	return id, err
}

// applyViewAckLocked honours a view_submission ack's response_action: none or "clear" closes the
// modal, "errors" keeps it open, "update" replaces its view.
func (s *Server) applyViewAckLocked(envelopeID string, payload json.RawMessage) {
	viewID, ok := s.submissions[envelopeID]
	if !ok {
		return
	}
	m := s.modals[viewID]
	var resp struct {
		ResponseAction string         `json:"response_action"`
		View           map[string]any `json:"view"`
	}
	_ = json.Unmarshal(payload, &resp)
	switch resp.ResponseAction {
	case "errors":
	case "update":
		if resp.View != nil {
			resp.View["id"] = m.id
			m.view = resp.View
		}
	default:
		m.closed = true
	}
}
