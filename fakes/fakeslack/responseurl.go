package fakeslack

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// responseTarget is what a response_url acts on.
type responseTarget struct {
	channel   string
	user      string
	ts        string // the message a button was on; "" for a slash command
	ephemeral bool   // that message was an ephemeral
}

// ResponseURLPost is one POST a client made to a response_url this server handed out.
type ResponseURLPost struct {
	ID              string // last path element of the response_url
	Channel         string // where the interaction happened
	User            string // who interacted
	Text            string
	Blocks          json.RawMessage
	ResponseType    string // "in_channel", "ephemeral" or ""
	ReplaceOriginal bool
	DeleteOriginal  bool
	Body            json.RawMessage // the request body as sent
}

// ResponseURLPosts returns every response_url POST received, in order.
func (s *Server) ResponseURLPosts() []ResponseURLPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponseURLPost(nil), s.responsePosts...)
}

func (s *Server) newResponseURLLocked(t responseTarget) string {
	id := randomHex(24)
	s.responseURLs[id] = t
	return s.baseURL + "response/" + id
}

// serveResponseURL records a response_url POST and applies it the way Slack does:
// delete_original removes the clicked message, replace_original rewrites it (as chat.update
// would), response_type "in_channel" posts a new message in the channel, and anything else
// shows the user an ephemeral. An unknown id answers 404.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if r.Method != http.MethodPost || err != nil {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
		ThreadTS        string          `json:"thread_ts"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		errReply("invalid_json").write(w)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.responseURLs[id]
	if !ok {
		http.Error(w, "unknown response_url", http.StatusNotFound)
		return
	}
	var blocks json.RawMessage
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
		var problems []string
		if blocks, problems = normalizeBlocks(msg.Blocks, maxMessageBlocks); len(problems) > 0 {
			errReply("invalid_blocks", problems...).write(w)
			return
		}
		if string(blocks) == "[]" {
			blocks = nil
		}
	}
	s.responsePosts = append(s.responsePosts, ResponseURLPost{
		ID: id, Channel: t.channel, User: t.user, Text: msg.Text, Blocks: blocks,
		ResponseType: msg.ResponseType, ReplaceOriginal: msg.ReplaceOriginal,
		DeleteOriginal: msg.DeleteOriginal, Body: body,
	})
	s.applyResponseLocked(t, msg.Text, blocks, msg.ResponseType, msg.ThreadTS, msg.ReplaceOriginal, msg.DeleteOriginal)
	s.notifyLocked()
	okReply(nil).write(w)
}

func (s *Server) applyResponseLocked(t responseTarget, text string, blocks json.RawMessage, responseType, threadTS string, replace, del bool) {
	ch := s.channels[t.channel]
	if ch == nil {
		return
	}
	if t.ts != "" && !t.ephemeral && (replace || del) {
		i, m := ch.find(t.ts)
		switch {
		case m == nil:
		case del:
			ch.msgs = append(ch.msgs[:i:i], ch.msgs[i+1:]...)
		default:
			m.Text, m.Blocks = text, blocks
			m.Updated++
			m.editedTS = s.newTSLocked()
		}
		return
	}
	if t.ephemeral && (replace || del) {
		list := s.ephemerals[t.user]
		for i, m := range list {
			if m.Channel == t.channel && m.TS == t.ts {
				if del {
					s.ephemerals[t.user] = append(list[:i:i], list[i+1:]...)
				} else {
					m.Text, m.Blocks = text, blocks
					m.Updated++
				}
				return
			}
		}
		return
	}
	if responseType == "in_channel" {
		m := &storedMessage{Message: Message{
			Channel: ch.id, TS: s.newTSLocked(), ThreadTS: threadTS, Text: text, Blocks: blocks, User: s.opts.BotUserID,
			Posted: time.Now(),
		}}
		ch.msgs = append(ch.msgs, m)
		return
	}
	s.postEphemeralLocked(ch.id, t.user, text, blocks)
}
