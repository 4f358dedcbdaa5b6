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

// Step task kinds: each effect that needs one service and can wait for it alone (docs/RELIABILITY.md,
// section 0). A step runs inline when its service answers; when the service is down, or the step
// fails transiently, it goes on the queue as a task of its own kind, admitted by that service only.
const (
	TaskPrompt = "prompt" // DM a self-service prompt (Slack)
	TaskLink   = "link"   // post a filed issue's link in its prompt's thread (Slack)
	TaskPage   = "page"   // page PagerDuty for an answer's No (PagerDuty)
	TaskRecord = "record" // write an answer or an escalation on the issue (GitHub)
	TaskSettle = "settle" // update a prompt's DM with the outcome (Slack)
)

// The services, by the names the outage gate (Router.WatchHealth) uses.
const (
	ServiceGitHub    = "github"
	ServiceSlack     = "slack"
	ServicePagerDuty = "pagerduty"
)

// Service is the one service a task's step needs, which the outage gate admits it by: while that
// service is down the task waits on the queue without calling it, whatever else is down. It is ""
// for work the gate must not hold back: a reminder (skipped, not queued, when Slack is down) and an
// answer's sealed copy (its steps each look at their own service).
func (t Task) Service() string {
	switch t.Kind {
	case TaskFile, TaskRecord:
		return ServiceGitHub
	case TaskPrompt, TaskLink, TaskSettle:
		return ServiceSlack
	case TaskPage, TaskEscalate:
		return ServicePagerDuty
	case TaskReason:
		// A reason's copy can tell it was recorded only from the issue: it waits for GitHub (its
		// page, when it has to send one, is a step of its own).
		return ServiceGitHub
	}
	return ""
}

// errServiceDown: a step was not tried because its service is known to be down. Transient.
var errServiceDown = errors.New("the service is down: the step waits for it")

// WatchHealth tells the router which services are down now (down reports it by ServiceGitHub,
// ServiceSlack or ServicePagerDuty), so a step of a service that is down goes straight to the queue
// instead of calling it. Call it before handling anything.
func (r *Router) WatchHealth(down func(service string) bool) { r.down = down }

// isDown reports whether service is known to be down.
func (r *Router) isDown(service string) bool { return r.down != nil && r.down(service) }

// step runs fn, the effect, now unless its service is down, and defers task (the same effect, on
// the queue) when it is, or when fn fails transiently: each effect waits only for its own service.
// It reports whether the effect was deferred; an error means it failed for good, or could not be
// deferred either.
func (r *Router) step(ctx context.Context, service string, task Task, fn func(context.Context) error) (deferred bool, err error) {
	if !r.isDown(service) {
		err = fn(ctx)
		if err == nil || retry.IsPermanent(err) {
			return false, err
		}
	} else {
		err = errServiceDown
	}
	if r.tasks == nil {
		return false, err
	}
	zerolog.Ctx(ctx).Warn().Err(err).Str("task", task.Kind).Msg("step deferred: it waits on the queue for its service")
	if derr := r.tasks.Defer(ctx, task); derr != nil {
		return false, fmt.Errorf("%s failed (%w) and could not be deferred: %w", task.Kind, err, derr)
	}
	return true, nil
}

// PromptTask is a self-service prompt still to DM (Slack was down or failed).
type PromptTask struct {
	Ticket  Ticket  `json:"ticket"`
	Message Message `json:"message"`
	// Published is when the alarm was published: the DM says how late it is.
	Published time.Time `json:"published,omitempty"`
	// EscalateAt is when the alarm escalates (zero: never). A prompt delivered after it has no
	// buttons and says the alarm was already escalated.
	EscalateAt time.Time `json:"escalateAt,omitempty"`
	Since      time.Time `json:"since"` // when it was first tried: bounds the task's life
}

// alreadyEscalatedNote ends a prompt that could only be delivered after its escalation.
const alreadyEscalatedNote = " · Slack was unavailable until after this alarm's deadline, so it was already escalated to PagerDuty: there is nothing to answer"

// prompt DMs a self-service prompt (looking first for an earlier delivery's when look), or says it
// was already escalated when its deadline passed before it could be delivered.
func (r *Router) prompt(ctx context.Context, p *PromptTask, look bool) (MessageRef, error) {
	ctx = withPublished(ctx, p.Published)
	m := p.Message
	if !p.EscalateAt.IsZero() && !r.now().Before(p.EscalateAt) {
		m.Buttons, m.Prompt = nil, ""
		m.Note += alreadyEscalatedNote
	}
	return r.dmOnce(ctx, p.Ticket.User, m, look)
}

