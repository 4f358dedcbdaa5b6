package handlers

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
)

// ClosedOnGitHub settles the DM of a self-service alarm whose issue someone closed on GitHub (by
// is their login): its buttons go and it says who closed it. The reminder and the escalation, which
// read the issue when they come due, then find nothing to do, and a late click is told the alarm
// was closed. Issues of other alarm types, and prompts never sent, are left alone. It returns an
// error only when Slack failed, so the caller may try again.
func (r *Router) ClosedOnGitHub(ctx context.Context, is Issue, by string) error {
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
		return fmt.Errorf("find the prompt of a closed issue: %w", err)
	}
	if !found {
		return nil
	}
	if err := r.chat.Settle(ctx, ref, fmt.Sprintf("Closed on GitHub by @%s: no answer is needed any more. The buttons no longer work.", by)); err != nil {
		return fmt.Errorf("settle the prompt of a closed issue: %w", err)
	}
	log.Info().Str("closed_by", by).Msg("issue closed on GitHub: prompt settled")
	r.refreshHome(ctx, mk.Slack)
	return nil
}
