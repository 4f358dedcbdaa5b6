package fakeslack

import (
	"encoding/base64"
	"strings"
)

// usersList answers users.list with cursor pagination. A page holds at most the server's page
// size (SetUsersPageSize) or the client's limit, whichever is smaller; the cursor is opaque
// to clients, like Slack's ("dXNlcjpVMDAy" is base64 of "user:U002").
func (s *Server) usersList(c call) reply {
	start := 0
	if cur := c.p.str("cursor"); cur != "" {
		dec, err := base64.StdEncoding.DecodeString(cur)
		id, ok := strings.CutPrefix(string(dec), "user:")
		start = -1
		if err == nil && ok {
			for i, u := range s.users {
				if u.ID == id {
					start = i
				}
			}
		}
		if start < 0 {
			return errReply("invalid_cursor")
		}
	}
	size := s.usersPageSize
	if limit := c.p.integer("limit", 0); limit > 0 {
		size = min(size, limit)
	}
	end := min(start+size, len(s.users))
	members := make([]any, 0, end-start)
	for _, u := range s.users[start:end] {
		members = append(members, s.userJSON(u))
	}
	next := ""
	if end < len(s.users) {
		next = base64.StdEncoding.EncodeToString([]byte("user:" + s.users[end].ID))
	}
	return okReply(map[string]any{
		"members":           members,
		"cache_ts":          1700000000,
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

// usersInfo answers users.info for "user", or for a comma-separated "users" list (which
// slack-go's GetUsersInfo sends and reads back from "users").
func (s *Server) usersInfo(c call) reply {
	if list := c.p.str("users"); list != "" && c.p.str("user") == "" {
		var out []any
		for _, id := range strings.Split(list, ",") {
			u := s.userLocked(strings.TrimSpace(id))
			if u == nil {
				return errReply("user_not_found")
			}
			out = append(out, s.userJSON(u))
		}
		return okReply(map[string]any{"users": out})
	}
	u := s.userLocked(c.p.str("user"))
	if u == nil {
		return errReply("user_not_found")
	}
	return okReply(map[string]any{"user": s.userJSON(u)})
}

// usersLookupByEmail matches the address case-insensitively; deactivated users are found too,
// with "deleted": true, so clients must check it.
func (s *Server) usersLookupByEmail(c call) reply {
	email := c.p.str("email")
	for _, u := range s.users {
		if email != "" && strings.EqualFold(u.Email, email) {
			return okReply(map[string]any{"user": s.userJSON(u)})
		}
	}
	return errReply("users_not_found")
}

// conversationsOpen opens (or returns) the bot's DM with one user. Group DMs (several users)
// are not modelled and answer "fakeslack_mpim_not_supported".
func (s *Server) conversationsOpen(c call) reply {
	if id := c.p.str("channel"); id != "" && c.p.str("users") == "" {
		ch, ok := s.channels[id]
		if !ok {
			return errReply("channel_not_found")
		}
		return okReply(map[string]any{"channel": s.conversationJSON(ch), "already_open": true, "no_op": true})
	}
	ids := strings.Split(c.p.str("users"), ",")
	switch {
	case c.p.str("users") == "":
		return errReply("users_list_not_supplied")
	case len(ids) > 1:
		return errReply("fakeslack_mpim_not_supported")
	}
	u := s.userLocked(strings.TrimSpace(ids[0]))
	if u == nil {
		return errReply("user_not_found")
	}
	if u.Deleted {
		return errReply("user_disabled")
	}
	ch, opened := s.openDMLocked(u)
	return okReply(map[string]any{"channel": s.conversationJSON(ch), "already_open": !opened, "no_op": !opened})
}

// conversationJSON renders a conversation the way conversations.open does with return_im.
func (s *Server) conversationJSON(ch *channel) map[string]any {
	out := map[string]any{"id": ch.id, "created": 1700000000}
	if ch.user != "" {
		out["is_im"] = true
		out["user"] = ch.user
	} else {
		out["name"] = ch.name
		out["is_channel"] = true
	}
	return out
}
