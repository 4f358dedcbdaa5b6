package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/retry"
)

// Deadline task kinds: an unanswered self-service alarm is reminded once, then escalated.
const (
	TaskRemind   = "remind"
	TaskEscalate = "escalate"
)

// maxTaskDelay is the longest the queue holds a task back (SQS's limit); longer deadlines are
// reached by re-deferring the task until it is due.
const maxTaskDelay = 15 * time.Minute

// DeadlineTask is a reminder or an escalation waiting for its time. It lives only on the queue:
// durable across restarts, and taken by whichever replica receives it when it comes due.
type DeadlineTask struct {
	Ticket  Ticket        `json:"ticket"`
	Message MessageRef    `json:"message"` // the DM
	DueAt   time.Time     `json:"due"`
	After   time.Duration `json:"after"` // the configured wait, for the texts
}

// deadlines returns the alarm's remindAfter and escalateAfter, or the configured defaults. A
// reminder not before the escalation is dropped.
func (r *Router) deadlines(a *alerts.Alarm) (remind, escalate time.Duration) {
	remind, escalate = a.RemindAfter, a.EscalateAfter
	if remind == 0 {
		remind = r.cfg.RemindAfter
	}
	if escalate == 0 {
		escalate = r.cfg.EscalateAfter
	}
	if escalate > 0 && remind >= escalate {
		remind = 0
	}
	return remind, escalate
}

// schedule defers the reminder and the escalation of one prompt. Scheduling twice (a redelivered
// alarm) is harmless: each task checks the issue, and its own marker, when it comes due.
func (r *Router) schedule(ctx context.Context, a *alerts.Alarm, t Ticket, dm MessageRef) error {
	if r.tasks == nil {
		return nil
	}
	remind, escalate := r.deadlines(a)
	now := r.now()
	dm.Blocks = nil
	for _, d := range []struct {
		kind  string
		after time.Duration
	}{{TaskRemind, remind}, {TaskEscalate, escalate}} {
		if d.after <= 0 {
			continue
		}
		task := Task{Kind: d.kind, Delay: min(d.after, maxTaskDelay), Deadline: &DeadlineTask{Ticket: t, Message: dm, DueAt: now.Add(d.after), After: d.after}}
		if err := r.tasks.Defer(ctx, task); err != nil {
			return fmt.Errorf("schedule %s: %w", d.kind, err)
		}
	}
	return nil
}

// deadline carries out a reminder or an escalation that came due, unless the alarm was answered (its
// issue closed or escalated) or the task was done before.
func (r *Router) deadline(ctx context.Context, kind string, d *DeadlineTask) error {
	if d == nil {
		return retry.Permanent(fmt.Errorf("%s task without a deadline", kind))
	}
	if left := d.DueAt.Sub(r.now()); left > time.Second {
		// Not yet: SQS holds a message back 15 minutes at most, so longer waits go round again.
		return r.tasks.Defer(ctx, Task{Kind: kind, Delay: min(left, maxTaskDelay), Deadline: d})
	}
	t := d.Ticket
	log := zerolog.Ctx(ctx).With().Str("alarm_id", t.Alarm).Str("user", t.User).Str("task", kind).Logger()
	ctx = log.WithContext(ctx)
	unlock := r.locks.Lock(answerLock(t))
	defer unlock()
	is, err := r.issueFor(ctx, t)
	if errors.Is(err, errNotFiled) && r.now().Sub(d.DueAt) < maxRetryAge {
		// The prompt went out before its issue (GitHub was busy): come back once it is filed.
		return r.tasks.Defer(ctx, Task{Kind: kind, Delay: 30 * time.Second, Deadline: d})
	}
	if err != nil {
		return err
	}
	if !is.Open || is.HasLabel(LabelEscalated) {
		log.Info().Msg("answered in time: nothing to do")
		return nil
	}
	mark := "<!-- dispatch " + kind + " alarm=" + t.Alarm + " user=" + t.User + " -->"
	// Only dispatch's own comments count: anyone who can comment could copy the marker.
	comments, err := r.ownComments(ctx, t.Repo, is.Number)
	if err != nil {
		return err
	}
	for _, c := range comments {
		if strings.Contains(c, mark) {
			return nil // done by an earlier delivery of this task
		}
	}
	waited := d.After.Round(time.Second).String()
	who := r.person(ctx, t.User)
	if kind == TaskRemind {
		if _, err := r.chat.Reply(ctx, d.Message, Message{Body: fmt.Sprintf("Reminder: this alarm has waited %s for your answer. Please use the buttons above.", waited)}); err != nil {
			return fmt.Errorf("remind: %w", err)
		}
		log.Info().Msg("reminded")
		return r.issues.Comment(ctx, t.Repo, is.Number, fmt.Sprintf("Reminded Slack user %s: no answer after %s.\n\n%s", who.Markdown(), waited, mark))
	}
	if err := r.escalate(ctx, t, is, fmt.Sprintf("no answer from %s after %s", who, waited), d.Message, "critical"); err != nil {
		return err // escalate never pages a test alarm
	}
	comment := fmt.Sprintf("**Escalated**: no answer from Slack user %s after %s; PagerDuty paged (incident dedup key `%s`).\n\n%s", who.Markdown(), waited, escalationKey(t, is.Number), mark)
	outcome := fmt.Sprintf("No answer after %s: this alarm was escalated to PagerDuty. The buttons no longer work.", waited)
	if t.Test {
		comment = fmt.Sprintf("**Escalated (test)**: no answer from Slack user %s after %s. This is a `/dispatch test` alarm, so PagerDuty was not paged; a real alarm would have paged it now.\n\n%s", who.Markdown(), waited, mark)
		outcome = fmt.Sprintf("No answer after %s: a real alarm would now have been escalated to PagerDuty. This is a `/dispatch test` alarm, so nobody was paged. The buttons no longer work.", waited)
	}
	if err := r.issues.Comment(ctx, t.Repo, is.Number, comment); err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	if err := r.chat.Settle(ctx, d.Message, outcome); err != nil {
		log.Error().Err(err).Msg("escalated but the DM could not be updated")
	}
	log.Info().Bool("test", t.Test).Msg("escalated for lack of an answer")
	return nil
}