// runPrompt is the deferred form of prompt. A user Slack refuses a DM to for good is only logged:
// the deadline escalates, saying they could not be asked.
func (r *Router) runPrompt(ctx context.Context, p *PromptTask) error {
	if p == nil {
		return retry.Permanent(errors.New("prompt task without a prompt"))
	}
	_, err := r.prompt(ctx, p, true)
	if errors.Is(err, ErrCannotDM) {
		zerolog.Ctx(ctx).Warn().Err(err).Str("user", p.Ticket.User).Msg("the prompt can't be sent: its deadline escalates")
		return nil
	}
	return err
}

// promptStep DMs a prompt now (look: an earlier delivery may have), or defers it while Slack is
// down or failing. The DM is zero when deferred.
func (r *Router) promptStep(ctx context.Context, p PromptTask, look bool) (MessageRef, error) {
	var dm MessageRef
	_, err := r.step(ctx, ServiceSlack, Task{Kind: TaskPrompt, Delay: stepRetryDelay, Prompt: &p}, func(ctx context.Context) error {
		var err error
		dm, err = r.prompt(ctx, &p, look)
		if errors.Is(err, ErrCannotDM) {
			return retry.Permanent(err) // the caller tells the fallback channel
		}
		return err
	})
	return dm, err
}

// stepRetryDelay is how long a deferred step waits before its first try on the queue. While its
// service stays down, the outage gate holds it back after that.
const stepRetryDelay = 5 * time.Second

// RecordTask is what an answer or an escalation writes on the alarm's issue.
type RecordTask struct {
	Ticket Ticket `json:"ticket"`
	// Marker ends Comment; found among dispatch's own comments it means the record was written.
	Marker  string    `json:"marker"`
	Comment string    `json:"comment"`
	Close   bool      `json:"close,omitempty"` // close the issue (a Yes)
	Label   bool      `json:"label,omitempty"` // label it escalated (a No, an escalation)
	At      time.Time `json:"at"`              // the answer or the deadline: bounds the task's life
	// Change, when set, is a PagerDuty incident's change to record instead (issue 20): its comment
	// and marker, the close or the reopen, then its DM step (IncidentChanged).
	Change *IncidentChange `json:"change,omitempty"`
	// known is the issue as the caller has just read it and checked (checkIssue), which saves the
	// record's first try a read; never on the queue, where a deferred record reads it afresh.
	known *Issue
}

// recordOn writes a record on its issue, once: the comment, with its marker, goes last, so finding
// it means the rest was done. errNotFiled while the prompt's issue is still to be filed.
func (r *Router) recordOn(ctx context.Context, rec *RecordTask) error {
	t := rec.Ticket
	is, done, err := r.marked(ctx, t, rec.Marker, rec.known)
	rec.known = nil // read once: a retry reads the issue afresh
	if err != nil || done {
		return err // done: written by an earlier try
	}
	if rec.Label && !is.HasLabel(LabelEscalated) {
		if err := r.issues.AddLabels(ctx, t.Repo, is.Number, LabelEscalated); err != nil {
			return fmt.Errorf("label issue: %w", err)
		}
	}
	if rec.Close && is.Open {
		if err := r.issues.Close(ctx, t.Repo, is.Number); err != nil {
			return fmt.Errorf("close issue: %w", err)
		}
	}
	if err := r.issues.Comment(ctx, t.Repo, is.Number, rec.Comment); err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	if rec.Label && !is.HasLabel(LabelEscalated) {
		// Escalated just now: no change of its incident can be on the issue yet, so the App Home
		// that the answer refreshes needn't read the comments to say so.
		r.istate.put(statusKey(t.Repo, is.Number), "", r.now())
	}
	zerolog.Ctx(ctx).Info().Int("issue", is.Number).Msg("recorded on the issue")
	return nil
}

// marked finds the ticket's issue (known, when the caller has just read it) and whether dispatch
// wrote a comment with marker on it.
func (r *Router) marked(ctx context.Context, t Ticket, marker string, known *Issue) (Issue, bool, error) {
	var is Issue
	if known != nil {
		is = *known
	} else {
		var err error
		if is, err = r.issueFor(ctx, t); err != nil {
			return Issue{}, false, err
		}
	}
	done, err := r.ownMarked(ctx, t.Repo, is.Number, marker)
	return is, done, err
}

