package fakeslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit limits Slack enforces with invalid_blocks (see NOTES.md).
const (
	maxMessageBlocks   = 50
	maxViewBlocks      = 100
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxActionsElements = 25
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxButtonURL       = 3000
	maxID              = 255
)

// blockChecker collects invalid_blocks problems in Slack's wording.
type blockChecker struct {
	problems []string
}

func (bc *blockChecker) errorf(pointer, format string, args ...any) {
	bc.problems = append(bc.problems, fmt.Sprintf("[ERROR] "+format+" [json-pointer:%s]", append(args, pointer)...))
}

// textLen checks that obj[key] is a text object whose text has 1..limit characters.
func (bc *blockChecker) textLen(obj map[string]any, key, pointer string, limit int) {
	t, ok := obj[key].(map[string]any)
	if !ok {
		bc.errorf(pointer+"/"+key, "must be a text object")
		return
	}
	text, _ := t["text"].(string)
	if n := utf8.RuneCountInString(text); n == 0 || n > limit {
		bc.errorf(pointer+"/"+key+"/text", "must be between 1 and %d characters, got %d", limit, n)
	}
}

// normalizeBlocks validates blocks against Block Kit's limits and fills in the block_id and
// action_id Slack generates when a client leaves them out. It returns the blocks to store and
// the problems found; any problem means Slack would answer invalid_blocks.
func normalizeBlocks(raw json.RawMessage, maxBlocks int) (json.RawMessage, []string) {
	bc := &blockChecker{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as sent
	var blocks []any
	if err := dec.Decode(&blocks); err != nil {
		bc.errorf("/blocks", "must be a JSON array of blocks")
		return nil, bc.problems
	}
	if len(blocks) > maxBlocks {
		bc.errorf("/blocks", "must provide no more than %d items", maxBlocks)
	}
	seenBlockIDs := map[string]bool{}
	for i, b := range blocks {
		ptr := fmt.Sprintf("/blocks/%d", i)
		block, ok := b.(map[string]any)
		if !ok {
			bc.errorf(ptr, "must be an object")
			continue
		}
		typ, _ := block["type"].(string)
		if typ == "" {
			bc.errorf(ptr+"/type", "must be a string")
		}
		id, isString := block["block_id"].(string)
		switch {
		case block["block_id"] == nil:
			id = randomHex(5)
			block["block_id"] = id
		case !isString:
			bc.errorf(ptr+"/block_id", "must be a string")
		case utf8.RuneCountInString(id) > maxID:
			bc.errorf(ptr+"/block_id", "must be less than %d characters", maxID+1)
		case seenBlockIDs[id]:
			bc.errorf(ptr+"/block_id", "duplicate block_id %q", id)
		}
		seenBlockIDs[id] = true
		bc.block(typ, block, ptr)
	}
	if len(bc.problems) > 0 {
		return nil, bc.problems
	}
	out, _ := json.Marshal(blocks)
	return out, nil
}

func (bc *blockChecker) block(typ string, block map[string]any, ptr string) {
	switch typ {
	case "section":
		if _, ok := block["text"]; ok {
			bc.textLen(block, "text", ptr, maxSectionText)
		}
		if fields, ok := block["fields"].([]any); ok {
			if len(fields) > maxSectionFields {
				bc.errorf(ptr+"/fields", "must provide no more than %d items", maxSectionFields)
			}
			for j, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					if text, _ := fm["text"].(string); utf8.RuneCountInString(text) > maxFieldText {
						bc.errorf(fmt.Sprintf("%s/fields/%d/text", ptr, j), "must be less than %d characters", maxFieldText+1)
					}
				}
			}
		}
		if _, hasText := block["text"]; !hasText && block["fields"] == nil {
			bc.errorf(ptr, "must contain text or fields")
		}
		if acc, ok := block["accessory"].(map[string]any); ok {
			bc.element(acc, ptr+"/accessory", map[string]bool{})
		}
	case "header":
		bc.textLen(block, "text", ptr, maxHeaderText)
	case "actions":
		elems, _ := block["elements"].([]any)
		if len(elems) == 0 || len(elems) > maxActionsElements {
			bc.errorf(ptr+"/elements", "must provide between 1 and %d items", maxActionsElements)
		}
		seen := map[string]bool{}
		for j, e := range elems {
			if em, ok := e.(map[string]any); ok {
				bc.element(em, fmt.Sprintf("%s/elements/%d", ptr, j), seen)
			}
		}
	}
}

