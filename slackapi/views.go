package slackapi

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
)

// Block and action IDs of the reason modal's input, which the submission is read back by.
const (
	ReasonCallbackID = "dispatch_reason"
	ReasonBlockID    = "reason"
	ReasonActionID   = "reason_text"
)

// OpenReason opens the "What happened?" modal with a click's trigger_id (views.open, Tier 4).
func (c *Client) OpenReason(ctx context.Context, triggerID string, m handlers.ReasonModal) error {
	input := slack.NewPlainTextInputBlockElement(nil, ReasonActionID)
	input.Multiline = true
	input.MaxLength = handlers.MaxReasonRunes
	block := slack.NewInputBlock(ReasonBlockID, slack.NewTextBlockObject(slack.PlainTextType, "Your words", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, m.Prompt, false, false), input)
	block.Optional = true
	view := slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ReasonCallbackID,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, m.Title, false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Send", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Skip", false, false),
		Blocks:          slack.Blocks{BlockSet: []slack.Block{block}},
		PrivateMetadata: m.Metadata,
	}
	return wrap("views.open", c.call(ctx, "views.open", func(ctx context.Context) error {
		_, err := c.api.OpenViewContext(ctx, triggerID, view)
		return err
	}))
}