// ownMarked reports whether dispatch wrote a comment with marker on issue number of repo.
func (r *Router) ownMarked(ctx context.Context, repo string, number int, marker string) (bool, error) {
	comments, err := r.ownComments(ctx, repo, number)
	if err != nil {
		return false, err
	}
	for _, c := range comments {
		if strings.Contains(c, marker) {
			return true, nil
		}
	}
	return false, nil
}

// recordStep writes rec now, or defers it while GitHub is down or failing, or while the prompt's
// issue is not filed yet.
func (r *Router) recordStep(ctx context.Context, rec RecordTask) (bool, error) {
	return r.step(ctx, ServiceGitHub, Task{Kind: TaskRecord, Delay: stepRetryDelay, Record: &rec}, func(ctx context.Context) error {
		return r.recordOn(ctx, &rec)
	})
}

// runRecord is the deferred form of recordOn. Waiting for the issue to be filed costs no retries.
func (r *Router) runRecord(ctx context.Context, rec *RecordTask) error {
	if rec == nil {
		return retry.Permanent(errors.New("record task without a record"))
	}
	unlock := r.locks.Lock(answerLock(rec.Ticket))
	defer unlock()
	if rec.Change != nil {
		return r.runChange(ctx, rec)
	}
	err := r.recordOn(ctx, rec)
	if errors.Is(err, errNotFiled) && r.tasks != nil {
		return r.tasks.Defer(ctx, Task{Kind: TaskRecord, Delay: 30 * time.Second, Record: rec})
	}
	return err
}

// SettleTask is a prompt's DM still to update with the outcome.
type SettleTask struct {
	Ticket  Ticket     `json:"ticket"`
	Message MessageRef `json:"message"` // the DM; zero: found by its key
	Text    string     `json:"text"`    // "": the DM is left as it is (only the reply is posted)
	At      time.Time  `json:"at"`
	// Reply, when set, is a line posted once in the DM's thread, by ReplyKey, before the update (a
	// PagerDuty acknowledgement).
	Reply    string `json:"reply,omitempty"`
	ReplyKey string `json:"replyKey,omitempty"`
	// Change is the id of the PagerDuty change the DM shows (issue 20), "" for an answer's outcome.
	Change string `json:"change,omitempty"`
}

// settle replaces a prompt's buttons with the outcome, after posting its thread reply if it has
// one. A DM that isn't there (never delivered) has nothing to settle.
func (r *Router) settle(ctx context.Context, s *SettleTask) error {
	ref := s.Message
	if ref.TS == "" {
		found, ok, err := r.chat.Sent(ctx, s.Ticket.User, s.Ticket.Alarm+"/"+s.Ticket.Key)
		if err != nil {
			return fmt.Errorf("look for the DM: %w", err)
		}
		if !ok {
			return nil
		}
		ref = found
	}
	if s.Reply != "" {
		done, err := r.chat.Replied(ctx, ref, s.ReplyKey)
		if err != nil {
			return fmt.Errorf("check the DM's thread: %w", err)
		}
		if !done {
			if _, err := r.chat.Reply(ctx, ref, Message{Key: s.ReplyKey, Body: s.Reply}); err != nil {
				return fmt.Errorf("reply in the DM's thread: %w", err)
			}
		}
	}
	if s.Text == "" {
		return nil
	}
	return r.chat.Settle(ctx, ref, s.Text)
}

// settleStep updates the DM now, or defers it while Slack is down or failing.
func (r *Router) settleStep(ctx context.Context, s SettleTask) {
	now := s               // as the click showed it: its blocks save a fetch
	s.Message.Blocks = nil // a deferred settle fetches the message as it is then
	if _, err := r.step(ctx, ServiceSlack, Task{Kind: TaskSettle, Delay: stepRetryDelay, Settle: &s}, func(ctx context.Context) error {
		return r.settle(ctx, &now)
	}); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("the DM could not be updated")
	}
}

// PageTask is a page still to trigger: an answer's No, or its reason, while PagerDuty was down or
// failing.
type PageTask struct {
	Ticket Ticket    `json:"ticket"`
	Page   Page      `json:"page"`
	At     time.Time `json:"at"`
	// Reason marks the event that brings the user's words to the incident (issue 19): noted on the
	// issue with a marker of its own once sent, the DM left as it is.
	Reason bool `json:"reason,omitempty"`
}

// pageStep triggers p.Page now, or defers p while PagerDuty is down or failing.
func (r *Router) pageStep(ctx context.Context, p PageTask) (deferred bool, err error) {
	return r.step(ctx, ServicePagerDuty, Task{Kind: TaskPage, Delay: stepRetryDelay, Page: &p}, func(ctx context.Context) error {
		return r.trigger(ctx, p.Page)
	})
}

