package slackapi

import (
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
)

// TestHoldReleaseAndHolds: a held prompt shows the notice instead of its buttons, Holds finds it by
// the prompt's key on a second client (another replica), holding again changes only the text,
// Release gives the buttons back, and a settled prompt is no longer held.
func TestHoldReleaseAndHolds(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	c, other := newClient(t, srv, Options{}), newClient(t, srv, Options{})
	ctx := testCtx(t)
	ref, err := c.DM(ctx, "U0ALICE", handlers.Message{Key: "a1/alice", Body: "was this you?",
		Buttons: []handlers.Button{{ActionID: handlers.ActionYes, Label: "Yes", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	shown := func() string { return string(srv.DMs("U0ALICE")[0].Blocks) }
	until := time.Unix(1_900_000_000, 0)
	before, err := c.Hold(ctx, ref, "Approve the Duo push on your phone…", until)
	if err != nil {
		t.Fatal(err)
	}
	if s := shown(); strings.Contains(s, handlers.ActionYes) || !strings.Contains(s, "Approve the Duo push") {
		t.Fatalf("held prompt: %s", s)
	}
	if _, err := c.Hold(ctx, ref, "Approve the Duo push on your phone… Verified Duo Push code: 4711", until); err != nil {
		t.Fatal(err)
	}
	if s := shown(); strings.Count(s, "Approve the Duo push") != 1 || !strings.Contains(s, "4711") {
		t.Fatalf("held again: %s", s)
	}
	holds, err := other.Holds(ctx, "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || !holds["a1/alice"].Equal(until) {
		t.Fatalf("holds %v, want a1/alice until %v only", holds, until)
	}
	if err := c.Release(ctx, before); err != nil {
		t.Fatal(err)
	}
	if s := shown(); !strings.Contains(s, handlers.ActionYes) || strings.Contains(s, "Approve the Duo push") {
		t.Fatalf("released prompt: %s", s)
	}
	if holds, _ := other.Holds(ctx, "U0ALICE"); len(holds) != 0 {
		t.Fatalf("holds after release: %v", holds)
	}
	if _, err := c.Hold(ctx, ref, "Approve the Duo push on your phone…", until); err != nil {
		t.Fatal(err)
	}
	if err := other.Settle(ctx, handlers.MessageRef{Channel: ref.Channel, TS: ref.TS}, "You answered Yes."); err != nil {
		t.Fatal(err)
	}
	if holds, _ := other.Holds(ctx, "U0ALICE"); len(holds) != 0 {
		t.Fatalf("holds after the prompt was settled: %v (%s)", holds, shown())
	}
}
