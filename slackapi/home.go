package slackapi

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
)

// maxHomeBlocks is Block Kit's limit for a Home tab.
const maxHomeBlocks = 100

// PublishHome renders a user's App Home tab (views.publish).
func (c *Client) PublishHome(ctx context.Context, v handlers.HomeView) error {
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: renderHome(v)}}
	return wrap("views.publish", c.call(ctx, "views.publish", func(ctx context.Context) error {
		_, err := c.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: v.UserID, View: view})
		return err
	}))
}

func renderHome(v handlers.HomeView) []slack.Block {
	header := func(text string) slack.Block {
		return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, text, false, false))
	}
	entry := func(e handlers.HomeEntry, id string) slack.Block {
		title := cut(Escape(e.Title), 500)
		if e.Link != nil {
			title = link(e.Link.URL, e.Title)
		}
		return section(cut(fmt.Sprintf("%s\n_%s_", title, Escape(e.Status)), maxSectionText), id)
	}
	blocks := []slack.Block{header("Waiting for your answer")}
	if len(v.Pending) == 0 {
		blocks = append(blocks, section("Nothing waits for your answer.", "dispatch_home_none"))
	}
	for i, e := range v.Pending {
		blocks = append(blocks, entry(e, fmt.Sprintf("dispatch_home_pending_%d", i)))
		if len(e.Buttons) > 0 {
			var elems []slack.BlockElement
			for _, b := range e.Buttons {
				btn := slack.NewButtonBlockElement(b.ActionID, b.Value, slack.NewTextBlockObject(slack.PlainTextType, cut(b.Label, maxButtonText), false, false))
				btn.Style = slack.Style(b.Style)
				elems = append(elems, btn)
			}
			blocks = append(blocks, slack.NewActionBlock(fmt.Sprintf("dispatch_home_actions_%d", i), elems...))
		}
	}
	blocks = append(blocks, slack.NewDividerBlock(), header("Your recent answers"))
	if len(v.Recent) == 0 {
		blocks = append(blocks, section("None yet.", "dispatch_home_no_recent"))
	}
	for i, e := range v.Recent {
		blocks = append(blocks, entry(e, fmt.Sprintf("dispatch_home_recent_%d", i)))
	}
	if len(blocks) > maxHomeBlocks {
		blocks = blocks[:maxHomeBlocks]
	}
	return blocks
}
