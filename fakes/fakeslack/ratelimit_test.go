package fakeslack

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// Every limited method answers its tier's call over the limit the way Slack does: HTTP 429,
// Retry-After, ok:false ratelimited, which slack-go turns into *slack.RateLimitedError.
func TestTiersAreEnforcedByDefault(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	ctx := testCtx(t)
	for i := range 20 {
		if _, err := api.GetUsersContext(ctx, slack.GetUsersOptionLimit(200)); err != nil {
			t.Fatalf("users.list %d, within Tier 2: %v", i, err)
		}
	}
	calls := srv.Calls("users.list")
	_, err := api.GetUsersPaginated(slack.GetUsersOptionLimit(200)).Next(ctx)
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter < time.Second || rl.RetryAfter > time.Minute {
		t.Fatalf("users.list over Tier 2: %v, want a RateLimitedError with 1s..60s Retry-After", err)
	}
	if srv.RateLimited("users.list") != 1 || srv.Calls("users.list") != calls+1 {
		t.Errorf("rate limited %d, calls %d", srv.RateLimited("users.list"), srv.Calls("users.list"))
	}
	// Another method has its own budget.
	if _, err := api.GetUserInfoContext(ctx, "U1"); err != nil {
		t.Errorf("users.info after users.list ran out: %v", err)
	}
	for i := range 50 {
		if _, err := api.GetUserByEmailContext(ctx, "alice@example.com"); err != nil {
			t.Fatalf("users.lookupByEmail %d, within Tier 3: %v", i, err)
		}
	}
	if _, err := api.GetUserByEmailContext(ctx, "alice@example.com"); !errors.As(err, &rl) {
		t.Fatalf("users.lookupByEmail over Tier 3: %v", err)
	}
}

// chat.postMessage: one a second per channel with bursts, and 300 a minute across the workspace.
func TestPostMessageLimits(t *testing.T) {
	srv := newServer(t, Options{})
	api := newAPI(srv)
	ctx := testCtx(t)
	srv.AddChannel("C1", "alarms")
	var rl *slack.RateLimitedError
	for i := range defaultPostBurst {
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("burst", false)); err != nil {
			t.Fatalf("post %d within the burst: %v", i, err)
		}
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("too fast", false)); !errors.As(err, &rl) {
		t.Fatalf("post past the channel's burst: %v, want RateLimitedError", err)
	}

	// The workspace cap, with the per-channel limit out of the way (one post per channel).
	srv.SetPostRateLimit(0, 0)
	srv.SetMethodLimit("chat.postMessage", 10, time.Minute)
	for i := range 10 {
		ch := fmt.Sprintf("C%d", 100+i)
		srv.AddChannel(ch, ch)
		if _, _, err := api.PostMessageContext(ctx, ch, slack.MsgOptionText("x", false)); err != nil {
			t.Fatalf("post %d within the workspace cap: %v", i, err)
		}
	}
	srv.AddChannel("C999", "other")
	if _, _, err := api.PostMessageContext(ctx, "C999", slack.MsgOptionText("x", false)); !errors.As(err, &rl) {
		t.Fatalf("post past the workspace cap: %v, want RateLimitedError", err)
	}
	if n := len(srv.Messages("C999")); n != 0 {
		t.Errorf("a refused post was stored (%d messages)", n)
	}
}

// SetTimeScale shrinks the window: a scaled Tier 2 frees its slots in a minute/scale.
func TestTimeScaledLimits(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SetTimeScale(600) // a minute is 100 ms
	api := newAPI(srv)
	ctx := testCtx(t)
	for range 20 {
		if _, err := api.GetUsersContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var rl *slack.RateLimitedError
	if _, err := api.GetUsersPaginated().Next(ctx); !errors.As(err, &rl) {
		t.Fatalf("21st users.list within the scaled minute: %v", err)
	}
	eventually(t, "the scaled window frees a slot", func() bool {
		_, err := api.GetUsersPaginated().Next(ctx)
		return err == nil
	})
}

// Deleted users and bots are listed like anyone else; ShuffleUsers changes the listing order.
func TestUsersListOrderAndFlags(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SetUsersPageSize(200)
	srv.AddUsers(
		User{ID: "U1", Name: "alice", DisplayName: "sam"},
		User{ID: "U2", Name: "bob", DisplayName: "sam"},
		User{ID: "U3", Name: "carol", Deleted: true},
		User{ID: "U4", Name: "deploybot", IsBot: true},
	)
	api := newAPI(srv)
	ctx := testCtx(t)
	order := func() string {
		users, err := api.GetUsersContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, u := range users {
			s += u.ID + " "
			if (u.ID == "U3") != u.Deleted || (u.ID == "U4" || u.ID == "UBOT") != u.IsBot {
				t.Errorf("%s: deleted %v bot %v", u.ID, u.Deleted, u.IsBot)
			}
		}
		return s
	}
	before := order()
	changed := false
	for seed := range uint64(10) {
		srv.ShuffleUsers(seed)
		if order() != before {
			changed = true
			break
		}
	}
	if !changed {
		t.Errorf("ShuffleUsers never changed the order %q", before)
	}
}
