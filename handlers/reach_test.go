package handlers

import (
	"fmt"
	"strings"
	"testing"
)

// TestUnreachableUsersAreNamedWithTheirReason: users Resolve can't find, for whatever reason, go to
// the fallback channel without buttons, each with the reason, and the alarm's other users still
// get their DM.
func TestUnreachableUsersAreNamedWithTheirReason(t *testing.T) {
	w := newWorld(t, "U1")
	w.chat.unfound["UTWIN"] = fmt.Errorf(`2 slack users have the display or real name "twin": %w`, ErrAmbiguousUser)
	w.chat.unfound["UGONE"] = fmt.Errorf("slack user UGONE is deactivated: %w", ErrUnknownUser)
	w.handle(t, selfService("req-1", "odd login", "d", []string{"UTWIN", "UGONE", "U404", "U1"}, ""))
	if len(w.chat.DMs("U1")) != 1 {
		t.Fatalf("the reachable user got %d DMs, want 1", len(w.chat.DMs("U1")))
	}
	var notes []string
	for _, p := range w.chat.Posts() {
		if len(p.Buttons) != 0 {
			t.Errorf("a fallback notice has buttons: %+v", p)
		}
		notes = append(notes, p.Title+" · "+p.Note)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{
		`UTWIN: 2 slack users have the display or real name "twin"`,
		"UGONE: slack user UGONE is deactivated",
		"U404: resolve U404",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the notices don't say %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "unknown slack user") || strings.Contains(all, "ambiguous slack user") {
		t.Errorf("the notices carry the sentinels' words:\n%s", all)
	}
}
