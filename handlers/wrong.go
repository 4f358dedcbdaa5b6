package handlers

import (
	"context"
	"fmt"

	"github.com/dispatch-oss/dispatch/alerts"
)

// ActionWrong is the action ID of the "not about me" button, shown when the alarm's actions name
// a "wrong" label.
const ActionWrong = "dispatch_wrong"

// escalationWhy is the page's reason for an answer that escalates, naming who answered.
func escalationWhy(task AnswerTask, who person) string {
	if why := mfaWhy(task, who); why != "" {
		return why
	}
	if task.Wrong {
		return who.String() + " says this alarm is not about them"
	}
	return who.String() + " answered No"
}

// severityOf is the page's severity: a "not about me" is a misrouted alarm, not an attack in
// progress, so it pages as a warning. Not where a Yes needs a Duo push (task.Guarded): there the
// button is what a stolen session would press instead of a Yes it can't pass, so it pages as
// critically as a No.
func severityOf(task AnswerTask) string {
	if task.Wrong && !task.Guarded {
		return "warning"
	}
	return "critical"
}

// pagedAs says how a "not about me" paged, for the issue and the fallback channel.
func pagedAs(task AnswerTask) string {
	if severityOf(task) == "critical" {
		return "critical, as a Yes to this alarm needs a Duo push"
	}
	return "a warning"
}

// answerLabel heads the answer's comment on the issue.
func answerLabel(task AnswerTask) string {
	switch {
	case task.Wrong:
		return "Not about me"
	case task.MFA != nil && !task.MFA.Counts():
		return "Yes, not confirmed"
	}
	return answerWord(task.Yes)
}

// answerWhat is the comment's account of the answer, given the plain one.
func answerWhat(task AnswerTask, plain string) string {
	note := mfaNote(task)
	switch {
	case task.Wrong && task.Ticket.Test:
		return "said this alarm is **not about them**. This is a `/dispatch test` alarm, so PagerDuty was not paged."
	case task.Wrong:
		return fmt.Sprintf("said this alarm is **not about them**; paged as %s (incident dedup key `%s`).", pagedAs(task), escalationKey(task.Ticket))
	case task.MFA != nil && !task.MFA.Counts():
		return fmt.Sprintf("answered Yes, but it did not count: %s Escalated to PagerDuty (incident dedup key `%s`).", note, escalationKey(task.Ticket))
	case note != "":
		return plain + " " + note
	}
	return plain
}

// settledText is the DM's last word for answers other than a plain Yes or No ("" for those).
func settledText(task AnswerTask) string {
	at := task.At.Format("15:04 MST, 2 Jan")
	switch {
	case task.Wrong:
		return fmt.Sprintf("You answered *not about me* at %s. The on-call responder was told this alarm reached the wrong person.", at)
	case task.MFA == nil:
		return ""
	case !task.MFA.Counts():
		return fmt.Sprintf("You answered *Yes* at %s, but it did not count: %s This has been escalated to the on-call responder.", at, mfaShortfall(task)+".")
	case task.MFA.Result == MFAReused:
		return fmt.Sprintf("You answered *Yes* at %s (Duo push reused from %s). %s", at, task.MFA.At.In(task.At.Location()).Format("15:04"), task.Ticket.YesResponse)
	}
	return fmt.Sprintf("You answered *Yes* at %s, confirmed with Duo. %s", at, task.Ticket.YesResponse)
}

// DefaultWrongShort labels the App Home's "not about me" button.
const DefaultWrongShort = "Not about me"

// withAnswerOptions copies the alarm's answer options into its ticket: "mfa", "reason", whether
// it has a "not about me" button, and its title for the Duo push.
func withAnswerOptions(t *Ticket, a *alerts.Alarm) {
	if a.MFA != nil {
		t.MFA = MFAOff
		if *a.MFA {
			t.MFA = MFAOn
		}
	}
	if a.Reason != alerts.ReasonNo {
		t.Reason = a.Reason
	}
	t.Wrong = a.Actions.Wrong != ""
	t.Subject = shorten(a.Summary(), 100)
}

// announceWrong tells the fallback channel that an alarm reached someone it isn't about, so the
// people who route alarms can fix the routing.
func (r *Router) announceWrong(ctx context.Context, task AnswerTask) {
	if r.cfg.FallbackChannel == "" {
		return
	}
	r.notices.add(ctx, Message{
		Key:   "wrong/" + task.Ticket.Alarm + "/" + task.UserID,
		Title: "An alarm reached the wrong person",
		Body:  fmt.Sprintf("%s says alarm %s (%s) is not about them.", task.UserID, task.Ticket.Alarm, task.Ticket.Subject),
		Note:  "paged as " + pagedAs(task) + "; the issue records the answer",
	})
}
