package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/retry"
)

// Click is a press of a self-service button.
type Click struct {
	UserID   string // who pressed it
	ActionID string // ActionYes or ActionNo
	Value    string // the button's value: an encoded Ticket
	Channel  string // where the message is
	Message  MessageRef
	// ResponseURL answers the user who clicked (from the interaction payload).
	ResponseURL string
	// TriggerID opens the reason modal (issue 19): once, within 3 s of the click.
	TriggerID string
}

// unverifiedButtonText answers a click whose ticket no configured key verifies. Besides a forgery,
// that is a genuine button older than a key rotation that dropped its key (a prompt waits for as
// long as its escalateAfter, or for ever without one): the user must learn their answer was not
// taken, and where to give it.
const unverifiedButtonText = "This button wasn't made by dispatch, was altered, or was signed with a key dispatch no longer has (its keys were rotated since it was sent), so dispatch did nothing with it. If the alarm still waits for your answer, give it to your security team on the alarm's GitHub issue."

// reply answers the user who clicked. A click on the App Home tab has nowhere to answer (no channel,
// no response URL): its answer is the refreshed tab.
func (r *Router) reply(ctx context.Context, to Audience, text string) error {
	if to.ResponseURL == "" && to.Channel == "" {
		return nil
	}
	return r.chat.Tell(ctx, to, text)
}

// refreshHome republishes a user's App Home tab after an answer; a failure is only logged.
func (r *Router) refreshHome(ctx context.Context, userID string) {
	if err := r.HomeOpened(ctx, userID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not refresh the App Home tab")
	}
}

func (c Click) audience() Audience {
	return Audience{UserID: c.UserID, Channel: c.Channel, ResponseURL: c.ResponseURL}
}

// Answer records a user's answer to a self-service alarm: Yes closes its issue, No escalates it.
// Only the addressed user may answer, and only once. If GitHub or PagerDuty fail, the answer is
// deferred through the queue and the user is told it will be retried: it is never lost. Answer
// returns an error only when even deferring failed.
func (r *Router) Answer(ctx context.Context, c Click) error {
	log := zerolog.Ctx(ctx).With().Str("user", c.UserID).Str("action", c.ActionID).Logger()
	ctx = log.WithContext(ctx)
	t, err := DecodeTicket(c.Value, r.cfg.TaskKeys)
	if errors.Is(err, ErrForgedTicket) {
		log.Warn().Err(err).Msg("refused a button whose ticket no configured key signed: nothing written")
		if c.Channel == "" && c.ResponseURL == "" {
			// A click on the App Home tab, which has nowhere else to answer: redrawn from the
			// issues, the tab replaces the dead buttons with why they are gone (HomeOpened).
			r.refreshHome(ctx, c.UserID)
			return nil
		}
		return r.reply(ctx, c.audience(), unverifiedButtonText)
	}
	if err != nil || (c.ActionID != ActionYes && c.ActionID != ActionNo && c.ActionID != ActionWrong) {
		log.Warn().Err(err).Msg("click on a button dispatch doesn't know")
		return r.reply(ctx, c.audience(), "This button isn't one dispatch can act on any more.")
	}
	log = log.With().Str("alarm_id", t.Alarm).Str("repo", t.Repo).Logger()
	ctx = log.WithContext(ctx)
	if c.UserID != t.User {
		log.Info().Msg("click by someone the alarm wasn't addressed to")
		return r.reply(ctx, c.audience(), "This alarm was sent to someone else; only they can answer it.")
	}
	task := AnswerTask{Ticket: t, Yes: c.ActionID == ActionYes, UserID: c.UserID, At: r.now().UTC(), Message: c.Message, ResponseURL: c.ResponseURL,
		Wrong: c.ActionID == ActionWrong}
	// Issue 19 hook: the reason modal opens first (its trigger_id lasts 3 s), and a Yes that needs
	// a second factor waits for the Duo push before it counts.
	r.askReason(ctx, c, task)
	if task.Wrong {
		task.Guarded = r.needsMFA(t)
		r.announceWrong(ctx, task)
	}
	if task.Yes && r.needsMFA(t) {
		return r.confirmWithDuo(ctx, task)
	}
	return r.record(ctx, task)
}

