package handlers

import (
	"context"
	"errors"
	"fmt"
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
// Only the addressed user may answer, and only once. It is Take and its run at once. Answer returns
// an error only when the answer could not be made durable.
func (r *Router) Answer(ctx context.Context, c Click) error {
	run, err := r.Take(ctx, c)
	if err != nil {
		return err
	}
	return run()
}

// Take checks a click and, when it is an answer to act on, makes it durable before the caller acks
// the click: a signed copy of the answer goes on the queue (it comes round after
// Config.AnswerCopyAfter). run then carries the answer out, as independent steps (page, record,
// settle: see apply), after the ack. The copy finds each step done by its key (the answer comment
// on the issue, the settled DM) and does only what a crash left undone: an acknowledged answer is
// never lost, nor done twice. An error means the answer could not be made durable: don't ack.
func (r *Router) Take(ctx context.Context, c Click) (run func() error, err error) {
	log := zerolog.Ctx(ctx).With().Str("user", c.UserID).Str("action", c.ActionID).Logger()
	ctx = log.WithContext(ctx)
	t, err := DecodeTicket(c.Value, r.cfg.TaskKeys)
	if errors.Is(err, ErrForgedTicket) {
		log.Warn().Err(err).Msg("refused a button whose ticket no configured key signed: nothing written")
		return func() error {
			if c.Channel == "" && c.ResponseURL == "" {
				// A click on the App Home tab, which has nowhere else to answer: redrawn from the
				// issues, the tab replaces the dead buttons with why they are gone (HomeOpened).
				r.refreshHome(ctx, c.UserID)
				return nil
			}
			return r.reply(ctx, c.audience(), unverifiedButtonText)
		}, nil
	}
	if err != nil || (c.ActionID != ActionYes && c.ActionID != ActionNo && c.ActionID != ActionWrong) {
		log.Warn().Err(err).Msg("click on a button dispatch doesn't know")
		return func() error { return r.reply(ctx, c.audience(), "This button isn't one dispatch can act on any more.") }, nil
	}
	log = log.With().Str("alarm_id", t.Alarm).Str("repo", t.Repo).Logger()
	ctx = log.WithContext(ctx)
	if c.UserID != t.User {
		log.Info().Msg("click by someone the alarm wasn't addressed to")
		return func() error {
			return r.reply(ctx, c.audience(), "This alarm was sent to someone else; only they can answer it.")
		}, nil
	}
	task := AnswerTask{Ticket: t, Yes: c.ActionID == ActionYes, UserID: c.UserID, At: r.now().UTC(), Message: c.Message, ResponseURL: c.ResponseURL,
		Wrong: c.ActionID == ActionWrong}
	mfa := task.Yes && r.needsMFA(t)
	if task.Wrong {
		task.Guarded = r.needsMFA(t)
	}
	// A Yes that needs a second factor is no answer until Duo says so: it has no durable copy,
	// which would count it without the push. Every other answer is on the queue before the ack.
	if r.tasks != nil && !mfa {
		durable := task
		durable.Attempts, durable.ResponseURL, durable.Message.Blocks = 1, "", nil
		if err := r.tasks.Defer(ctx, Task{Kind: TaskAnswer, Delay: r.answerCopyAfter(), Answer: &durable}); err != nil {
			return nil, fmt.Errorf("make the answer durable: %w", err)
		}
	}
	return func() error {
		// Issue 19: the reason modal opens first (its trigger_id lasts 3 s from the click), and a
		// Yes that needs a second factor waits for the Duo push before it counts.
		r.askReason(ctx, c, task)
		if task.Wrong {
			r.announceWrong(ctx, task)
		}
		if mfa {
			return r.confirmWithDuo(ctx, task)
		}
		return r.record(ctx, task)
	}, nil
}

// answerCopyAfter is how long an answer's durable copy waits before it comes round: about as long
// as the inline run takes at most (one step's retries, before it defers itself), so the copy
// usually finds the work done (on the same replica it waits for the run, on the prompt's lock),
// and short enough that an answer a crash cut off finishes soon after.
func (r *Router) answerCopyAfter() time.Duration {
	if r.cfg.AnswerCopyAfter > 0 {
		return r.cfg.AnswerCopyAfter
	}
	return 30 * time.Second
}

// record applies an answer. An error means it can never be recorded (abandoned, said so) or a step
// failed and could not be deferred either.
func (r *Router) record(ctx context.Context, task AnswerTask) error {
	unlock := r.locks.Lock(answerLock(task.Ticket))
	defer unlock()

	// The DM, as Slack shows it now (found by its key), when Slack answers.
	current := func() (MessageRef, bool) {
		if task.Ticket.Key == "" || r.isDown(ServiceSlack) {
			return MessageRef{}, false
		}
		ref, found, err := r.chat.Sent(ctx, task.UserID, task.Ticket.Alarm+"/"+task.Ticket.Key)
		return ref, err == nil && found
	}
	if task.Message.TS == "" {
		// A click on the App Home tab: find the DM, so it shows the answer too.
		if ref, ok := current(); ok {
			task.Message = ref
		}
	}
	task.Message.Settled = false
	done, err := r.apply(ctx, task, func() bool { ref, ok := current(); return ok && ref.Settled })
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
		return nil
	}
	if retry.IsPermanent(err) || r.now().Sub(task.At) > maxRetryAge {
		return r.abandon(ctx, task, err)
	}
	zerolog.Ctx(ctx).Error().Err(err).Int("attempts", task.Attempts).Msg("answer not recorded: it comes round again")
	return err
}

