package fakeslack

import (
	"encoding/json"
	"regexp"
	"sort"
)

// Slack's mentions in mrkdwn: the <…> forms always notify; with "verbatim": false (the default),
// Slack also parses bare @channel, @here, @everyone and #channel names in the text
// (https://api.slack.com/reference/block-kit/composition-objects#text: "When set to false (as is
// default) URLs will be auto-converted into links, conversation names will be link-ified, and
// certain mentions will be automatically parsed"). plain_text objects are never parsed.
var (
	explicitMention = regexp.MustCompile(`<(![a-z]+|@[UW][A-Z0-9]+|#C[A-Z0-9]+)(\|[^>]*)?>`)
	bareMention     = regexp.MustCompile(`(^|[\s(])(@(?:channel|here|everyone)|#[a-z0-9_-]+)\b`)
	bareURL         = regexp.MustCompile(`(^|[\s(])(https?://[^\s<>]+)`)
)

// Mentions lists what Slack would notify or link in m's blocks: "<!channel>", "<@U…>", and, in
// text that is not verbatim, the bare "@here", "#general" and URLs Slack would parse. Sorted,
// repeated as often as they occur.
func Mentions(m Message) []string {
	var blocks any
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if typ, _ := x["type"].(string); typ == "mrkdwn" {
				text, _ := x["text"].(string)
				for _, mm := range explicitMention.FindAllStringSubmatch(text, -1) {
					out = append(out, "<"+mm[1]+">")
				}
				if verbatim, _ := x["verbatim"].(bool); !verbatim {
					for _, mm := range bareMention.FindAllStringSubmatch(text, -1) {
						out = append(out, mm[2])
					}
					for _, mm := range bareURL.FindAllStringSubmatch(text, -1) {
						out = append(out, mm[2])
					}
				}
				return
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(blocks)
	sort.Strings(out)
	return out
}
