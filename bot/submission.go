package bot

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/slackapi"
)

// submission hands a submitted reason modal to the handlers, after the ack (which closes the
// modal: no response_action). Other views are not dispatch's.
func (s *socket) submission(ctx context.Context, cb slack.InteractionCallback) {
	if cb.View.CallbackID != slackapi.ReasonCallbackID {
		return
	}
	sub := handlers.Submission{UserID: cb.User.ID, Metadata: cb.View.PrivateMetadata}
	if cb.View.State != nil {
		sub.Text = cb.View.State.Values[slackapi.ReasonBlockID][slackapi.ReasonActionID].Value
	}
	log := s.log.With().Str("user", cb.User.ID).Logger()
	s.async(log.WithContext(ctx), "reason", func(ctx context.Context) error {
		err := s.use.Reason(ctx, sub)
		given := "given"
		if sub.Text == "" {
			given = "empty"
		}
		if err != nil {
			given = "failed"
		}
		s.metrics.Reasons.WithLabelValues(given).Inc()
		return err
	})
}
