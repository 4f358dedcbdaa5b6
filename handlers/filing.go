package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// TaskFile files the audit issue of a prompt, or of a broadcast's or nag's DMs, that was sent first.
const TaskFile = "file"

// inlineIssueWait is how long a self-service alarm may wait for GitHub's pacing before its prompt:
// past it (a burst beyond GitHub's 80 issues a minute), the DM goes first and the issue follows,
// so nobody's "was this you?" waits on GitHub's limits.
const inlineIssueWait = 2 * time.Second

// errNotFiled: the prompt went first and its issue is not filed yet. Transient: an answer or a
// deadline waits for it.
var errNotFiled = errors.New("the alarm's issue is not filed yet")

// FileTask is an issue still to file for a prompt already sent.
type FileTask struct {
	Repo   string     `json:"repo"`
	Issue  NewIssue   `json:"issue"` // its body ends with the marker
	Alarm  string     `json:"alarm"`
	Key    string     `json:"key"`             // the user's key within the alarm
	Prompt MessageRef `json:"prompt"`          // zero when the issue's task went before its prompt: found by key
	User   string     `json:"user,omitempty"`  // the Slack user prompted, to find the prompt
	Since  time.Time  `json:"since,omitempty"` // when the prompt went out: bounds the task's life (Task.Expiry)
	// Number and URL are set once the issue is filed (a TaskLink).
	Number int    `json:"number,omitempty"`
	URL    string `json:"url,omitempty"`
	// Told are the DMs of a broadcast or nag sent before its issue (no User, no Prompt): each is
	// linked once the issue is filed, in a link task of its own while Slack is down. DMs is the
	// prefix of their message keys (the alarm, and for a nag its delivery).
	Told []ToldDM `json:"told,omitempty"`
	DMs  string   `json:"dms,omitempty"`
	// Nag: the issue is the open one with the title, if any, as a nag's always is.
	Nag bool `json:"nag,omitempty"`
}

// ToldDM is a DM sent before its alarm's issue, to link it in once the issue is filed.
type ToldDM struct {
	User string     `json:"user"` // the Slack user
	Key  string     `json:"key"`  // the user's key within the alarm
	DM   MessageRef `json:"dm"`
}

// answerLock serialises the work on one prompt (answers, deadlines) within a replica.
func answerLock(t Ticket) string { return "answer\x00" + t.Alarm + "\x00" + t.User }

// issueFor finds a ticket's issue: by number, or, for a prompt that went first, by its title and
// marker through the consistent listing. errNotFiled when it isn't there yet.
func (r *Router) issueFor(ctx context.Context, t Ticket) (Issue, error) {
	if t.Issue > 0 {
		is, err := r.issues.Get(ctx, t.Repo, t.Issue)
		if err != nil {
			return Issue{}, fmt.Errorf("get issue: %w", err)
		}
		return is, r.checkIssue(ctx, t, is)
	}
	found, err := r.issues.FindByTitle(ctx, t.Repo, t.Title, true)
	if err != nil {
		return Issue{}, fmt.Errorf("look for the issue: %w", err)
	}
	if found, err = r.ownIssues(ctx, found); err != nil {
		return Issue{}, err
	}
	for _, is := range found {
		if mk, ok := findMarker(is.Body); ok && mk.Alarm == t.Alarm && mk.User == t.Key {
			return is, r.checkIssue(ctx, t, is)
		}
	}
	return Issue{}, errNotFiled
}

