package handlers

import (
	"context"
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

// schedule defers the reminder and the escalation of one prompt, due counting from the alarm's
// publish time (the spec's escalateAfter), not from the DM: dm is zero when the prompt could not be
// delivered yet (it waits for Slack), and the deadlines don't wait for it. Scheduling twice (a
// redelivered alarm) is harmless: each task checks the issue, and its own marker, when it comes due.
func (r *Router) schedule(ctx context.Context, a *alerts.Alarm, t Ticket, dm MessageRef) error {
	if r.tasks == nil {
		return nil
	}
	remind, escalate := r.deadlines(a)
	dm.Blocks, dm.Settled = nil, false
	for _, d := range []struct {
		kind  string
		after time.Duration
	}{{TaskRemind, remind}, {TaskEscalate, escalate}} {
		if d.after <= 0 {
			continue
		}
		due := r.dueAt(ctx, d.after)
		task := Task{Kind: d.kind, Delay: min(max(due.Sub(r.now()), 0), maxTaskDelay), Deadline: &DeadlineTask{Ticket: t, Message: dm, DueAt: due, After: d.after}}
		if err := r.tasks.Defer(ctx, task); err != nil {
			return fmt.Errorf("schedule %s: %w", d.kind, err)
		}
	}
	return nil
}

// publishedAt is when the alarm in hand was published (see withPublished), zero when unknown.
func publishedAt(ctx context.Context) time.Time {
	at, _ := ctx.Value(publishedKey{}).(time.Time)
	return at
}

// dueAt is when a deadline after the alarm in hand falls: after its publish time, or after now
// when that is unknown (or in the future: a publisher's clock can't put a deadline off).
func (r *Router) dueAt(ctx context.Context, after time.Duration) time.Time {
	from := r.now()
	if at := publishedAt(ctx); !at.IsZero() && at.Before(from) {
		from = at
	}
	return from.Add(after).UTC()
}

// promptState finds a prompt's DM and whether it was settled (answered or escalated): dm as the
// deadline knew it, else looked up by its key. delivered is false when no DM is known: never sent,
// or Slack can't be asked now and it wasn't sent when the deadline was scheduled.
func (r *Router) promptState(ctx context.Context, t Ticket, dm MessageRef) (ref MessageRef, delivered bool) {
	if r.isDown(ServiceSlack) || t.Key == "" {
		return dm, dm.TS != ""
	}
	found, ok, err := r.chat.Sent(ctx, t.User, t.Alarm+"/"+t.Key)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not look at the prompt's DM")
		return dm, dm.TS != ""
	}
	if !ok {
		return dm, dm.TS != ""
	}
	return found, true
}