// record applies an answer, or defers it when a service fails.
func (r *Router) record(ctx context.Context, task AnswerTask) error {
	log := zerolog.Ctx(ctx)
	unlock := r.locks.Lock(answerLock(task.Ticket))
	defer unlock()

	if task.Message.TS == "" && task.Ticket.Key != "" {
		// A click on the App Home tab: find the DM, so it shows the answer too.
		if ref, found, err := r.chat.Sent(ctx, task.UserID, task.Ticket.Alarm+"/"+task.Ticket.Key); err == nil && found {
			task.Message = ref
		}
	}
	done, err := r.apply(ctx, task)
	if err == nil {
		r.home.forget(task.UserID)
		defer r.refreshHome(ctx, task.UserID)
		if !done {
			// A second click, or the issue was closed meanwhile: the DM keeps the first answer.
			if task.Attempts > 0 {
				return nil
			}
			return r.reply(ctx, Audience{UserID: task.UserID, Channel: task.Message.Channel, ResponseURL: task.ResponseURL},
				"This alarm was already answered or its issue was closed; nothing changed.")
		}
		if task.Message.TS != "" {
			if err := r.chat.Settle(ctx, task.Message, answeredText(task)); err != nil {
				log.Error().Err(err).Msg("answer recorded but the DM could not be updated")
			}
		}
		return nil
	}
	if retry.IsPermanent(err) || r.now().Sub(task.At) > maxRetryAge {
		return r.abandon(ctx, task, err)
	}
	log.Error().Err(err).Int("attempts", task.Attempts).Msg("answer not yet recorded: deferring it")
	if r.tasks == nil {
		return err
	}
	task.Attempts++
	task.Message.Blocks = nil
	if derr := r.tasks.Defer(ctx, Task{Kind: TaskAnswer, Delay: retryDelay(task.Attempts), Answer: &task}); derr != nil {
		return fmt.Errorf("answer failed (%w) and could not be deferred: %w", err, derr)
	}
	if task.Attempts == 1 && task.Message.TS != "" {
		if err := r.chat.Settle(ctx, task.Message, pendingText(task)); err != nil {
			log.Error().Err(err).Msg("could not update the DM")
		}
	}
	return nil
}

// apply makes the answer true on GitHub and PagerDuty. It is safe to repeat: the incident's dedup key
// makes a second trigger the same incident, and the answer comment, written last, marks it done. It
// reports done=false when the alarm had already been answered or closed.
func (r *Router) apply(ctx context.Context, task AnswerTask) (done bool, err error) {
	t := task.Ticket
	is, err := r.issueFor(ctx, t)
	if err != nil {
		return false, err
	}
	n := is.Number
	answer := answerMarker(t)
	retrying := task.Attempts > 0
	if !retrying && (!is.Open || is.HasLabel(LabelEscalated)) {
		return false, nil
	}
	who := r.person(ctx, task.UserID) // the ticket's user: Answer checked that they clicked
	comment := answerComment(task, n, who)
	if retrying {
		// An earlier try may have got part of the way: finish the rest even if the issue changed
		// meanwhile (an answer is never dropped once accepted). The answer comment is always the
		// last step, so finding it means the answer was wholly done: this task is a redelivery or a
		// replay (Task.ID), and acting again would re-close a reopened issue or page a resolved
		// incident anew.
		comments, err := r.ownComments(ctx, t.Repo, n)
		if err != nil {
			return false, err
		}
		for _, c := range comments {
			if strings.Contains(c, answer) {
				zerolog.Ctx(ctx).Info().Msg("answer already recorded: nothing to do")
				return false, nil
			}
		}
	}
	if task.Yes {
		if is.Open {
			if err := r.issues.Close(ctx, t.Repo, n); err != nil {
				return false, fmt.Errorf("close issue: %w", err)
			}
		}
		if err := r.issues.Comment(ctx, t.Repo, n, comment); err != nil {
			return false, fmt.Errorf("comment: %w", err)
		}
		zerolog.Ctx(ctx).Info().Msg("answered yes: issue closed")
		return true, nil
	}
	// No: the page matters most, so it goes first (a test alarm from /dispatch test never pages).
	if err := r.escalate(ctx, t, is, escalationWhy(task, who), task.Message, severityOf(task)); err != nil {
		return false, err
	}
	if err := r.issues.Comment(ctx, t.Repo, n, comment); err != nil {
		return false, fmt.Errorf("comment: %w", err)
	}
	zerolog.Ctx(ctx).Info().Msg("answered no: escalated to PagerDuty")
	return true, nil
}