// promptFirst sends a self-service prompt before its issue, which a deferred task files as GitHub
// allows (its pacing, or the end of its outage), then links in the DM's thread. The prompt itself
// waits only for Slack (promptStep); the deadlines are the caller's.
func (r *Router) promptFirst(ctx context.Context, a *alerts.Alarm, id, repo string, rc recipient, t Ticket, redelivered bool, ni NewIssue, mk marker) (MessageRef, error) {
	if r.tasks == nil {
		return MessageRef{}, errors.New("no task queue to file the issue later")
	}
	t.Title = a.GitHubTitle
	m := r.promptMessage(a, id, rc, t, nil)
	if r.isDown(ServiceGitHub) {
		m.Note += " · GitHub is unavailable: the audit issue follows in this thread"
	} else {
		m.Note += " · GitHub is busy: the audit issue follows in this thread"
	}
	ni.Body += "\n\n" + mk.String()
	delay := min(r.issues.CreateDelay(), maxTaskDelay)
	dm, err := r.promptStep(ctx, r.promptTask(ctx, a, t, m), redelivered)
	if err != nil {
		return MessageRef{}, err
	}
	// A crash before the issue's task is deferred redelivers the alarm, which finds its DM.
	f := &FileTask{Repo: repo, Issue: ni, Alarm: id, Key: rc.Key, User: rc.SlackID, Prompt: dm, Since: r.now().UTC()}
	if err := r.tasks.Defer(ctx, Task{Kind: TaskFile, Delay: delay, File: f}); err != nil {
		return MessageRef{}, fmt.Errorf("defer the issue: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("user", rc.SlackID).Dur("issue_in", delay).Bool("dm_sent", dm.TS != "").Msg("prompt before its issue")
	return dm, nil
}

// file files the issue of a prompt that went first, once GitHub's pacing allows, and links it in the
// DM's thread. A task redelivered after the issue was made finds it by its marker.
func (r *Router) file(ctx context.Context, f *FileTask) error {
	if f == nil {
		return retry.Permanent(errors.New("file task without an issue"))
	}
	if d := r.issues.CreateDelay(); d > inlineIssueWait {
		return r.tasks.Defer(ctx, Task{Kind: TaskFile, Delay: min(d, maxTaskDelay), File: f})
	}
	if f.User == "" {
		// A broadcast's or a nag's issue is its title's, as when the alarm files it (withIssue):
		// one at a time here, so two nags' tasks find one issue rather than make two.
		unlock, err := r.locks.lockYielding(ctx, f.Repo+"\x00"+f.Issue.Title)
		if err != nil {
			return err
		}
		defer unlock()
	}
	existing, err := r.issues.FindByTitle(ctx, f.Repo, f.Issue.Title, !f.Nag)
	if err != nil {
		return fmt.Errorf("look for the issue: %w", err)
	}
	if existing, err = r.ownIssues(ctx, existing); err != nil {
		return err
	}
	var is Issue
	var resumed bool
	if f.Nag && len(existing) > 0 {
		is, resumed = existing[0], true // the open nag issue, as the nag itself would have found it
	} else {
		mine, _ := splitByAlarm(existing, f.Alarm)
		// A nag's issue is any of its title, so any older twin is its twin (as in nag).
		is, resumed, err = r.ensureIssue(ctx, f.Repo, marker{Alarm: f.Alarm, User: f.Key}, mine, f.Issue, !f.Nag)
		if sup, ok := errors.AsType[*supersededError](err); ok {
			is, resumed, err = sup.survivor, false, nil // the DMs went first: link the issue kept
		}
		if err != nil {
			return err
		}
	}
	if f.User == "" {
		return r.linkTold(ctx, f, is)
	}
	if !resumed && f.Prompt.TS != "" {
		return r.link(ctx, f, is)
	}
	// An earlier delivery of this task filed it, and may have stopped before the link (a crash, a
	// stop while the link waited for a burst's prompts), or the prompt went out after this task was
	// deferred: link it unless that was done, as a step of its own (Slack).
	return r.linkStep(ctx, f, is)
}

// linkKey keys the link of f's issue in its prompt's thread.
func linkKey(f *FileTask) string { return "link/" + f.Alarm + "/" + f.Key }

// link posts a filed issue's link in its prompt's thread. The link is the least urgent post
// dispatch makes: in a burst it stands aside for the prompts waiting on Slack's limits (the
// workspace's posts a minute, the person's channel) and goes once none waits, the task kept (not
// deleted, its visibility extended) meanwhile, the worker slot given up.
func (r *Router) link(ctx context.Context, f *FileTask, is Issue) error {
	_, err := r.chat.Reply(pace.WithLowPriority(ctx), f.Prompt, Message{Key: linkKey(f), Body: "Audit issue filed:", Link: issueLink(is)})
	if err != nil && retry.IsPermanent(err) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("issue filed but not linked in the DM")
		return nil
	}
	return err // transient: the task comes round again, finds the issue filed, and links it
}

// linkTold links a filed issue in the thread of each DM a broadcast or nag sent before it: each link
// is a step of its own (Slack), once by its reply key.
func (r *Router) linkTold(ctx context.Context, f *FileTask, is Issue) error {
	for _, t := range f.Told {
		l := &FileTask{Repo: f.Repo, Alarm: f.DMs, Key: t.Key, User: t.User, Prompt: t.DM, Since: f.Since}
		if err := r.linkStep(ctx, l, is); err != nil {
			return err
		}
	}
	return nil
}
