package slackapi

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/dispatch-oss/dispatch/handlers"
)

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxBlocks       = 50
	maxSectionText  = 3000
	maxHeaderText   = 150
	maxButtonText   = 75
	maxContextText  = 2000
	maxFallbackText = 3000
	// maxBodySections bounds a long alarm body: the rest is cut, with a note.
	maxBodySections = 10
)

// PromptBlockID names the actions block of a self-service prompt. slack-go only lands a block
// action in BlockActions when its block_id is a string, so every block dispatch posts has one.
const PromptBlockID = "dispatch_prompt"

// Escape makes untrusted text inert in Slack mrkdwn: &, < and > become entities, so "<!channel>",
// "<@U123>" and "<https://evil|click>" show as text and ping or link nothing.
func Escape(s string) string { return escaper.Replace(s) }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// render lays a handlers.Message out as Block Kit, within Slack's limits, and a plain fallback text
// for notifications.
func render(m handlers.Message) ([]slack.Block, string) {
	var blocks []slack.Block
	if m.Title != "" {
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, cut(m.Title, maxHeaderText), false, false)))
	}
	for i, chunk := range chunks(Escape(m.Body), maxSectionText, maxBodySections) {
		blocks = append(blocks, section(chunk, blockID("body", i)))
	}
	if m.Link != nil && m.Link.URL != "" {
		blocks = append(blocks, section(link(m.Link.URL, m.Link.Text), "dispatch_link"))
	}
	if m.Prompt != "" {
		blocks = append(blocks, section("*"+cut(Escape(m.Prompt), maxSectionText-2)+"*", "dispatch_question"))
	}
	if len(m.Buttons) > 0 {
		var elems []slack.BlockElement
		for _, b := range m.Buttons {
			btn := slack.NewButtonBlockElement(b.ActionID, b.Value, slack.NewTextBlockObject(slack.PlainTextType, cut(b.Label, maxButtonText), false, false))
			btn.Style = slack.Style(b.Style)
			elems = append(elems, btn)
		}
		blocks = append(blocks, slack.NewActionBlock(PromptBlockID, elems...))
	}
	if m.Note != "" {
		blocks = append(blocks, slack.NewContextBlock("dispatch_note", mrkdwn(cut(Escape(m.Note), maxContextText))))
	}
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	fallback := m.Title
	if fallback == "" {
		fallback = m.Body
	}
	return blocks, cut(Escape(fallback), maxFallbackText)
}

// settled returns blocks with the buttons taken away and the outcome added.
func settled(blocks []slack.Block, outcome string) []slack.Block {
	return settledAs(blocks, outcome, "dispatch_outcome")
}

// settledAs is settled with the outcome's block ID given: a hold (holdBlockID) is an outcome too,
// which the next settling replaces.
func settledAs(blocks []slack.Block, outcome, id string) []slack.Block {
	out := make([]slack.Block, 0, len(blocks)+1)
	for _, b := range blocks {
		if b.BlockType() == slack.MBTAction || blockIDOf(b) == "dispatch_outcome" || strings.HasPrefix(blockIDOf(b), holdBlockPrefix) {
			continue
		}
		out = append(out, b)
	}
	out = append(out, section(cut(Escape(outcome), maxSectionText), id))
	if len(out) > maxBlocks {
		out = append(out[:maxBlocks-1], out[len(out)-1])
	}
	return out
}

// isSettled reports whether blocks carry an outcome (settled put it there): the prompt was answered
// or escalated.
func isSettled(blocks []slack.Block) bool {
	for _, b := range blocks {
		if blockIDOf(b) == "dispatch_outcome" {
			return true
		}
	}
	return false
}

func blockIDOf(b slack.Block) string {
	if s, ok := b.(*slack.SectionBlock); ok {
		return s.BlockID
	}
	return ""
}

func section(text, id string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(text), nil, nil, slack.SectionBlockOptionBlockID(id))
}

// mrkdwn is a verbatim mrkdwn text object: Slack then parses no bare "@channel", "#channel" or URL
// into a mention or a link, so only the <…> forms dispatch writes itself (links it built, user
// mentions it chose) are live; Escape makes the alarm's own <…> inert.
func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, true)
}

func blockID(prefix string, i int) string {
	return prefix + "_" + strconv.Itoa(i)
}

// link renders a link whose label is untrusted; a URL that could break out of <…|…> is shown as
// plain text instead.
func link(url, text string) string {
	if strings.ContainsAny(url, "<>| \n") || !(strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://")) {
		return Escape(text + " " + url)
	}
	return "<" + url + "|" + cut(Escape(text), 500) + ">"
}

// chunks splits s into at most n pieces of at most size bytes, on line or rune boundaries, marking
// a cut at the end.
func chunks(s string, size, n int) []string {
	var out []string
	for s != "" && len(out) < n {
		if len(s) <= size {
			out = append(out, s)
			return out
		}
		cutAt := strings.LastIndex(s[:size], "\n")
		if cutAt < size/2 {
			cutAt = size
			for cutAt > 0 && !utf8.RuneStart(s[cutAt]) {
				cutAt--
			}
		}
		piece := s[:cutAt]
		// Never split an entity like &amp; in two.
		if amp := strings.LastIndex(piece, "&"); amp >= 0 && amp > len(piece)-5 && !strings.Contains(piece[amp:], ";") {
			piece, cutAt = piece[:amp], amp
		}
		out = append(out, piece)
		s = s[cutAt:]
	}
	if s != "" && len(out) > 0 {
		last := out[len(out)-1]
		out[len(out)-1] = cut(last, size-40) + "\n… (cut: the full text is on the issue)"
	}
	return out
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	if amp := strings.LastIndex(s[:end], "&"); amp >= 0 && amp > end-5 && !strings.Contains(s[amp:end], ";") {
		end = amp
	}
	return s[:end] + "…"
}
