package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
)

// MaxReasonRunes is the most of a user's words dispatch keeps: the modal's input allows this
// much, and a longer submission (a crafted one) is cut to it.
const MaxReasonRunes = 2000

// reasonValidity is how long after the click a submitted reason is taken: past it, the alarm is
// over as far as the modal goes, and a (replayed) submission changes nothing.
const reasonValidity = time.Hour

// ReasonModal is the "What happened?" modal, opened with a click's trigger_id.
type ReasonModal struct {
	Title    string // at most 24 characters
	Prompt   string
	Metadata string // signed: binds the submission to the user, the alarm and the answer
}

// ReasonModals opens modals; the Slack adapter implements it besides Chat.
type ReasonModals interface {
	OpenReason(ctx context.Context, triggerID string, m ReasonModal) error
}

// Submission is a submitted reason modal (view_submission).
type Submission struct {
	UserID   string
	Metadata string // the view's private_metadata, as Slack sends it back
	Text     string // the user's words: untrusted
}

// reasonTicket is a modal's private_metadata: the answer's ticket, which answer it was, and when.
type reasonTicket struct {
	Ticket Ticket    `json:"t"`
	Answer string    `json:"a"` // yes, no or wrong
	At     time.Time `json:"at"`
}

// reasonContext separates a modal's signature from a ticket's and a task's.
const reasonContext = "dispatch reason v1\x00"

func (r *Router) sealReason(rt reasonTicket) string {
	b, _ := json.Marshal(rt)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + contextMAC(reasonContext, r.cfg.TaskKeys[0], payload)
}

func (r *Router) openReason(s string) (reasonTicket, error) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || !verifyContextMAC(reasonContext, r.cfg.TaskKeys, payload, sig) {
		return reasonTicket{}, ErrForgedTicket
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return reasonTicket{}, fmt.Errorf("decode reason: %w", err)
	}
	var rt reasonTicket
	if err := json.Unmarshal(b, &rt); err != nil {
		return reasonTicket{}, fmt.Errorf("decode reason: %w", err)
	}
	return rt, nil
}

// asksReason reports whether the answer asks for the user's words: a No and a "not about me"
// unless the alarm says "reason": "none" or "yes"; a Yes when it says "yes" or "both".
func asksReason(t Ticket, task AnswerTask) bool {
	if task.Yes {
		return t.Reason == alerts.ReasonYes || t.Reason == alerts.ReasonBoth
	}
	return t.Reason == "" || t.Reason == alerts.ReasonNo || t.Reason == alerts.ReasonBoth
}

func answerName(task AnswerTask) string {
	switch {
	case task.Wrong:
		return "wrong"
	case task.Yes:
		return "yes"
	}
	return "no"
}

// askReason opens the "What happened?" modal for the answers that ask for the user's words. It
// runs at the click, before anything else: the trigger_id works once, within 3 s. The answer
// itself never waits for the modal (a No pages at the click).
func (r *Router) askReason(ctx context.Context, c Click, task AnswerTask) {
	views, ok := r.chat.(ReasonModals)
	if !ok || c.TriggerID == "" || !asksReason(task.Ticket, task) {
		return
	}
	prompt := "In your own words: what happened? (optional; it goes on the alarm's issue and to the on-call responder)"
	if task.Yes {
		prompt = "In your own words: what were you doing? (optional; it goes on the alarm's issue)"
	}
	m := ReasonModal{Title: "What happened?", Prompt: prompt,
		Metadata: r.sealReason(reasonTicket{Ticket: task.Ticket, Answer: answerName(task), At: task.At})}
	if err := views.OpenReason(ctx, c.TriggerID, m); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not open the reason modal")
	}
}

// lineEndings makes every line ending Markdown knows a "\n".
var lineEndings = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// errStaleReason marks a submission that changes nothing (someone else's, replayed, too late).
var errStaleReason = errors.New("reason not taken")

// Reason records the user's words from a submitted modal: a comment on the alarm's issue, and for
// an answer that paged, an event on the incident (same dedup key). A submission for someone
// else's alarm, a replayed one, or one after reasonValidity changes nothing. The text is
// untrusted: cut to MaxReasonRunes and made inert in the issue (the Slack adapter escapes it).
func (r *Router) Reason(ctx context.Context, s Submission) error {
	log := zerolog.Ctx(ctx)
	rt, err := r.openReason(s.Metadata)
	if err != nil {
		log.Warn().Err(err).Msg("refused a reason whose metadata dispatch didn't sign")
		return nil
	}
	t := rt.Ticket
	switch {
	case s.UserID != t.User:
		log.Warn().Str("alarm_id", t.Alarm).Msg("reason submitted by someone the alarm wasn't addressed to: nothing written")
		return nil
	case r.now().Sub(rt.At) > reasonValidity:
		log.Info().Str("alarm_id", t.Alarm).Msg("reason submitted after the modal expired: nothing written")
		return nil
	}
	text := strings.TrimSpace(shorten(strings.TrimSpace(s.Text), MaxReasonRunes))
	if text == "" {
		return nil
	}
	is, err := r.issueFor(ctx, t)
	if err != nil {
		return err
	}
	mark := "<!-- dispatch reason alarm=" + t.Alarm + " user=" + t.User + " -->"
	comments, err := r.ownComments(ctx, t.Repo, is.Number)
	if err != nil {
		return err
	}
	for _, c := range comments {
		if strings.Contains(c, mark) {
			log.Info().Str("alarm_id", t.Alarm).Msg("reason already recorded (a replay): nothing written")
			return nil
		}
	}
	// A lone "\r" ends a line in GitHub's Markdown too: every line must stay in the quote.
	quoted := "> " + strings.ReplaceAll(lineEndings.Replace(inert(text)), "\n", "\n> ")
	who := r.person(ctx, t.User)
	if err := r.issues.Comment(ctx, t.Repo, is.Number, fmt.Sprintf("**Reason** — Slack user %s (answered %s) wrote:\n\n%s\n\n%s", who.Markdown(), rt.Answer, quoted, mark)); err != nil {
		return fmt.Errorf("comment reason: %w", err)
	}
	if rt.Answer != "yes" && !t.Test {
		task := AnswerTask{Ticket: t, UserID: t.User, Wrong: rt.Answer == "wrong", Guarded: r.needsMFA(t)}
		if err := r.pager.Trigger(ctx, Page{ServiceID: t.Service, DedupKey: escalationKey(t),
			Summary: shorten(fmt.Sprintf("%s: %s", escalationWhy(task, who), is.Title), 1024),
			Details: fmt.Sprintf("%s wrote: %s\nIssue: %s", who, text, is.URL),
			Source:  r.cfg.Source, Severity: severityOf(task),
			Links: []Link{{URL: is.URL, Text: fmt.Sprintf("GitHub issue %s#%d", t.Repo, is.Number)}}}); err != nil {
			return fmt.Errorf("reason to pagerduty: %w", err)
		}
	}
	log.Info().Str("alarm_id", t.Alarm).Str("answer", rt.Answer).Msg("reason recorded")
	return nil
}