// trigger pages PagerDuty.
func (r *Router) trigger(ctx context.Context, p Page) error {
	if err := r.pager.Trigger(ctx, p); err != nil {
		return fmt.Errorf("trigger pagerduty: %w", err)
	}
	return nil
}

// runPage is the deferred form of pageStep. Once paged it notes so on the issue (a step of its own),
// which makes a redelivered or replayed page task do nothing while GitHub can tell.
func (r *Router) runPage(ctx context.Context, p *PageTask) error {
	if p == nil {
		return retry.Permanent(errors.New("page task without a page"))
	}
	unlock := r.locks.Lock(answerLock(p.Ticket))
	defer unlock()
	mark, note := pageMarker(p.Ticket), "**Paged**: PagerDuty answered again and was paged (incident dedup key `%s`).\n\n%s"
	if p.Reason {
		mark, note = reasonPageMarker(p.Ticket), "**Reason sent**: PagerDuty answered again and the user's words went to the incident (dedup key `%s`).\n\n%s"
	}
	if !r.isDown(ServiceGitHub) {
		if _, done, err := r.marked(ctx, p.Ticket, mark, nil); err == nil && done {
			zerolog.Ctx(ctx).Info().Msg("already paged: nothing to do")
			return nil
		}
	}
	if err := r.trigger(ctx, p.Page); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Str("alarm_id", p.Ticket.Alarm).Msg("paged after PagerDuty answered again")
	_, err := r.recordStep(ctx, RecordTask{Ticket: p.Ticket, Marker: mark, At: p.At, Comment: fmt.Sprintf(note, p.Page.DedupKey, mark)})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("paged, but the issue could not note it")
	}
	if p.Reason {
		return nil // the DM never said the reason was on its way
	}
	// The DM said the page was on its way: now it has gone.
	r.settleStep(ctx, SettleTask{Ticket: p.Ticket, Text: answeredText(AnswerTask{Ticket: p.Ticket, At: p.At}), At: p.At})
	return nil
}

// pageMarker marks the note of a page that waited for PagerDuty.
func pageMarker(t Ticket) string {
	return "<!-- dispatch page alarm=" + t.Alarm + " user=" + t.User + " -->"
}

// linkTask is the link of a filed issue still to post in its prompt's thread.
func linkTask(f *FileTask, is Issue) Task {
	l := *f
	l.Issue = NewIssue{Title: is.Title}
	l.Number, l.URL = is.Number, is.URL
	return Task{Kind: TaskLink, Delay: stepRetryDelay, File: &l}
}

// linkStep links a filed issue in its prompt's thread, finding the prompt by its key when it went
// out after the issue's task was deferred; while Slack is down, or the prompt is not sent yet, it
// waits on the queue.
func (r *Router) linkStep(ctx context.Context, f *FileTask, is Issue) error {
	task := linkTask(f, is)
	_, err := r.step(ctx, ServiceSlack, task, func(ctx context.Context) error { return r.linkFiled(ctx, task.File) })
	return err
}

// errPromptNotSent: the issue's link waits for its prompt. Transient.
var errPromptNotSent = errors.New("the prompt is not sent yet")

// linkFiled posts the link of a filed issue (f.Number set) unless it was posted before.
func (r *Router) linkFiled(ctx context.Context, f *FileTask) error {
	if f.Prompt.TS == "" {
		ref, found, err := r.chat.Sent(ctx, f.User, f.Alarm+"/"+f.Key)
		if err != nil {
			return fmt.Errorf("look for the prompt: %w", err)
		}
		if !found {
			return errPromptNotSent
		}
		f.Prompt = ref
		f.Prompt.Settled = false
	}
	linked, err := r.chat.Replied(ctx, f.Prompt, linkKey(f))
	if err != nil && retry.IsPermanent(err) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("issue filed; its prompt's thread can't be read to link it")
		return nil
	}
	if err != nil || linked {
		return err
	}
	return r.link(ctx, f, Issue{Repo: f.Repo, Number: f.Number, URL: f.URL, Title: f.Issue.Title})
}

// runLink is the deferred form of linkStep.
func (r *Router) runLink(ctx context.Context, f *FileTask) error {
	if f == nil || f.Number == 0 {
		return retry.Permanent(errors.New("link task without a filed issue"))
	}
	return r.linkFiled(ctx, f)
}