// deadline carries out a reminder or an escalation that came due, unless the alarm was answered
// (its DM settled, or its issue closed or escalated) or the task was done before. An escalation
// needs PagerDuty only: it looks at Slack and GitHub when they answer, and what it writes there
// follows as steps of their own. A reminder is skipped when it can't be delivered.
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
	if kind == TaskRemind && r.isDown(ServiceSlack) {
		log.Warn().Msg("reminder skipped: Slack is unavailable")
		return nil
	}
	mark := "<!-- dispatch " + kind + " alarm=" + t.Alarm + " user=" + t.User + " -->"
	var is *Issue
	if !r.isDown(ServiceGitHub) {
		found, err := r.issueFor(ctx, t)
		if err == nil {
			var comments []string
			if comments, err = r.ownComments(ctx, t.Repo, found.Number); err == nil {
				is = &found
			}
			for _, c := range comments {
				if strings.Contains(c, mark) {
					return nil // done by an earlier delivery of this task
				}
			}
		}
		switch {
		case err != nil && retry.IsPermanent(err):
			return err
		case err != nil:
			log.Warn().Err(err).Msg("the issue can't be read now: going on without it")
		case !found.Open || found.HasLabel(LabelEscalated):
			log.Info().Msg("answered in time: nothing to do")
			return nil
		}
	}
	// About to act: the DM tells an answer GitHub doesn't show yet (a Yes settles the DM at once and
	// closes the issue when GitHub answers), and whether the prompt was delivered at all. Only a
	// deadline about to act asks Slack, so most cost no Slack call.
	dm, delivered := r.promptState(ctx, t, d.Message)
	if dm.Settled {
		log.Info().Str("by", "the DM, settled").Msg("answered in time: nothing to do")
		return nil
	}
	waited := d.After.Round(time.Second).String()
	who := r.person(ctx, t.User)
	if kind == TaskRemind {
		return r.remind(ctx, d, dm, delivered, is, waited, mark, who)
	}
	why := fmt.Sprintf("no answer from %s after %s", who, waited)
	if !delivered {
		why = fmt.Sprintf("Slack was unavailable: %s could not be asked within %s", who, waited)
	}
	whyMD := strings.Replace(why, who.String(), "Slack user "+who.Markdown(), 1)
	comment := fmt.Sprintf("**Escalated**: %s; PagerDuty paged (incident dedup key `%s`).\n\n%s", whyMD, escalationKey(t), mark)
	outcome := fmt.Sprintf("No answer after %s: this alarm was escalated to PagerDuty. The buttons no longer work.", waited)
	if t.Test { // a /dispatch test alarm never pages, at its deadline either
		log.Info().Msg("test alarm escalated: not paging")
		comment = fmt.Sprintf("**Escalated (test)**: %s. This is a `/dispatch test` alarm, so PagerDuty was not paged; a real alarm would have paged it now.\n\n%s", whyMD, mark)
		outcome = fmt.Sprintf("No answer after %s: a real alarm would now have been escalated to PagerDuty. This is a `/dispatch test` alarm, so nobody was paged. The buttons no longer work.", waited)
	} else if err := r.escalate(ctx, t, is, why, dm, "critical"); err != nil {
		return err // PagerDuty: the task comes round again
	}
	log.Info().Bool("prompt_delivered", delivered).Bool("test", t.Test).Msg("escalated for lack of an answer")
	rec := RecordTask{Ticket: t, Marker: mark, Label: true, At: d.DueAt, Comment: comment}
	if _, err := r.recordStep(ctx, rec); err != nil {
		log.Error().Err(err).Msg("escalated but the issue could not be labelled")
	}
	if delivered {
		r.settleStep(ctx, SettleTask{Ticket: t, Message: dm, At: d.DueAt, Text: outcome})
	}
	return nil
}

// remind replies in the prompt's thread that it still waits, once (keyed in the thread); a reminder
// that can't be delivered is skipped, never queued behind an outage. The issue notes it when it
// can be read.
func (r *Router) remind(ctx context.Context, d *DeadlineTask, dm MessageRef, delivered bool, is *Issue, waited, mark string, who person) error {
	log := zerolog.Ctx(ctx)
	t := d.Ticket
	if !delivered {
		log.Warn().Msg("reminder skipped: the prompt was not delivered")
		return nil
	}
	key := "remind/" + t.Alarm + "/" + t.User
	if done, err := r.chat.Replied(ctx, dm, key); err == nil && done {
		return nil
	}
	if _, err := r.chat.Reply(ctx, dm, Message{Key: key, Body: fmt.Sprintf("Reminder: this alarm has waited %s for your answer. Please use the buttons above.", waited)}); err != nil {
		log.Warn().Err(err).Msg("reminder skipped: it could not be delivered")
		return nil
	}
	log.Info().Msg("reminded")
	if is != nil {
		if err := r.issues.Comment(ctx, t.Repo, is.Number, fmt.Sprintf("Reminded Slack user %s: no answer after %s.\n\n%s", who.Markdown(), waited, mark)); err != nil {
			log.Warn().Err(err).Msg("reminded, but the issue could not note it")
		}
	}
	return nil
}