// escalate pages PagerDuty for a self-service alarm and labels its issue. The dedup key is the same
// for a No and for a missed deadline, so the two never make two incidents. The incident links the
// issue and, when there is one, the DM. A /dispatch test alarm (t.Test) is only labelled: whatever
// escalates it, a No or a deadline, nobody is paged.
func (r *Router) escalate(ctx context.Context, t Ticket, is Issue, why string, dm MessageRef, severity string) error {
	if t.Test {
		zerolog.Ctx(ctx).Info().Str("why", why).Msg("test alarm escalated: not paging")
	} else if err := r.pageEscalation(ctx, t, is, why, dm, severity); err != nil {
		return err
	}
	if !is.HasLabel(LabelEscalated) {
		if err := r.issues.AddLabels(ctx, t.Repo, is.Number, LabelEscalated); err != nil {
			return fmt.Errorf("label issue: %w", err)
		}
	}
	return nil
}

// pageEscalation triggers the escalation's incident.
func (r *Router) pageEscalation(ctx context.Context, t Ticket, is Issue, why string, dm MessageRef, severity string) error {
	links := []Link{{URL: is.URL, Text: fmt.Sprintf("GitHub issue %s#%d", t.Repo, is.Number)}}
	if dm.TS != "" {
		if u, err := r.chat.Permalink(ctx, dm); err == nil {
			links = append(links, Link{URL: u, Text: "Slack DM"})
		} else {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("no permalink for the DM")
		}
	}
	if err := r.pager.Trigger(ctx, Page{
		ServiceID: t.Service,
		DedupKey:  escalationKey(t, is.Number),
		Summary:   shorten(fmt.Sprintf("%s: %s", why, is.Title), 1024),
		Details:   fmt.Sprintf("Self-service alarm %s escalated: %s. Issue: %s", t.Alarm, why, is.URL),
		Source:    r.cfg.Source,
		Severity:  severity,
		Links:     links,
	}); err != nil {
		return fmt.Errorf("trigger pagerduty: %w", err)
	}
	return nil
}

// escalationKey is the PagerDuty dedup key of a self-service alarm's escalation; the issue names it,
// so the incident can be found from the issue (the Events API returns no incident URL). It names
// the issue dispatch filed for the alarm and user (repository and number) besides the requestId and
// user, which anyone who reads the issue knows: an alarm reusing them (a decoy with a short
// escalateAfter) files an issue of its own, so it can't open the incident a real No would join.
// Every delivery of one alarm finds the same issue, so redeliveries still share one incident.
func escalationKey(t Ticket, issue int) string {
	return dedupKey(keyEscalation, strings.ToLower(t.Repo), strconv.Itoa(issue), t.Alarm, t.User)
}

// abandon ends an answer that can never be recorded (the issue is gone or isn't the alarm's, or
// transient failures outlasted maxRetryAge): logged, told to the user on the first try and
// announced in the fallback channel; a deferred one is dead-lettered with the reason (the caller
// announces those).
func (r *Router) abandon(ctx context.Context, task AnswerTask, err error) error {
	zerolog.Ctx(ctx).Error().Err(err).Int("attempts", task.Attempts).Msg("answer can't be recorded: giving up on it")
	who := r.person(ctx, task.UserID) // the reason and the notice are read by people
	if task.Attempts > 0 {
		return retry.Permanent(fmt.Errorf("answer %s of %s to alarm %s abandoned: %w", answerWord(task.Yes), who, task.Ticket.Alarm, err))
	}
	if r.cfg.FallbackChannel != "" {
		r.notices.add(ctx, Message{
			Key:   "abandoned/" + task.Ticket.Alarm + "/" + task.UserID,
			Title: "An answer could not be recorded",
			Body:  fmt.Sprintf("%s answered %s to alarm %s (%s#%d), but: %v", who, answerWord(task.Yes), task.Ticket.Alarm, task.Ticket.Repo, task.Ticket.Issue, err),
			Note:  "nothing was written; see the log",
		})
	}
	text := "Your answer could not be recorded: its issue is gone or isn't this alarm's. Nothing was changed; the on-call channel was told."
	if errors.Is(err, errForeignIssue) {
		text = "This button doesn't match its alarm's issue, so dispatch did nothing with it."
	}
	return r.reply(ctx, Audience{UserID: task.UserID, Channel: task.Message.Channel, ResponseURL: task.ResponseURL}, text)
}