// element checks an interactive element and gives it an action_id if it has none; seen holds
// the action_ids already used in the same block, which Slack requires to be unique.
func (bc *blockChecker) element(el map[string]any, ptr string, seen map[string]bool) {
	typ, _ := el["type"].(string)
	if typ == "image" {
		return // not interactive: no action_id
	}
	id, isString := el["action_id"].(string)
	switch {
	case el["action_id"] == nil:
		id = randomHex(5)
		el["action_id"] = id
	case !isString:
		bc.errorf(ptr+"/action_id", "must be a string")
	case utf8.RuneCountInString(id) > maxID:
		bc.errorf(ptr+"/action_id", "must be less than %d characters", maxID+1)
	case seen[id]:
		bc.errorf(ptr+"/action_id", "duplicate action_id %q in block", id)
	}
	seen[id] = true
	if typ != "button" {
		return
	}
	bc.textLen(el, "text", ptr, maxButtonText)
	if t, ok := el["text"].(map[string]any); ok && t["type"] != "plain_text" {
		bc.errorf(ptr+"/text/type", "must be plain_text")
	}
	if v, ok := el["value"].(string); ok && utf8.RuneCountInString(v) > maxButtonValue {
		bc.errorf(ptr+"/value", "must be less than %d characters", maxButtonValue+1)
	}
	if u, ok := el["url"].(string); ok && utf8.RuneCountInString(u) > maxButtonURL {
		bc.errorf(ptr+"/url", "must be less than %d characters", maxButtonURL+1)
	}
	if st, ok := el["style"]; ok && st != "primary" && st != "danger" {
		bc.errorf(ptr+"/style", "must be one of primary, danger")
	}
}

// button is a button element found in stored blocks.
type button struct {
	blockID string
	element map[string]any
}

// findButton returns the first button with actionID (and, when value is not empty, that
// value) in an "actions" block's elements or a "section" block's accessory.
func findButton(blocks json.RawMessage, actionID, value string) (button, bool) {
	dec := json.NewDecoder(bytes.NewReader(blocks))
	dec.UseNumber()
	var list []map[string]any
	if len(blocks) == 0 || dec.Decode(&list) != nil {
		return button{}, false
	}
	for _, b := range list {
		var candidates []any
		switch b["type"] {
		case "actions":
			candidates, _ = b["elements"].([]any)
		case "section":
			candidates = []any{b["accessory"]}
		}
		for _, c := range candidates {
			el, ok := c.(map[string]any)
			if !ok || el["type"] != "button" || el["action_id"] != actionID {
				continue
			}
			if v, _ := el["value"].(string); value != "" && v != value {
				continue
			}
			id, _ := b["block_id"].(string)
			return button{blockID: id, element: el}, true
		}
	}
	return button{}, false
}

// actionJSON renders the button as the "actions" entry of a block_actions payload.
func (b button) actionJSON(ts string) map[string]any {
	text, _ := b.element["text"].(map[string]any)
	label, _ := text["text"].(string)
	emoji := true
	if e, ok := text["emoji"].(bool); ok {
		emoji = e
	}
	a := map[string]any{
		"action_id": b.element["action_id"],
		"block_id":  b.blockID, // must be a string for slack-go to put it in BlockActions
		"text":      map[string]any{"type": "plain_text", "text": label, "emoji": emoji},
		"type":      "button",
		"action_ts": ts,
	}
	if v, ok := b.element["value"]; ok {
		a["value"] = v
	}
	if st, ok := b.element["style"]; ok {
		a["style"] = st
	}
	return a
}
