package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/retry"
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

// ReasonTask is a submitted reason, taken: checked against its signed metadata and cut to
// MaxReasonRunes. It is what TakeReason makes durable before the ack, and what its run records.
type ReasonTask struct {
	Ticket Ticket    `json:"ticket"`
	Answer string    `json:"answer"` // yes, no or wrong
	Text   string    `json:"text"`   // the user's words, untrusted: made inert where they are written
	At     time.Time `json:"at"`     // when it was submitted: bounds the task's life
}

// Reason records the user's words from a submitted modal: it is TakeReason and its run at once.
// It returns an error only when the reason could not be made durable, or its run failed.
func (r *Router) Reason(ctx context.Context, s Submission) error {
	run, err := r.TakeReason(ctx, s)
	if err != nil {
		return err
	}
	return run()
}

// TakeReason checks a submitted reason modal and, when its words are to be recorded, makes them
// durable before the caller acks the submission: a signed copy goes on the queue (it comes round
// after Config.AnswerCopyAfter), so a crash after the ack loses nothing. run then records them
// (see reason) after the ack; the copy finds the reason marker on the issue and does nothing
// more. A submission for someone else's alarm, one dispatch didn't sign, or one after
// reasonValidity changes nothing. An error means the words could not be made durable: don't ack.
func (r *Router) TakeReason(ctx context.Context, s Submission) (run func() error, err error) {
	log := zerolog.Ctx(ctx).With().Str("user", s.UserID).Logger()
	ctx = log.WithContext(ctx)
	nothing := func() error { return nil }
	rt, err := r.openReason(s.Metadata)
	if err != nil {
		log.Warn().Err(err).Msg("refused a reason whose metadata dispatch didn't sign")
		return nothing, nil
	}
	t := rt.Ticket
	log = log.With().Str("alarm_id", t.Alarm).Logger()
	ctx = log.WithContext(ctx)
	switch {
	case s.UserID != t.User:
		log.Warn().Msg("reason submitted by someone the alarm wasn't addressed to: nothing written")
		return nothing, nil
	case r.now().Sub(rt.At) > reasonValidity:
		log.Info().Msg("reason submitted after the modal expired: nothing written")
		return nothing, nil
	}
	text := strings.TrimSpace(shorten(strings.TrimSpace(s.Text), MaxReasonRunes))
	if text == "" {
		return nothing, nil
	}
	task := ReasonTask{Ticket: t, Answer: rt.Answer, Text: text, At: r.now().UTC()}
	if r.tasks != nil {
		sealed := task
		if err := r.tasks.Defer(ctx, Task{Kind: TaskReason, Delay: r.answerCopyAfter(), Reason: &sealed}); err != nil {
			return nil, fmt.Errorf("make the reason durable: %w", err)
		}
	}
	return func() error { return r.reason(ctx, &task, false) }, nil
}

// reasonMarker ends the reason's comment: found among dispatch's own comments, the reason was
// recorded, its page done or deferred before it.
func reasonMarker(t Ticket) string {
	return "<!-- dispatch reason alarm=" + t.Alarm + " user=" + t.User + " -->"
}

// reasonPageMarker marks the note of a reason's page that waited for PagerDuty.
func reasonPageMarker(t Ticket) string {
	return "<!-- dispatch reason-page alarm=" + t.Alarm + " user=" + t.User + " -->"
}

// reason records taken words as two steps, each waiting only for its own service: for an answer
// that paged, an event on the incident (page: PagerDuty, same dedup key), then a comment on the
// alarm's issue (record: GitHub), whose reason marker, written last, makes it once: the durable
// copy (copy) and a replay find it and do nothing. The copy can only tell while GitHub answers,
// so it waits for GitHub (Task.Service); the run after the ack goes on without it. The one overlap
// left is the copy after a crash between the page and the comment: the event joins the same
// incident again (its dedup key).
func (r *Router) reason(ctx context.Context, rt *ReasonTask, durable bool) error {
	log := zerolog.Ctx(ctx)
	t := rt.Ticket
	unlock := r.locks.Lock(answerLock(t)) // on this replica, the copy waits for the run
	defer unlock()
	mark := reasonMarker(t)
	var is *Issue
	if !r.isDown(ServiceGitHub) {
		found, done, err := r.marked(ctx, t, mark, nil)
		switch {
		case err == nil && done && durable:
			log.Info().Msg("reason already recorded: nothing to do")
			return nil
		case err == nil && done:
			log.Info().Msg("reason already recorded (a replay): nothing written")
			return nil
		case err == nil:
			is = &found
		case retry.IsPermanent(err) || durable:
			return err
		default:
			log.Warn().Err(err).Msg("the issue can't be read now: the reason goes on without it")
		}
	} else if durable {
		return errServiceDown
	}
	who := r.person(ctx, t.User)
	if rt.Answer != "yes" && !t.Test {
		if _, err := r.pageStep(ctx, PageTask{Ticket: t, Page: r.reasonPage(t, is, who, rt), At: rt.At, Reason: true}); err != nil {
			return err
		}
	}
	// A lone "\r" ends a line in GitHub's Markdown too: every line must stay in the quote.
	quoted := "> " + strings.ReplaceAll(lineEndings.Replace(inert(rt.Text)), "\n", "\n> ")
	if _, err := r.recordStep(ctx, RecordTask{Ticket: t, Marker: mark, At: rt.At,
		Comment: fmt.Sprintf("**Reason** — Slack user %s (answered %s) wrote:\n\n%s\n\n%s", who.Markdown(), rt.Answer, quoted, mark)}); err != nil {
		return err
	}
	log.Info().Str("answer", rt.Answer).Msg("reason recorded")
	return nil
}

// reasonPage is the event that brings a reason to its answer's incident (the same dedup key). It
// names the issue from the ticket when GitHub can't be read (is nil).
func (r *Router) reasonPage(t Ticket, is *Issue, who person, rt *ReasonTask) Page {
	title, where, links := issueNamed(t, is)
	task := AnswerTask{Ticket: t, UserID: t.User, Wrong: rt.Answer == "wrong", Guarded: r.needsMFA(t)}
	return Page{ServiceID: t.Service, DedupKey: escalationKey(t),
		Summary: shorten(fmt.Sprintf("%s: %s", escalationWhy(task, who), title), 1024),
		Details: fmt.Sprintf("%s wrote: %s\nIssue: %s", who, rt.Text, where),
		Source:  r.cfg.Source, Severity: severityOf(task), Links: links}
}
