package slackapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
)

// maxHomeBlocks is Block Kit's limit for a Home tab.
const maxHomeBlocks = 100

// maxHomeWait is the longest a Home publish waits for views.publish's limit; beyond it the open
// is shed (the user sees their previous Home, and the next open brings it up to date).
const maxHomeWait = 5 * time.Second

// ErrHomeShed is returned by PublishHome when views.publish is so busy that the publish was
// dropped rather than queued.
var ErrHomeShed = errors.New("views.publish is at its rate limit: home not refreshed")

// homeQueue coalesces Home publishes per user: while one waits for its turn, a newer open of the
// same user replaces its view instead of queueing another call.
type homeQueue struct {
	mu      sync.Mutex
	pending map[string]*handlers.HomeView
}

// PublishHome renders a user's App Home tab (views.publish). It never queues behind more than one
// publish per user: a publish already waiting for the same user takes v instead (and PublishHome
// returns nil), and when views.publish's limit would hold it longer than maxHomeWait it returns
// ErrHomeShed at once. Home opens use their own budget (views.publish), never chat.* calls'.
func (c *Client) PublishHome(ctx context.Context, v handlers.HomeView) error {
	q := &c.homes
	q.mu.Lock()
	if waiting, ok := q.pending[v.UserID]; ok {
		*waiting = v
		q.mu.Unlock()
		return nil
	}
	p := c.pace["views.publish"]
	if p.Delay() > maxHomeWait {
		q.mu.Unlock()
		return ErrHomeShed
	}
	latest := &v
	q.pending[v.UserID] = latest
	q.mu.Unlock()
	take := func() slack.HomeTabViewRequest {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.pending[v.UserID] == latest {
			delete(q.pending, v.UserID) // a later open waits for its own turn
		}
		return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: renderHome(*latest)}}
	}
	taken := false
	defer func() {
		if !taken {
			take()
		}
	}()
	return wrap("views.publish", c.call(ctx, "views.publish", func(ctx context.Context) error {
		view := take()
		taken = true
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
