package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// recipient is an alarm's user with their Slack ID, or the reason they couldn't be found.
type recipient struct {
	User    alerts.User
	Key     string // stable per user within the alarm, for markers and message keys
	SlackID string // "" when not found
	Missing error
}

// resolveAll finds every user on Slack. A user who doesn't exist is kept, marked missing; any other
// failure fails the alarm (nothing has been raised yet, so it is safe to retry).
func (r *Router) resolveAll(ctx context.Context, a *alerts.Alarm) ([]recipient, error) {
	if !a.Type.NeedsUsers() {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []recipient
	for _, u := range a.Users {
		key := strings.ToLower(u.Label())
		if seen[key] {
			continue
		}
		seen[key] = true
		rc := recipient{User: u, Key: key}
		id, err := r.chat.Resolve(ctx, u)
		switch {
		case errors.Is(err, ErrUnknownUser):
			rc.Missing = err
			zerolog.Ctx(ctx).Warn().Str("user", u.Label()).Err(err).Msg("user not found on Slack")
		case err != nil:
			return nil, fmt.Errorf("resolve slack user %s: %w", u.Label(), err)
		default:
			rc.SlackID = id
		}
		out = append(out, rc)
	}
	return out, nil
}

// selfService puts a self-service alarm to each of its users. Each effect waits only for its own
// service (docs/RELIABILITY.md, section 0): the issue is filed first when GitHub answers (so the DM
// links it), else the prompt goes first and the issue follows as a task; the prompt goes now when
// Slack answers, else as a task; the deadlines count from the alarm's publish time whatever is
// down.
func (r *Router) selfService(ctx context.Context, a *alerts.Alarm, id, repo string, rcs []recipient, mine []Issue, redelivered bool) error {
	for _, rc := range rcs {
		// The title rides along so an escalation can name the alarm while GitHub is down.
		t := Ticket{Alarm: id, User: rc.SlackID, Key: rc.Key, Repo: repo, Title: a.GitHubTitle, Service: a.PagerDutyServiceID,
			YesResponse: a.Actions.YesResponse, NoResponse: a.Actions.NoResponse, Test: r.isTest(a)}
		withAnswerOptions(&t, a) // issue 19
		mk := marker{Alarm: id, User: rc.Key, Slack: rc.SlackID}
		if rc.SlackID != "" {
			mk.Ticket = t.Encode(r.cfg.TaskKeys)
		}
		ni := r.selfServiceIssue(a, id, rc)
		mayGoFirst := rc.SlackID != "" && !hasMarker(mine, rc.Key)
		goFirst := mayGoFirst && (r.githubOut(ctx) || r.issues.CreateDelay() > inlineIssueWait)
		var is Issue
		var resumed bool
		var err error
		if !goFirst {
			ictx := ctx
			if mayGoFirst {
				ictx = context.WithValue(ctx, inlineCreateKey{}, inlineIssueWait)
			}
			is, resumed, err = r.ensureIssue(ictx, repo, mk, mine, ni, false)
			// Alarms racing for the last places of GitHub's window all saw no delay above: the
			// ones that lost go first after all, rather than wait the window out. So does an alarm
			// GitHub fails for: its user is asked while GitHub is down.
			goFirst = mayGoFirst && (errors.Is(err, pace.ErrWouldWait) || (err != nil && !retry.IsPermanent(err) && !errors.As(err, new(*supersededError))))
		}
		var dm MessageRef
		if goFirst {
			dm, err = r.promptFirst(ctx, a, id, repo, rc, t, redelivered, ni, mk)
			if !errors.Is(err, ErrCannotDM) {
				if err != nil {
					return err
				}
				t.Title = a.GitHubTitle
				if err := r.schedule(ctx, a, t, dm); err != nil {
					return err
				}
				continue
			}
			rc = cannotDM(ctx, rc, err)
			mk, ni = marker{Alarm: id, User: rc.Key}, r.selfServiceIssue(a, id, rc)
			is, resumed, err = r.ensureIssue(ctx, repo, mk, mine, ni, false)
		}
		if err != nil {
			return err
		}
		if rc.SlackID == "" {
			if err := r.unreachable(ctx, a, id, is, []recipient{rc}, resumed); err != nil {
				return err
			}
			continue
		}
		if resumed {
			t = r.filedTicket(t, is)
		}
		t.Issue = is.Number
		p := r.promptTask(ctx, a, t, r.promptMessage(a, id, rc, t, issueLink(is)))
		dm, err = r.promptStep(ctx, p, resumed || redelivered)
		if errors.Is(err, ErrCannotDM) {
			if err := r.unreachable(ctx, a, id, is, []recipient{cannotDM(ctx, rc, err)}, resumed); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := r.schedule(ctx, a, t, dm); err != nil {
			return err
		}
	}
	return nil
}

// filedTicket is the ticket dispatch filed in is's marker when the alarm first came, if it verifies
// and is t's, else t. A later delivery under the same requestId and title finds that issue, but its
// content is the publisher's: a decoy's pagerDutyServiceId (or its lack of a test signature) must
// not steer the escalation of the alarm the user was asked about.
func (r *Router) filedTicket(t Ticket, is Issue) Ticket {
	mk, ok := findMarker(is.Body)
	if !ok || mk.Ticket == "" {
		return t
	}
	filed, err := DecodeTicket(mk.Ticket, r.cfg.TaskKeys)
	if err != nil || filed.Alarm != t.Alarm || filed.User != t.User || !strings.EqualFold(filed.Repo, t.Repo) {
		return t
	}
	return filed
}

// promptTask is the prompt step of a self-service alarm: m to the ticket's user.
func (r *Router) promptTask(ctx context.Context, a *alerts.Alarm, t Ticket, m Message) PromptTask {
	p := PromptTask{Ticket: t, Message: m, Published: publishedAt(ctx), Since: r.now().UTC()}
	if _, escalate := r.deadlines(a); escalate > 0 {
		p.EscalateAt = r.dueAt(ctx, escalate)
	}
	return p
}

// promptMessage is a self-service DM: the message, the issue's link when there is one, the prompt
// and the two buttons, both carrying the ticket.
func (r *Router) promptMessage(a *alerts.Alarm, id string, rc recipient, t Ticket, link *Link) Message {
	value := t.Encode(r.cfg.TaskKeys)
	m := Message{
		Key:    id + "/" + rc.Key,
		Body:   a.SlackMessage,
		Link:   link,
		Prompt: a.SlackPrompt,
		Buttons: []Button{
			{ActionID: ActionYes, Label: a.Actions.Yes, Value: value, Style: "primary"},
			{ActionID: ActionNo, Label: a.Actions.No, Value: value, Style: "danger"},
		},
		Note: "dispatch alarm " + id,
	}
	if a.Actions.Wrong != "" {
		m.Buttons = append(m.Buttons, Button{ActionID: ActionWrong, Label: a.Actions.Wrong, Value: value})
	}
	return m
}

// hasMarker reports whether one of the issues is the one made for userKey.
func hasMarker(issues []Issue, userKey string) bool {
	for _, is := range issues {
		if mk, ok := findMarker(is.Body); ok && mk.User == userKey {
			return true
		}
	}
	return false
}

// broadcast DMs every user the alarm's message, on its issue. The DMs wait only for Slack: while
// GitHub is down or failing they go first, and the issue follows (tellFirst). A redelivery looks for
// the DMs before it sends them (the first delivery may have sent them before the issue).
func (r *Router) broadcast(ctx context.Context, a *alerts.Alarm, id, repo string, rcs []recipient, mine []Issue, redelivered bool) error {
	ni := r.broadcastIssue(a, id, rcs)
	if !r.githubOut(ctx) {
		is, resumed, err := r.ensureIssue(ctx, repo, marker{Alarm: id}, mine, ni, false)
		if !githubFailing(err) {
			if err != nil {
				return err
			}
			return r.tell(ctx, a, id, is, rcs, resumed || redelivered)
		}
		zerolog.Ctx(ctx).Warn().Err(err).Msg("GitHub is failing: the DMs go first, the issue follows")
	}
	return r.tellFirst(ctx, a, id, rcs, redelivered, FileTask{Repo: repo, Issue: ni, Alarm: id})
}

// githubFailing reports whether err is GitHub failing transiently (not a refusal, not an issue
// superseded by another replica's): the DMs need not wait for it.
func githubFailing(err error) bool {
	return err != nil && !retry.IsPermanent(err) && !errors.As(err, new(*supersededError))
}

// nag DMs every user every time, on the open issue with the alarm's title (or a new one). Each
// delivery is a new nag, even with the same requestId; only a redelivery of the same message is not.
// While GitHub is down or failing the DMs go first and the issue is found or opened after
// (tellFirst).
func (r *Router) nag(ctx context.Context, a *alerts.Alarm, id, deliveryID, repo string, rcs []recipient, existing []Issue) error {
	// A nag can't tell a redelivery from the next nag by its issue, so it always looks before it
	// DMs, for the key of this delivery.
	dms := id + "/" + deliveryID
	ni := r.nagIssue(a, id, rcs)
	if len(existing) > 0 {
		return r.tell(ctx, a, dms, existing[0], rcs, true)
	}
	if !r.githubOut(ctx) {
		is, _, err := r.ensureIssue(ctx, repo, marker{Alarm: id}, nil, ni, false)
		if sup, ok := errors.AsType[*supersededError](err); ok {
			is, err = sup.survivor, nil // another replica's nag issue, made at the same instant
		}
		if !githubFailing(err) {
			if err != nil {
				return err
			}
			return r.tell(ctx, a, dms, is, rcs, true)
		}
		zerolog.Ctx(ctx).Warn().Err(err).Msg("GitHub is failing: the DMs go first, the issue follows")
	}
	return r.tellFirst(ctx, a, dms, rcs, true, FileTask{Repo: repo, Issue: ni, Alarm: id, Nag: true})
}

// tell DMs the alarm's message, without buttons, to every recipient, and names the missing ones in
// the fallback channel.
func (r *Router) tell(ctx context.Context, a *alerts.Alarm, id string, is Issue, rcs []recipient, resumed bool) error {
	_, missing, err := r.dmAll(ctx, a, id, is, rcs, resumed, "")
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return r.unreachable(ctx, a, id, is, missing, resumed)
	}
	return nil
}

// tellFirst tells the alarm's users before its issue exists, while GitHub is down or failing: the
// DMs say the audit issue follows in their thread, and f, a file task, files the issue (or, for a
// nag, finds the open one) when GitHub answers and links it in each DM's thread. Every DM is keyed,
// the issue carries its marker and each link its reply key, so a redelivery of the alarm or of the
// task does nothing twice.
func (r *Router) tellFirst(ctx context.Context, a *alerts.Alarm, dms string, rcs []recipient, look bool, f FileTask) error {
	if r.tasks == nil {
		return errors.New("no task queue to file the issue later")
	}
	told, missing, err := r.dmAll(ctx, a, dms, Issue{}, rcs, look, " · GitHub is unavailable: the audit issue follows in this thread")
	if err != nil {
		return err
	}
	f.DMs, f.Told, f.Since = dms, told, r.now().UTC()
	// A crash before the issue's task is deferred redelivers the alarm, which finds its DMs.
	if err := r.tasks.Defer(ctx, Task{Kind: TaskFile, Delay: stepRetryDelay, File: &f}); err != nil {
		return fmt.Errorf("defer the issue: %w", err)
	}
	zerolog.Ctx(ctx).Info().Int("dms", len(told)).Msg("DMs before their issue")
	if len(missing) > 0 {
		return r.unreachable(ctx, a, dms, Issue{}, missing, look)
	}
	return nil
}

// dmAll DMs the alarm's message, without buttons, to every recipient (note ends each DM's note),
// and returns the DMs and the recipients that could not be reached.
func (r *Router) dmAll(ctx context.Context, a *alerts.Alarm, id string, is Issue, rcs []recipient, resumed bool, note string) (told []ToldDM, missing []recipient, err error) {
	for _, rc := range rcs {
		if rc.SlackID == "" {
			missing = append(missing, rc)
			continue
		}
		m := Message{Key: id + "/" + rc.Key, Body: a.SlackMessage, Link: issueLink(is), Note: "dispatch " + string(a.Type) + " " + id + note}
		dm, err := r.dmOnce(ctx, rc.SlackID, m, resumed)
		if errors.Is(err, ErrCannotDM) {
			missing = append(missing, cannotDM(ctx, rc, err))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		dm.Blocks = nil // the link finds the thread by its channel and ts
		told = append(told, ToldDM{User: rc.SlackID, Key: rc.Key, DM: dm})
	}
	return told, missing, nil
}

// cannotDM marks a recipient Slack refused a DM to as missing: they can't be reached, which is no
// reason to drop or retry the alarm.
func cannotDM(ctx context.Context, rc recipient, err error) recipient {
	zerolog.Ctx(ctx).Warn().Str("user", rc.SlackID).Err(err).Msg("user can't be sent a DM: treated as not reachable")
	rc.SlackID, rc.Missing = "", err
	return rc
}

// dmOnce sends m to a user unless an earlier delivery of the alarm already did, and returns the DM.
func (r *Router) dmOnce(ctx context.Context, userID string, m Message, resumed bool) (MessageRef, error) {
	if resumed {
		if ref, found, err := r.chat.Sent(ctx, userID, m.Key); err != nil {
			return MessageRef{}, fmt.Errorf("look for an earlier DM: %w", err)
		} else if found {
			zerolog.Ctx(ctx).Info().Str("user", userID).Msg("DM already sent by an earlier delivery")
			return ref, nil
		}
	}
	m.Note += lateNote(ctx, r.now())
	ref, err := r.chat.DM(ctx, userID, m)
	if err != nil {
		return MessageRef{}, fmt.Errorf("DM %s: %w", userID, err)
	}
	zerolog.Ctx(ctx).Info().Str("user", userID).Msg("DM sent")
	return ref, nil
}

// unreachable puts the alarm in the fallback channel for users who couldn't be found, without any
// buttons: anyone in a channel could click them.
func (r *Router) unreachable(ctx context.Context, a *alerts.Alarm, id string, is Issue, missing []recipient, resumed bool) error {
	var names, why []string
	for _, rc := range missing {
		names = append(names, rc.User.Label())
		why = append(why, rc.User.Label()+": "+unreachableReason(rc.Missing))
	}
	who := strings.Join(names, ", ")
	if r.cfg.FallbackChannel == "" {
		zerolog.Ctx(ctx).Error().Str("users", who).Msg("users not found on Slack and no fallback channel is set: the alarm reached them only through its issue")
		if len(missing) == len(a.Users) && a.Type != alerts.SelfService {
			return errNoRecipients
		}
		return nil
	}
	m := Message{
		Key:   id + "/unreachable/" + digest(who),
		Title: fmt.Sprintf("Could not reach %s on Slack", who),
		Body:  a.SlackMessage,
		Link:  issueLink(is),
		Note:  fmt.Sprintf("dispatch %s alarm %s · %s · reply on the issue", a.Type, id, strings.Join(why, "; ")),
	}
	if resumed {
		if _, found, err := r.chat.Sent(ctx, r.cfg.FallbackChannel, m.Key); err != nil {
			return fmt.Errorf("look for an earlier notice: %w", err)
		} else if found {
			return nil
		}
	}
	if _, err := r.chat.Post(ctx, r.cfg.FallbackChannel, m); err != nil {
		return fmt.Errorf("post to the fallback channel: %w", err)
	}
	return nil
}

// unreachableReason is why a user can't be reached, as the fallback channel shows it: the
// adapter's explanation ("2 slack users have the display or real name …") without the sentinels.
func unreachableReason(err error) string {
	if err == nil {
		return "not found on Slack"
	}
	msg := err.Error()
	for _, sentinel := range []error{ErrAmbiguousUser, ErrUnknownUser} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
	}
	return msg
}

func issueLink(is Issue) *Link {
	if is.URL == "" {
		return nil
	}
	return &Link{URL: is.URL, Text: fmt.Sprintf("%s#%d: %s", is.Repo, is.Number, is.Title)}
}

// rejectNotice describes an alarm that can't be routed, for the fallback channel. Its reason is cut
// to maxRejectExcerpt characters too: reasons quote what the publisher sent, and the whole reason is
// in the log and on the dead-lettered message.
func rejectNotice(in Inbound, reason error) Message {
	return Message{
		Key:   "rejected/" + in.DeliveryID,
		Title: "Rejected an alarm that can't be routed",
		Body:  shorten(strings.ToValidUTF8(reason.Error(), "\uFFFD"), maxRejectExcerpt) + "\n\n" + rejectExcerpt(in.Body),
		Note:  "delivery " + in.DeliveryID + " · moved to the dead-letter queue",
	}
}

// maxRejectExcerpt is how much of a rejected body, and of the reason, a notice shows: enough to
// recognise it, too little to carry anything whole.
const maxRejectExcerpt = 200

// rejectExcerpt is what a rejection notice shows of the body: nothing of one that looks like a
// dispatch task (a signed task shown in a channel could be replayed by any reader), else its first
// characters, quoted with Go's escapes so no control character, newline or quote shapes the notice.
func rejectExcerpt(body []byte) string {
	if looksLikeTask(body) {
		return "The message looks like a dispatch task: not shown (find it in the dead-letter queue)."
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	excerpt := shorten(s, maxRejectExcerpt)
	return fmt.Sprintf("Message (first %d characters, quoted): %s", maxRejectExcerpt, strconv.Quote(excerpt))
}

// looksLikeTask: the body names dispatch's task key, literally or through JSON escapes
// ("dispatch\u0054ask" decodes to the same key).
func looksLikeTask(body []byte) bool {
	if strings.Contains(strings.ToLower(string(body)), "dispatchtask") {
		return true
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	for k := range probe {
		if strings.EqualFold(k, "dispatchTask") {
			return true
		}
	}
	return false
}
