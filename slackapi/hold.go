package slackapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
)

// holdBlockPrefix starts the block ID of a held prompt's notice; the rest is the Unix second the
// hold runs out. Only the bot can edit its own message, so every replica can trust the notice (a
// member posting their own look-alike has no bot_id of dispatch's, see Holds).
const holdBlockPrefix = "dispatch_hold_"

// Hold replaces the prompt's buttons with text until until, and returns the message as it was (its
// Blocks), for Release. Holding a held prompt again only changes the text.
func (c *Client) Hold(ctx context.Context, ref handlers.MessageRef, text string, until time.Time) (handlers.MessageRef, error) {
	blocks, err := c.blocksOf(ctx, ref)
	if err != nil {
		return handlers.MessageRef{}, err
	}
	before, err := json.Marshal(blocks)
	if err != nil {
		return handlers.MessageRef{}, fmt.Errorf("slack hold: encode blocks: %w", err)
	}
	held := settledAs(blocks.BlockSet, text, holdBlockPrefix+strconv.FormatInt(until.Unix(), 10))
	if err := c.update(ctx, ref, held); err != nil {
		return handlers.MessageRef{}, err
	}
	return handlers.MessageRef{Channel: ref.Channel, TS: ref.TS, Blocks: before}, nil
}

// Release puts back the blocks Hold returned: the buttons are live again. The fallback text was
// never changed.
func (c *Client) Release(ctx context.Context, before handlers.MessageRef) error {
	var blocks slack.Blocks
	if err := json.Unmarshal(before.Blocks, &blocks); err != nil {
		return fmt.Errorf("slack release: decode blocks: %w", err)
	}
	return c.update(ctx, before, blocks.BlockSet)
}

func (c *Client) update(ctx context.Context, ref handlers.MessageRef, blocks []slack.Block) error {
	return wrap("chat.update", c.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, slack.MsgOptionBlocks(blocks...))
		return err
	}))
}

// Holds reads the user's recent DMs (one conversations.history) and returns, by message key, until
// when each of dispatch's held prompts is held, run out or not.
func (c *Client) Holds(ctx context.Context, userID string) (map[string]time.Time, error) {
	_, msgs, bot, err := c.recent(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, m := range msgs {
		if m.BotID != bot || m.Metadata.EventType != metadataEventType {
			continue
		}
		for _, b := range m.Blocks.BlockSet {
			id, ok := strings.CutPrefix(blockIDOf(b), holdBlockPrefix)
			if !ok {
				continue
			}
			if sec, err := strconv.ParseInt(id, 10, 64); err == nil {
				out[fmt.Sprint(m.Metadata.EventPayload["key"])] = time.Unix(sec, 0)
			}
		}
	}
	return out, nil
}
