package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Button action IDs of a self-service prompt.
const (
	ActionYes = "dispatch_yes"
	ActionNo  = "dispatch_no"
)

// maxTicketValue keeps a ticket inside Slack's 2,000-character button value.
const maxTicketValue = 2000

// Ticket is what a self-service button carries: everything needed to handle the answer, so any
// replica can take the click without shared memory. The responses ride along, shortened if they must.
type Ticket struct {
	V           int    `json:"v"`
	Alarm       string `json:"a"`
	User        string `json:"u"`           // the Slack user the alarm was addressed to
	Key         string `json:"k,omitempty"` // the user's key within the alarm: finds the DM (Message.Key is Alarm/Key)
	Repo        string `json:"r"`
	Issue       int    `json:"n"`            // 0 while the issue is not yet filed (the prompt went first)
	Title       string `json:"ti,omitempty"` // finds the issue by title and marker while Issue is 0; names the alarm in a page
	Service     string `json:"s,omitempty"`
	Test        bool   `json:"t,omitempty"` // a /dispatch test alarm: a No never pages
	YesResponse string `json:"y,omitempty"`
	NoResponse  string `json:"x,omitempty"`
	// Issue 19: the alarm's "mfa" (MFAOn, MFAOff, "" for the default), its "reason", whether it
	// has a "not about me" button, and its title for the Duo push (shortened).
	MFA     string `json:"m,omitempty"`
	Reason  string `json:"rs,omitempty"`
	Wrong   bool   `json:"w,omitempty"`
	Subject string `json:"sj,omitempty"`
}

// ErrForgedTicket is wrapped by DecodeTicket when a button value carries no valid signature: it was
// altered, forged, or signed with a key no longer configured.
var ErrForgedTicket = errors.New("ticket signature does not verify")

// ticketContext separates a ticket's signature from any other use of the same keys (tasks).
const ticketContext = "dispatch ticket v1\x00"

// Encode packs the ticket into a button value signed with keys[0] (HMAC-SHA256), shortening the
// responses to fit. The other fields are bounded by the message spec, so without the responses a
// ticket always fits.
func (t Ticket) Encode(keys [][]byte) string {
	t.V = 1
	for {
		b, _ := json.Marshal(t)
		payload := base64.RawURLEncoding.EncodeToString(b)
		s := payload + "." + ticketMAC(keys[0], payload)
		if len(s) <= maxTicketValue || (t.YesResponse == "" && t.NoResponse == "") {
			return s
		}
		if utf8.RuneCountInString(t.YesResponse) <= 1 && utf8.RuneCountInString(t.NoResponse) <= 1 {
			t.YesResponse, t.NoResponse = "", ""
			continue
		}
		// Shrink the longer response by a quarter and try again; the other fields are small.
		if utf8.RuneCountInString(t.YesResponse) >= utf8.RuneCountInString(t.NoResponse) {
			t.YesResponse = shorten(t.YesResponse, utf8.RuneCountInString(t.YesResponse)*3/4)
		} else {
			t.NoResponse = shorten(t.NoResponse, utf8.RuneCountInString(t.NoResponse)*3/4)
		}
	}
}

// DecodeTicket unpacks a button value after checking its signature against every key (the first
// signs, all verify, so a key rotates without breaking the buttons already sent, while the old key
// stays configured). It fails, wrapping ErrForgedTicket, for anything Encode didn't make with one
// of keys.
func DecodeTicket(s string, keys [][]byte) (Ticket, error) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || !verifyMAC(keys, payload, sig) {
		return Ticket{}, fmt.Errorf("decode ticket: %w", ErrForgedTicket)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Ticket{}, fmt.Errorf("decode ticket: %w", err)
	}
	var t Ticket
	if err := json.Unmarshal(b, &t); err != nil {
		return Ticket{}, fmt.Errorf("decode ticket: %w", err)
	}
	if t.V != 1 || t.Alarm == "" || t.User == "" || t.Repo == "" || (t.Issue <= 0 && t.Title == "" && t.Key == "") {
		return Ticket{}, errors.New("decode ticket: incomplete ticket")
	}
	return t, nil
}

func ticketMAC(key []byte, payload string) string { return contextMAC(ticketContext, key, payload) }

// contextMAC signs payload for one use (context), so a signature made for one use never verifies
// for another.
func contextMAC(context string, key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(context))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func verifyMAC(keys [][]byte, payload, sig string) bool {
	return verifyContextMAC(ticketContext, keys, payload, sig)
}

// verifyContextMAC checks sig against every key (the first signs, all verify: rotation).
func verifyContextMAC(context string, keys [][]byte, payload, sig string) bool {
	for _, k := range keys {
		if hmac.Equal([]byte(contextMAC(context, k, payload)), []byte(sig)) {
			return true
		}
	}
	return false
}

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	return string([]rune(s)[:n-1]) + "…"
}
