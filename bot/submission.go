package bot

import (
	"context"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/slackapi"
)

// notSavedText is shown under the reason's input when its words could not be made durable: the
// modal stays open with them, and the user can submit again.
const notSavedText = "dispatch could not save this just now. Please submit again in a moment."

// submission takes a submitted reason modal: its words are made durable (a signed task on the
// queue) before the ack, which closes the modal, and recorded after it. Words that can't be made
// durable are acked with an error on the input (response_action "errors"): the modal stays open
// and nothing was promised. Other views are not dispatch's.
func (s *socket) submission(ctx context.Context, evt socketmode.Event, cb slack.InteractionCallback) {
	if cb.View.CallbackID != slackapi.ReasonCallbackID {
		s.ack(evt)
		return
	}
	sub := handlers.Submission{UserID: cb.User.ID, Metadata: cb.View.PrivateMetadata}
	if cb.View.State != nil {
		sub.Text = cb.View.State.Values[slackapi.ReasonBlockID][slackapi.ReasonActionID].Value
	}
	ctx = s.log.WithContext(ctx) // TakeReason adds the user and the alarm to the log context itself
	run, err := s.use.TakeReason(ctx, sub)
	if err != nil {
		s.metrics.Reasons.WithLabelValues("failed").Inc()
		s.log.Error().Err(err).Str("user", cb.User.ID).Msg("reason not made durable: the modal stays open with an error")
		s.ack(evt, slack.NewErrorsViewSubmissionResponse(map[string]string{slackapi.ReasonBlockID: notSavedText}))
		return
	}
	s.ack(evt)
	s.async(ctx, "reason", func(context.Context) error {
		err := run()
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