// apply carries an answer out as independent steps, each waiting only for its own service
// (docs/RELIABILITY.md, section 0): a No pages PagerDuty (page), the issue gets the answer
// (record: GitHub), the DM shows it (settle: Slack). A step whose service is down or failing is
// deferred as its own task: a No pages at once while GitHub is down, and a Yes settles the DM at
// once while its issue is closed later. The page and the record go before the DM, so a settled
// DM means they were done or deferred. It is safe to repeat: the incident's dedup key makes a
// second trigger the same incident, and the answer comment, written last, marks the record done.
// It reports done=false when the alarm had already been answered or closed; settled says whether
// the DM shows an outcome already (asked of Slack only when needed).
func (r *Router) apply(ctx context.Context, task AnswerTask, settled func() bool) (done bool, err error) {
	log := zerolog.Ctx(ctx)
	t := task.Ticket
	retrying := task.Attempts > 0
	// A copy, a redelivery or a replay (Task.ID): the answer comment is always written last, so
	// finding it means the answer was wholly done, and acting again would re-close a reopened issue
	// or page a resolved incident anew. Only dispatch's own comments count.
	recorded := func(number int) (bool, error) {
		done, err := r.ownMarked(ctx, t.Repo, number, answerMarker(t))
		if err != nil {
			return false, fmt.Errorf("list comments: %w", err)
		}
		if done {
			log.Info().Msg("answer already recorded: nothing to do")
		}
		return done, nil
	}
	var is *Issue
	if !r.isDown(ServiceGitHub) {
		if retrying && t.Issue > 0 {
			// The ticket names the issue: its comments say whether the answer is recorded without
			// reading the issue first (GitHub's budget is the scarcest: docs/RELIABILITY.md, 0).
			if done, err := recorded(t.Issue); err != nil || done {
				return false, err
			}
		}
		found, err := r.issueFor(ctx, t)
		switch {
		case err == nil:
			is = &found
		case retry.IsPermanent(err):
			return false, err
		default:
			log.Warn().Err(err).Msg("the issue can't be read now: the answer goes on without it")
		}
	}
	if is != nil && !retrying && (!is.Open || is.HasLabel(LabelEscalated)) {
		return false, nil
	}
	who := r.person(ctx, task.UserID)          // the ticket's user: Take checked that they clicked
	if is != nil && retrying && t.Issue == 0 { // answered before its issue was filed
		if done, err := recorded(is.Number); err != nil || done {
			return false, err
		}
	}
	if retrying && settled() { // asked only when GitHub could not tell
		log.Info().Msg("the DM shows the answer: its page and record were done or deferred")
		return false, nil
	}
	pageDeferred := false
	if !task.Yes && !t.Test { // a test alarm from /dispatch test never pages
		if pageDeferred, err = r.pageStep(ctx, PageTask{Ticket: t, Page: r.escalationPage(ctx, t, is, escalationWhy(task, who), task.Message, severityOf(task)), At: task.At}); err != nil {
			return false, err
		}
	}
	rec := answerRecord(task, who)
	rec.known = is // just read and checked: the record's first try needn't read it again
	if _, err := r.recordStep(ctx, rec); err != nil {
		return false, err
	}
	if task.Message.TS != "" || t.Key != "" { // without its ref, the DM is found by its key
		text := answeredText(task)
		if pageDeferred {
			text = pendingText(task)
		}
		r.settleStep(ctx, SettleTask{Ticket: t, Message: task.Message, Text: text, At: task.At})
	}
	log.Info().Bool("yes", task.Yes).Bool("page_deferred", pageDeferred).Msg("answer taken")
	return true, nil
}

// answerRecord is what an answer writes on its issue: a Yes closes it, a No labels it escalated.
func answerRecord(task AnswerTask, who person) RecordTask {
	return RecordTask{Ticket: task.Ticket, Marker: answerMarker(task.Ticket), Comment: answerComment(task, who),
		Close: task.Yes, Label: !task.Yes, At: task.At}
}

// escalate pages PagerDuty for a self-service alarm. The dedup key is the same for a No and for a
// missed deadline, so the two never make two incidents. It needs PagerDuty only: is is nil when
// GitHub can't be read (the ticket still names the issue).
func (r *Router) escalate(ctx context.Context, t Ticket, is *Issue, why string, dm MessageRef, severity string) error {
	return r.trigger(ctx, r.escalationPage(ctx, t, is, why, dm, severity))
}

