package handlers

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
)

// ChangedOnGitHub settles the DM of a pending self-service alarm whose issue someone (by is their
// login) closed on GitHub (label "") or labelled LabelEscalated there: its buttons go and it says
// who did what. The reminder and the escalation, which read the issue when they come due, then find
// nothing to do, and a late click is told the alarm was answered or closed. Issues of other alarm
// types, and prompts never sent, are left alone. It returns an error only when Slack failed, so the
// caller may try again.
func (r *Router) ChangedOnGitHub(ctx context.Context, is Issue, by, label string) error {
	mk, ok := findMarker(is.Body)
	if !ok || mk.Slack == "" || !is.HasLabel(LabelDispatch) {
		return nil
	}
	// Only dispatch's own issue settles a prompt: anyone can open one with a copied marker.
	if own, err := r.ours(ctx, is.Author); err != nil || !own {
		return err
	}
	log := zerolog.Ctx(ctx).With().Str("alarm_id", mk.Alarm).Str("user", mk.Slack).Int("issue", is.Number).Logger()
	ctx = log.WithContext(ctx)
	unlock := r.locks.Lock(answerLock(Ticket{Alarm: mk.Alarm, User: mk.Slack}))
	defer unlock()
	ref, found, err := r.chat.Sent(ctx, mk.Slack, mk.Alarm+"/"+mk.User)
	if err != nil {
		return fmt.Errorf("find the prompt of an issue changed on GitHub: %w", err)
	}
	if !found {
		return nil
	}
	what := fmt.Sprintf("Closed on GitHub by @%s", by)
	if label != "" {
		what = fmt.Sprintf("Labelled %s on GitHub by @%s", label, by)
	}
	if err := r.chat.Settle(ctx, ref, what+": no answer is needed any more. The buttons no longer work."); err != nil {
		return fmt.Errorf("settle the prompt of an issue changed on GitHub: %w", err)
	}
	log.Info().Str("by", by).Str("label", label).Msg("issue changed on GitHub: prompt settled")
	r.refreshHome(ctx, mk.Slack)
	return nil
}
