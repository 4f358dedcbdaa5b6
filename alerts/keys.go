package alerts

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The keys of each object of a message, as the spec names them. Other keys are ignored (the spec
// says so: publishers may add their own), but Decode warns about each, with the nearest known key,
// because a misspelt one ("remindafter", "promt") silently loses what the publisher meant.
var (
	alarmKeys     = []string{"type", "requestId", "githubRepo", "pagerDutyServiceId", "retrigger", "users", "body", "remindAfter", "escalateAfter", "mfa", "reason"}
	userKeys      = []string{"slackId", "slack", "email", "github"}
	bodyKeys      = []string{"github", "slack", "pagerduty"}
	githubKeys    = []string{"title", "body", "labels"}
	slackKeys     = []string{"message", "prompt", "actions"}
	actionKeys    = []string{"yes", "no", "wrong", "yes_response", "no_response"}
	pagerdutyKeys = []string{"title", "body"}
)

// unknownKeys warns about each key of obj (at the JSON path field, "" for the message) not in
// known, in key order so that the warnings read the same every time.
func (r *reader) unknownKeys(obj map[string]any, field string, known []string) {
	var unknown []string
	for k := range obj {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		path := k
		if field != "" {
			path = field + "." + k
		}
		msg := fmt.Sprintf("%s: unknown key, ignored", truncate(path, 80))
		if near := nearestKey(k, known); near != "" {
			msg += fmt.Sprintf(": did you mean `%s`?", near)
		}
		r.warnings = append(r.warnings, msg)
	}
}

// nearestKey returns the known key closest to key, if it is close enough to be a likely typo: the
// same but for case, or within an edit distance of a third of its length (at least 1, at most 3).
func nearestKey(key string, known []string) string {
	if utf8.RuneCountInString(key) > 64 {
		return "" // no key is that long; and the distance costs the square of the length
	}
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(key), strings.ToLower(k))
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	limit := min(max(utf8.RuneCountInString(best)/3, 1), 3)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b, in runes: insertions,
// deletions, substitutions and transpositions of neighbours ("tpye") each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	rows := make([][]int, len(ra)+1)
	for i := range rows {
		rows[i] = make([]int, len(rb)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(ra)][len(rb)]
}
