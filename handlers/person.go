package handlers

import (
	"context"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"
)

// nameWait bounds how long naming a person may hold up what names them (a page, a comment): the
// name is a courtesy to the reader, the ID alone will do.
const nameWait = 2 * time.Second

// maxNameRunes bounds a name as printed: a profile's display name is at most 80 characters.
const maxNameRunes = 80

// person is a Slack user as a human reads them: the name their workspace shows, and their ID for
// the record (and because anyone can take anyone's display name).
type person struct {
	ID   string
	Name string // neutralised (plainName); "" when it couldn't be had
}

// person names a Slack user for people to read. A name that can't be had within nameWait, or
// can't be had at all, leaves the ID alone: naming never fails or blocks what it names.
func (r *Router) person(ctx context.Context, id string) person {
	ctx, cancel := context.WithTimeout(ctx, nameWait)
	defer cancel()
	name, err := r.chat.Name(ctx, id)
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Str("user", id).Msg("no name for the user: named by ID")
	}
	return person{ID: id, Name: plainName(name)}
}

// String is the person in plain text (a PagerDuty summary, a Slack notice): "Alice Liddell
// (U0ALICE)", or "U0ALICE".
func (p person) String() string {
	if p.Name == "" {
		return p.ID
	}
	return p.Name + " (" + p.ID + ")"
}

// Markdown is the person in a GitHub issue or comment: the name with every Markdown character
// escaped and its @-mentions inert, the ID in code.
func (p person) Markdown() string {
	id := "`" + p.ID + "`"
	if p.Name == "" {
		return id
	}
	return inert(markdownEscaper.Replace(p.Name)) + " (" + id + ")"
}

// markdownEscaper backslash-escapes the ASCII punctuation Markdown (and GitHub's HTML) gives a
// meaning, so a name shows as written and can't link, format or inject markup. @ is left to inert.
var markdownEscaper = func() *strings.Replacer {
	var pairs []string
	for _, c := range "\\`*_{}[]()<>#+-.!|~&\"'=:/" {
		pairs = append(pairs, string(c), "\\"+string(c))
	}
	return strings.NewReplacer(pairs...)
}()

// plainName makes profile text, which any member can edit, fit to print beside an ID: one line, no
// control or formatting characters (a right-to-left override would reorder what follows it), no
// parentheses (so it can't pass off another ID as the one beside it), spaces collapsed, at most
// maxNameRunes.
func plainName(s string) string {
	var b strings.Builder
	n, space := 0, false
	for _, c := range s {
		switch {
		case unicode.IsSpace(c) || unicode.IsControl(c):
			space = true
			continue
		case unicode.Is(unicode.Cf, c) || c == unicode.ReplacementChar:
			continue
		case strings.ContainsRune("()[]", c):
			space = true
			continue
		}
		if n == maxNameRunes {
			b.WriteString("…")
			break
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
		n++
	}
	return b.String()
}
