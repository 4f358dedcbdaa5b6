package fakeslack

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds a Web API request body; Slack's own limit is in the same region.
const maxBodyBytes = 4 << 20

// params holds a Web API call's arguments from whichever encoding the client used: a
// form (urlencoded body and query string) or a JSON body. slack-go sends most methods as
// forms, with JSON-valued arguments such as blocks as JSON strings, and a few (views.publish,
// apps.connections.open) as JSON.
type params struct {
	form url.Values
	json map[string]json.RawMessage
}

func parseParams(r *http.Request) (params, string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		if err != nil {
			return params{}, "invalid_json"
		}
		p := params{form: r.URL.Query(), json: map[string]json.RawMessage{}}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &p.json); err != nil {
				return params{}, "invalid_json"
			}
		}
		return p, ""
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return params{}, "invalid_form_data"
	}
	return params{form: r.Form}, ""
}

// str returns a scalar argument as a string ("" when absent).
func (p params) str(name string) string {
	if raw, ok := p.json[name]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw) // a number or a bool
	}
	return p.form.Get(name)
}

// has reports whether the argument was sent at all.
func (p params) has(name string) bool {
	_, ok := p.json[name]
	return ok || p.form.Has(name)
}

// jsonArg returns a JSON-valued argument: an object or array in a JSON body, or a JSON
// document carried as a string (the form encoding slack-go uses for blocks and metadata).
func (p params) jsonArg(name string) (json.RawMessage, bool) {
	if raw, ok := p.json[name]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return json.RawMessage(s), true
		}
		return raw, true
	}
	if p.form.Has(name) {
		return json.RawMessage(p.form.Get(name)), true
	}
	return nil, false
}

func (p params) boolean(name string) bool {
	v := p.str(name)
	return v == "true" || v == "1"
}

func (p params) integer(name string, def int) int {
	n, err := strconv.Atoi(p.str(name))
	if err != nil {
		return def
	}
	return n
}

// reply is a Web API answer: a JSON body, normally with HTTP 200 as Slack does even for errors.
type reply struct {
	status     int           // 0 means 200
	retryAfter time.Duration // sets Retry-After (whole seconds, rounded up) when > 0
	body       any
}

func okReply(fields map[string]any) reply {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ok"] = true
	return reply{body: fields}
}

// errReply is Slack's {"ok":false,"error":code}, with human-readable details in
// response_metadata.messages the way Slack reports invalid_blocks.
func errReply(code string, messages ...string) reply {
	body := map[string]any{"ok": false, "error": code}
	if len(messages) > 0 {
		body["response_metadata"] = map[string]any{"messages": messages}
	}
	return reply{body: body}
}

func (rep reply) write(w http.ResponseWriter) {
	if rep.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rep.retryAfter.Seconds()))))
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	if s, ok := rep.body.(string); ok {
		// Slack answers 5xx with an HTML page, which slack-go must not try to parse.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, s)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

// call is one Web API request as a handler sees it.
type call struct {
	method string
	p      params
}

// handler answers one Web API method. It runs with s.mu held and must not block.
type handler func(c call) reply

// handler returns the implementation of a Web API method, or nil for a method the fake
// does not know.
func (s *Server) handler(method string) handler {
	switch method {
	case "auth.test":
		return s.authTest
	case "apps.connections.open":
		return s.appsConnectionsOpen
	case "users.list":
		return s.usersList
	case "users.info":
		return s.usersInfo
	case "users.lookupByEmail":
		return s.usersLookupByEmail
	case "conversations.open":
		return s.conversationsOpen
	case "conversations.history":
		return s.conversationsHistory
	case "conversations.replies":
		return s.conversationsReplies
	case "chat.postMessage":
		return s.chatPostMessage
	case "chat.update":
		return s.chatUpdate
	case "chat.postEphemeral":
		return s.chatPostEphemeral
	case "chat.getPermalink":
		return s.chatGetPermalink
	case "views.publish":
		return s.viewsPublish
	case "views.open":
		return s.viewsOpen
	case "views.update":
		return s.viewsUpdate
	}
	return nil
}

// serveAPI is the Web API pipeline: count, delay, injected HTTP failure, unknown method,
// authentication, injected Slack error, then the method itself.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")

	s.mu.Lock()
	s.calls[method]++
	delay := s.latencyLocked(method)
	fail := s.takeFailureLocked(method)
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	start := time.Now()
	defer s.serviceTime.Since(start)
	if fail != nil {
		fail.reply().write(w)
		return
	}

	h := s.handler(method)
	if h == nil {
		errReply("unknown_method").write(w)
		return
	}
	p, bad := parseParams(r)
	if bad != "" {
		errReply(bad).write(w)
		return
	}
	if !s.authorized(method, p, r) {
		errReply("invalid_auth").write(w)
		return
	}

	s.mu.Lock()
	var rep reply
	if limited, ok := s.admitLocked(method, time.Now()); !ok {
		rep = limited
	} else if code := s.takeSlackErrorLocked(method); code != "" {
		rep = errReply(code)
	} else {
		rep = h(call{method: method, p: p})
	}
	s.notifyLocked()
	s.mu.Unlock()
	rep.write(w)
}

// authorized checks the token sent as the form field "token" or as "Authorization: Bearer":
// the app-level token for apps.connections.open, the bot token for everything else.
func (s *Server) authorized(method string, p params, r *http.Request) bool {
	tok := p.str("token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if method == "apps.connections.open" {
		s.mu.Lock()
		defer s.mu.Unlock()
		return tok != "" && !s.revokedApp[tok] && (tok == s.opts.AppToken || s.extraApp[tok])
	}
	return tok != "" && tok == s.opts.BotToken
}

// AddAppToken makes tok a valid app-level token too, as generating a second one in the app's
// settings does (Slack keeps every app-level token valid until it is revoked).
func (s *Server) AddAppToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extraApp == nil {
		s.extraApp = map[string]bool{}
	}
	s.extraApp[tok] = true
}

// RevokeAppToken makes an app-level token invalid from now on: apps.connections.open refuses it
// (invalid_auth). Connections already open stay open, as on Slack.
func (s *Server) RevokeAppToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revokedApp == nil {
		s.revokedApp = map[string]bool{}
	}
	s.revokedApp[tok] = true
}

// authTest answers auth.test for the bot token.
func (s *Server) authTest(call) reply {
	return okReply(map[string]any{
		"url":                   "https://fake.slack.com/",
		"team":                  "Fake Team",
		"user":                  s.botNameLocked(),
		"team_id":               s.opts.TeamID,
		"user_id":               s.opts.BotUserID,
		"bot_id":                s.botID(),
		"is_enterprise_install": false,
	})
}