// escalationPage is the page of a self-service alarm's escalation. The incident links the issue
// and, when there is one and Slack answers, the DM.
func (r *Router) escalationPage(ctx context.Context, t Ticket, is *Issue, why string, dm MessageRef, severity string) Page {
	title, where, links := issueNamed(t, is)
	if dm.TS != "" && !r.isDown(ServiceSlack) {
		if u, err := r.chat.Permalink(ctx, dm); err == nil {
			links = append(links, Link{URL: u, Text: "Slack DM"})
		} else {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("no permalink for the DM")
		}
	}
	summary := why
	if title != "" {
		summary += ": " + title
	}
	return Page{
		ServiceID: t.Service,
		DedupKey:  escalationKey(t),
		Summary:   shorten(summary, 1024),
		Details:   fmt.Sprintf("Self-service alarm %s escalated: %s. Issue: %s", t.Alarm, why, where),
		Source:    r.cfg.Source,
		Severity:  severity,
		Links:     links,
	}
}

// issueNamed is how a page names the alarm's issue: its title, where it is, and a link to it. From
// the ticket alone when GitHub can't be read (is nil).
func issueNamed(t Ticket, is *Issue) (title, where string, links []Link) {
	title, where = t.Title, fmt.Sprintf("%s#%d", t.Repo, t.Issue)
	if t.Issue == 0 {
		where = t.Repo + " (the issue is being filed)"
	}
	if is != nil {
		title, where = is.Title, is.URL
		links = append(links, Link{URL: is.URL, Text: fmt.Sprintf("GitHub issue %s#%d", t.Repo, is.Number)})
	}
	return title, where, links
}

// escalationKey is the PagerDuty dedup key of a self-service alarm's escalation; the issue names it,
// so the incident can be found from the issue (the Events API returns no incident URL). It names
// the alarm's repository and title, which the signed ticket carries, besides the requestId and
// user, which anyone who reads the issue knows: an alarm reusing them under another title (a decoy
// with a short escalateAfter) is another alarm with an issue and an incident of its own, and one
// under the same title is taken for a redelivery of the alarm the user was asked about, whose filed
// ticket it then uses (filedTicket). It needs no issue number, so a No or a deadline pages while
// GitHub is down or before the issue of a prompt that went first is filed, and every page of one
// prompt (No, deadline, reason, redelivery) joins one incident.
func escalationKey(t Ticket) string {
	return dedupKey(keyEscalation, strings.ToLower(t.Repo), t.Title, t.Alarm, t.User)
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

// runAnswer is the deferred form of record: an answer's durable copy (see Take), or one deferred
// whole by an earlier version of dispatch.
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

func answerComment(task AnswerTask, who person) string {
	what := "confirmed this was them; closing."
	switch {
	case !task.Yes && task.Ticket.Test:
		what = "said this was **not** them. This is a `/dispatch test` alarm, so PagerDuty was not paged."
	case !task.Yes:
		what = fmt.Sprintf("said this was **not** them; escalated to PagerDuty (incident dedup key `%s`).", escalationKey(task.Ticket))
	}
	what = answerWhat(task, what) // issue 19: Duo and "not about me"
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

// pendingText is the DM of a No whose page waits for PagerDuty.
func pendingText(task AnswerTask) string {
	return fmt.Sprintf("You answered *%s* at %s. Your No is recorded; PagerDuty isn't answering yet, so the page is on its way: dispatch keeps trying until it goes through.",
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
	case TaskLink, TaskPrompt, TaskPage, TaskRecord, TaskSettle, TaskReason:
		err := r.runStep(ctx, t)
		// A step goes round while its service is down, but not past maxRetryAge after its work began
		// (the click, the due time, the alarm): then it is given up, dead-lettered and announced.
		if began := t.Expiry(r.now()).Add(-TaskValidity); err != nil && !retry.IsPermanent(err) && r.now().Sub(began) > maxRetryAge {
			return retry.Permanent(fmt.Errorf("%s given up %s after its work began: %w", t.Kind, maxRetryAge, err))
		}
		return err
	}
	return retry.Permanent(fmt.Errorf("unknown task kind %q", t.Kind))
}

// runStep runs a deferred step (steps.go).
func (r *Router) runStep(ctx context.Context, t Task) error {
	switch t.Kind {
	case TaskLink:
		return r.runLink(ctx, t.File)
	case TaskPrompt:
		return r.runPrompt(ctx, t.Prompt)
	case TaskPage:
		return r.runPage(ctx, t.Page)
	case TaskRecord:
		return r.runRecord(ctx, t.Record)
	case TaskSettle:
		if t.Settle == nil {
			return retry.Permanent(errors.New("settle task without a DM"))
		}
		if t.Settle.Change != "" {
			return r.runIncidentSettle(ctx, t.Settle)
		}
		return r.settle(ctx, t.Settle)
	case TaskReason:
		if t.Reason == nil {
			return retry.Permanent(errors.New("reason task without a reason"))
		}
		log := zerolog.Ctx(ctx).With().Str("user", t.Reason.Ticket.User).Str("alarm_id", t.Reason.Ticket.Alarm).Logger()
		return r.reason(log.WithContext(ctx), t.Reason, true)
	}
	return retry.Permanent(fmt.Errorf("unknown step kind %q", t.Kind))
}
