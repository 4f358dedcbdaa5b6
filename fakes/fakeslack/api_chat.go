package fakeslack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// content is the text, blocks and metadata of a chat.* call; has* tell "absent" from "empty".
type content struct {
	text                 string
	blocks, metadata     json.RawMessage
	hasText, hasBlocks   bool
	hasMeta, attachments bool
}

// parseContent reads and checks a message body the way Slack does: invalid_blocks with the
// reasons in response_metadata.messages, invalid_metadata_format for malformed metadata.
func parseContent(p params, maxBlocks int) (content, *reply) {
	ct := content{text: p.str("text"), hasText: p.has("text"), attachments: p.str("attachments") != ""}
	if raw, ok := p.jsonArg("blocks"); ok {
		blocks, problems := normalizeBlocks(raw, maxBlocks)
		if len(problems) > 0 {
			r := errReply("invalid_blocks", problems...)
			return ct, &r
		}
		ct.hasBlocks = true
		if !bytes.Equal(blocks, []byte("[]")) {
			ct.blocks = blocks
		}
	}
	if raw, ok := p.jsonArg("metadata"); ok && len(bytes.TrimSpace(raw)) > 0 {
		var md struct {
			EventType    string          `json:"event_type"`
			EventPayload json.RawMessage `json:"event_payload"`
		}
		if err := json.Unmarshal(raw, &md); err != nil {
			r := errReply("invalid_metadata_format")
			return ct, &r
		}
		empty := md.EventType == "" && (len(md.EventPayload) == 0 || string(md.EventPayload) == "null")
		if !empty {
			if md.EventType == "" || len(md.EventPayload) == 0 || md.EventPayload[0] != '{' {
				r := errReply("invalid_metadata_format")
				return ct, &r
			}
			ct.metadata, ct.hasMeta = raw, true
		}
	}
	return ct, nil
}

// chatPostMessage stores a message in a known channel, an opened DM, or the DM of a user id.
func (s *Server) chatPostMessage(c call) reply {
	ch := s.resolveChannelLocked(c.p.str("channel"))
	if ch == nil {
		return errReply("channel_not_found")
	}
	if !s.allowPostLocked(ch.id, time.Now()) {
		return reply{status: http.StatusTooManyRequests, retryAfter: time.Second, body: map[string]any{"ok": false, "error": "ratelimited"}}
	}
	ct, bad := parseContent(c.p, maxMessageBlocks)
	if bad != nil {
		return *bad
	}
	if ct.text == "" && ct.blocks == nil && !ct.attachments {
		return errReply("no_text")
	}
	m := &storedMessage{Message: Message{
		Channel: ch.id, TS: s.newTSLocked(), ThreadTS: c.p.str("thread_ts"),
		Text: ct.text, Blocks: ct.blocks, Metadata: ct.metadata, User: s.opts.BotUserID, Posted: time.Now(),
	}}
	ch.msgs = append(ch.msgs, m)
	return okReply(map[string]any{"channel": ch.id, "ts": m.TS, "message": s.messageJSON(m)})
}

// chatUpdate replaces the text, blocks and metadata the call carries; absent ones are kept.
func (s *Server) chatUpdate(c call) reply {
	ch := s.resolveChannelLocked(c.p.str("channel"))
	if ch == nil {
		return errReply("channel_not_found")
	}
	_, m := ch.find(c.p.str("ts"))
	if m == nil {
		return errReply("message_not_found")
	}
	if m.User != s.opts.BotUserID {
		return errReply("cant_update_message") // a bot token may edit only the bot's own messages
	}
	ct, bad := parseContent(c.p, maxMessageBlocks)
	if bad != nil {
		return *bad
	}
	if ct.hasText {
		m.Text = ct.text
	}
	if ct.hasBlocks {
		m.Blocks = ct.blocks
	}
	if ct.hasMeta {
		m.Metadata = ct.metadata
	}
	m.Updated++
	m.editedTS = s.newTSLocked()
	return okReply(map[string]any{"channel": ch.id, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)})
}

// chatPostEphemeral stores a message only userID sees; in a DM the user must be its member.
func (s *Server) chatPostEphemeral(c call) reply {
	u := s.userLocked(c.p.str("user"))
	if u == nil {
		return errReply("user_not_found")
	}
	ch := s.resolveChannelLocked(c.p.str("channel"))
	if ch == nil {
		return errReply("channel_not_found")
	}
	if ch.user != "" && ch.user != u.ID {
		return errReply("user_not_in_channel")
	}
	ct, bad := parseContent(c.p, maxMessageBlocks)
	if bad != nil {
		return *bad
	}
	if ct.text == "" && ct.blocks == nil && !ct.attachments {
		return errReply("no_text")
	}
	ts := s.postEphemeralLocked(ch.id, u.ID, ct.text, ct.blocks)
	return okReply(map[string]any{"message_ts": ts})
}

func (s *Server) postEphemeralLocked(channel, userID, text string, blocks json.RawMessage) string {
	m := &storedMessage{Message: Message{Channel: channel, TS: s.newTSLocked(), Text: text, Blocks: blocks, User: s.opts.BotUserID, Posted: time.Now()}}
	s.ephemerals[userID] = append(s.ephemerals[userID], m)
	return m.TS
}

