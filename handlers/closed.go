package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/retry"
)

// ChangedOnGitHub settles the DM of a pending self-service alarm whose issue someone (by is their
// login) closed on GitHub (label "") or labelled LabelEscalated there: its buttons go and it says
// who did what. The reminder and the escalation, which read the issue when they come due, then find
// nothing to do, and a late click is told the alarm was answered or closed. Issues of other alarm
// types, prompts never sent, and alarms already answered or escalated (dispatch's own comment on
// the issue says so: the DM shows that outcome and keeps it) are left alone. Labels don't decide
// whose the issue is (a triager can remove them): its author and marker do.
//
// It returns an error only when trying again may succeed (a transient GitHub or Slack failure). A
// failure that will recur every time (the user was deactivated, so Slack refuses to open their DM;
// the DM is gone) is logged and ends here, so the caller never retries it for ever.
func (r *Router) ChangedOnGitHub(ctx context.Context, is Issue, by, label string) error {
	mk, ok := findMarker(is.Body)
	if !ok || mk.Slack == "" {
		return nil
	}
	// Only dispatch's own issue settles a prompt: anyone can open one with a copied marker.
	if own, err := r.ours(ctx, is.Author); err != nil || !own {
		return err
	}
	log := zerolog.Ctx(ctx).With().Str("alarm_id", mk.Alarm).Str("user", mk.Slack).Int("issue", is.Number).Logger()
	ctx = log.WithContext(ctx)
	t := Ticket{Alarm: mk.Alarm, User: mk.Slack}
	unlock := r.locks.Lock(answerLock(t))
	defer unlock()
	answered, err := r.answeredOn(ctx, is, t)
	if err != nil {
		return changeFailed(ctx, fmt.Errorf("read the comments of an issue changed on GitHub: %w", err))
	}
	if answered {
		log.Info().Str("by", by).Str("label", label).Msg("issue changed on GitHub after its alarm was answered or escalated: the DM keeps that")
		return nil
	}
	ref, found, err := r.chat.Sent(ctx, mk.Slack, mk.Alarm+"/"+mk.User)
	if err != nil {
		return changeFailed(ctx, fmt.Errorf("find the prompt of an issue changed on GitHub: %w", err))
	}
	if !found {
		return nil
	}
	what := fmt.Sprintf("Closed on GitHub by @%s", by)
	if label != "" {
		what = fmt.Sprintf("Labelled %s on GitHub by @%s", label, by)
	}
	if err := r.chat.Settle(ctx, ref, what+": no answer is needed any more. The buttons no longer work."); err != nil {
		return changeFailed(ctx, fmt.Errorf("settle the prompt of an issue changed on GitHub: %w", err))
	}
	log.Info().Str("by", by).Str("label", label).Msg("issue changed on GitHub: prompt settled")
	r.refreshHome(ctx, mk.Slack)
	return nil
}

// answeredOn reports whether dispatch recorded t's answer on the issue, or escalated it for want of
// one: only then does one of dispatch's own comments carry that step's marker (written last).
func (r *Router) answeredOn(ctx context.Context, is Issue, t Ticket) (bool, error) {
	comments, err := r.ownComments(ctx, is.Repo, is.Number)
	if err != nil {
		return false, err
	}
	escalated := "<!-- dispatch " + TaskEscalate + " alarm=" + t.Alarm + " user=" + t.User + " -->"
	for _, c := range comments {
		if strings.Contains(c, answerMarker(t)) || strings.Contains(c, escalated) {
			return true, nil
		}
	}
	return false, nil
}

// changeFailed returns a transient failure for the caller to try again, and logs and ends a
// permanent one.
func changeFailed(ctx context.Context, err error) error {
	if !retry.IsPermanent(err) {
		return err
	}
	zerolog.Ctx(ctx).Error().Err(err).Msg("a change made on GitHub can never settle its prompt: given up")
	return nil
}