// runAnswer is the deferred form of record.
func (r *Router) runAnswer(ctx context.Context, task *AnswerTask) error {
	if task == nil {
		return retry.Permanent(fmt.Errorf("answer task without an answer"))
	}
	log := zerolog.Ctx(ctx).With().Str("user", task.UserID).Logger() // as Answer's, for the direct form
	return r.record(log.WithContext(ctx), *task)
}

// retryDelay spaces deferred answers out: 5 s, 10 s, 20 s … up to 5 minutes.
func retryDelay(attempts int) time.Duration {
	return min(5*time.Second<<min(attempts-1, 10), 5*time.Minute)
}

func answerMarker(t Ticket) string {
	return "<!-- dispatch answer alarm=" + t.Alarm + " user=" + t.User + " -->"
}

func answerWord(yes bool) string {
	if yes {
		return "Yes"
	}
	return "No"
}

func answerComment(task AnswerTask, issue int, who person) string {
	what := "confirmed this was them; closing."
	switch {
	case !task.Yes && task.Ticket.Test:
		what = "said this was **not** them. This is a `/dispatch test` alarm, so PagerDuty was not paged."
	case !task.Yes:
		what = fmt.Sprintf("said this was **not** them; escalated to PagerDuty (incident dedup key `%s`).", escalationKey(task.Ticket, issue))
	}
	what = answerWhat(task, issue, what) // issue 19: Duo and "not about me"
	return fmt.Sprintf("**%s** — Slack user %s %s\nAnswered on Slack at %s.\n\n%s",
		answerLabel(task), who.Markdown(), what, task.At.Format(time.RFC3339), answerMarker(task.Ticket))
}

func answeredText(task AnswerTask) string {
	resp := task.Ticket.YesResponse
	if !task.Yes {
		resp = task.Ticket.NoResponse
	}
	if s := settledText(task); s != "" { // issue 19: Duo and "not about me"
		return s
	}
	return fmt.Sprintf("You answered *%s* at %s. %s", answerWord(task.Yes), task.At.Format("15:04 MST, 2 Jan"), resp)
}

func pendingText(task AnswerTask) string {
	return fmt.Sprintf("You answered *%s* at %s. Your answer is recorded; GitHub or PagerDuty didn't respond, so dispatch will keep retrying until it's filed.",
		answerWord(task.Yes), task.At.Format("15:04 MST, 2 Jan"))
}

// RunTask carries out deferred work. A transient error leaves the task on the queue to come round
// again, for at most maxRetryAge; a permanent one (retry.IsPermanent) means it is dead-lettered with
// its reason.
func (r *Router) RunTask(ctx context.Context, t Task) error {
	switch t.Kind {
	case TaskAnswer:
		return r.runAnswer(ctx, t.Answer)
	case TaskRemind, TaskEscalate:
		err := r.deadline(ctx, t.Kind, t.Deadline)
		if err != nil && !retry.IsPermanent(err) && r.now().Sub(t.Deadline.DueAt) > maxRetryAge {
			return retry.Permanent(fmt.Errorf("%s given up %s after it came due: %w", t.Kind, maxRetryAge, err))
		}
		return err
	case TaskFile:
		return r.file(ctx, t.File)
	}
	return retry.Permanent(fmt.Errorf("unknown task kind %q", t.Kind))
}