// conversationsHistory lists a conversation newest first, with latest/oldest/inclusive,
// limit (default 100) and cursor pagination. Metadata is always included: every stored
// message was posted by this app, whose own metadata Slack returns.
func (s *Server) conversationsHistory(c call) reply {
	ch, ok := s.channels[c.p.str("channel")]
	if !ok {
		return errReply("channel_not_found")
	}
	latest, oldest, inclusive := c.p.str("latest"), c.p.str("oldest"), c.p.boolean("inclusive")
	var msgs []*storedMessage
	for i := len(ch.msgs) - 1; i >= 0; i-- {
		m := ch.msgs[i]
		if m.ThreadTS != "" && m.ThreadTS != m.TS {
			continue // a thread's replies are in conversations.replies, not the history
		}
		if latest != "" && (m.TS > latest || (!inclusive && m.TS == latest)) {
			continue
		}
		if oldest != "" && (m.TS < oldest || (!inclusive && m.TS == oldest)) {
			continue
		}
		msgs = append(msgs, m)
	}
	start := 0
	if cur := c.p.str("cursor"); cur != "" {
		dec, err := base64.StdEncoding.DecodeString(cur)
		n, convErr := strconv.Atoi(strings.TrimPrefix(string(dec), "offset:"))
		if err != nil || convErr != nil || n < 0 || n > len(msgs) {
			return errReply("invalid_cursor")
		}
		start = n
	}
	limit := c.p.integer("limit", 100)
	if limit <= 0 || limit > 999 {
		limit = 100
	}
	end := min(start+limit, len(msgs))
	out := make([]any, 0, end-start)
	for _, m := range msgs[start:end] {
		out = append(out, s.messageJSON(m))
	}
	next := ""
	if end < len(msgs) {
		next = base64.StdEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return okReply(map[string]any{
		"messages":          out,
		"has_more":          next != "",
		"pin_count":         0,
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

// conversationsReplies lists the thread of ts (its parent, or one of its replies): the parent
// first, then the replies oldest first, at most limit (default 1000) of them.
func (s *Server) conversationsReplies(c call) reply {
	ch, ok := s.channels[c.p.str("channel")]
	if !ok {
		return errReply("channel_not_found")
	}
	_, m := ch.find(c.p.str("ts"))
	if m == nil {
		return errReply("thread_not_found")
	}
	root := m.TS
	if m.ThreadTS != "" {
		root = m.ThreadTS
	}
	_, parent := ch.find(root)
	if parent == nil {
		return errReply("thread_not_found")
	}
	limit := c.p.integer("limit", 1000)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	out := []any{s.messageJSON(parent)}
	for _, r := range ch.msgs {
		if r.ThreadTS == root && r.TS != root && len(out) < limit {
			out = append(out, s.messageJSON(r))
		}
	}
	return okReply(map[string]any{"messages": out, "has_more": false, "response_metadata": map[string]any{"next_cursor": ""}})
}

// chatGetPermalink answers for a stored message (slack-go sends this one as a GET).
func (s *Server) chatGetPermalink(c call) reply {
	ch, ok := s.channels[c.p.str("channel")]
	if !ok {
		return errReply("channel_not_found")
	}
	ts := c.p.str("message_ts")
	if _, m := ch.find(ts); m == nil {
		return errReply("message_not_found")
	}
	link := "https://fake.slack.com/archives/" + ch.id + "/p" + strings.ReplaceAll(ts, ".", "")
	return okReply(map[string]any{"channel": ch.id, "permalink": link})
}

// viewsPublish stores a user's App Home view (latest wins). A hash that does not match the
// current view's answers hash_conflict, as Slack does.
func (s *Server) viewsPublish(c call) reply {
	u := s.userLocked(c.p.str("user_id"))
	if u == nil {
		return errReply("user_not_found")
	}
	raw, ok := c.p.jsonArg("view")
	if !ok {
		return errReply("invalid_arguments", "[ERROR] missing required field: view")
	}
	var view map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&view); err != nil || view["type"] != "home" {
		return errReply("invalid_arguments", "[ERROR] view must be an object of type home [json-pointer:/view/type]")
	}
	old := s.homes[u.ID]
	if hash := c.p.str("hash"); hash != "" && old != nil && hash != old.hash {
		return errReply("hash_conflict")
	}
	blocksRaw, _ := json.Marshal(view["blocks"])
	if view["blocks"] == nil {
		blocksRaw = []byte("[]")
	}
	blocks, problems := normalizeBlocks(blocksRaw, maxViewBlocks)
	if len(problems) > 0 {
		return errReply("invalid_blocks", problems...)
	}
	h := &homeView{id: "V" + strconv.FormatInt(s.nextSeqLocked(), 10)}
	if old != nil {
		h.id = old.id
	}
	h.hash = strconv.FormatInt(time.Now().Unix(), 10) + "." + randomHex(8)
	view["blocks"] = blocks
	view["id"], view["hash"], view["root_view_id"] = h.id, h.hash, h.id
	view["team_id"], view["app_installed_team_id"] = s.opts.TeamID, s.opts.TeamID
	view["app_id"], view["bot_id"] = s.opts.AppID, s.botID()
	view["state"] = map[string]any{"values": map[string]any{}}
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := view[k]; !ok {
			view[k] = ""
		}
	}
	h.view = view
	s.homes[u.ID] = h
	return okReply(map[string]any{"view": view})
}
