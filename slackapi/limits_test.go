package slackapi

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// scale runs Slack's minute as a second, in the fake and in the client's pacers alike.
const scale = 60

func scaledClient(t *testing.T, srv *fakeslack.Server) *Client {
	t.Helper()
	srv.SetTimeScale(scale)
	return newClient(t, srv, Options{
		Limits:   ScaleLimits(Limits, scale),
		PostPace: ScaleLimits(map[string][]pace.Window{"": PostLimits}, scale)[""],
	})
}

// A 429 is honoured: the client waits Retry-After, then succeeds.
func TestRetryAfterIsHonoured(t *testing.T) {
	srv := newFake(t)
	srv.AddChannel("C1", "alarms")
	c := newClient(t, srv, Options{Retry: retry.Policy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond, MaxWait: 5 * time.Second}})
	ctx := testCtx(t)
	ref, err := c.Post(ctx, "C1", handlers.Message{Body: "an alarm", Buttons: []handlers.Button{{ActionID: "yes", Label: "Yes", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext("chat.update", 1, 429, time.Second)
	start := time.Now()
	if err := c.Settle(ctx, ref, "done"); err != nil {
		t.Fatalf("settle after one 429: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("retried after %v, before the Retry-After of 1s", took)
	}
	if n := srv.Calls("chat.update"); n != 2 {
		t.Errorf("chat.update calls = %d, want 2", n)
	}
}

// A flood of answers settles every DM without one 429: chat.update waits for its Tier 3 budget.
func TestAFloodOfSettlesIsPacedAheadOfTier3(t *testing.T) {
	srv := newFake(t)
	c := scaledClient(t, srv)
	ctx := testCtx(t)
	srv.AddChannel("C1", "alarms")
	const n = 150 // three Tier 3 minutes' worth
	var refs []handlers.MessageRef
	for i := range n {
		ref, err := c.Post(ctx, "C1", handlers.Message{Body: fmt.Sprint("alarm ", i), Buttons: []handlers.Button{{ActionID: "yes", Label: "Yes", Value: "v"}}})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Settle(ctx, ref, "answered")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.RateLimited(""); got != 0 {
		t.Errorf("%d calls were answered 429; pacing should have prevented every one", got)
	}
	// 150 updates at 50 a (scaled) minute can't finish before two minutes have passed.
	if took, min := time.Since(start), 2*time.Minute/scale; took < min {
		t.Errorf("150 chat.update took %v, less than the %v the tier allows", took, min)
	}
	for _, m := range srv.Messages("C1") {
		if m.Updated != 1 || strings.Contains(string(m.Blocks), `"actions"`) {
			t.Fatalf("message %s: updated %d times, blocks %s", m.TS, m.Updated, m.Blocks)
		}
	}
}

// A burst of Home opens coalesces per user and never delays a DM: views.publish has its own
// budget, and a publish waiting for it takes the newer view of the same user instead of queueing.
func TestHomeOpensCoalesceAndDoNotDelayDMs(t *testing.T) {
	srv := newFake(t)
	var users []fakeslack.User
	for i := range 40 {
		users = append(users, fakeslack.User{ID: fmt.Sprintf("UH%02d", i), Name: fmt.Sprintf("h%02d", i)})
	}
	srv.AddUsers(users...)
	c := scaledClient(t, srv)
	ctx := testCtx(t)
	const opensEach = 25 // 1,000 opens: ten views.publish minutes if each were published
	var homes sync.WaitGroup
	for _, u := range users {
		for j := range opensEach {
			homes.Add(1)
			go func() {
				defer homes.Done()
				err := c.PublishHome(ctx, handlers.HomeView{UserID: u.ID, Recent: []handlers.HomeEntry{{Title: fmt.Sprint("open ", j)}}})
				if err != nil && !errors.Is(err, ErrHomeShed) {
					t.Errorf("publish home: %v", err)
				}
			}()
		}
	}
	dmStart := time.Now()
	for _, u := range users[:10] {
		if _, err := c.DM(ctx, u.ID, handlers.Message{Body: "an alarm"}); err != nil {
			t.Fatal(err)
		}
	}
	dmTook := time.Since(dmStart)
	homes.Wait()
	homesTook := time.Since(dmStart)
	if srv.RateLimited("") != 0 {
		t.Errorf("%d calls answered 429", srv.RateLimited(""))
	}
	if n := srv.Calls("views.publish"); n >= len(users)*opensEach/2 {
		t.Errorf("%d views.publish calls for %d opens: not coalesced", n, len(users)*opensEach)
	}
	if dmTook > homesTook {
		t.Errorf("10 DMs took %v, longer than the Home burst (%v) they ran beside", dmTook, homesTook)
	}
	// The latest open of each user wins.
	for _, u := range users {
		if err := c.PublishHome(ctx, handlers.HomeView{UserID: u.ID, Recent: []handlers.HomeEntry{{Title: "final"}}}); err != nil {
			t.Fatal(err)
		}
		if v, ok := srv.HomeView(u.ID); !ok || !strings.Contains(string(v), "final") {
			t.Errorf("%s: the last open's view is not shown", u.ID)
		}
	}
}

// A large workspace loads in the background: lookups by ID and email answer at once, a display
// name waits a bounded time and then fails as transient (the alarm is retried later), and a
// complete directory answers it.
func TestDirectoryLoadsInTheBackground(t *testing.T) {
	const n = 20_000 // 100 users.list pages: five minutes at Tier 2
	srv := newFake(t)
	srv.AddUsers(bulkUsers(n)...)
	c := newClient(t, srv, Options{DirectoryWait: 50 * time.Millisecond})
	ctx := testCtx(t)
	c.Preload(ctx)
	for _, u := range []alerts.User{{SlackID: "UB12345"}, {Email: "user19999@example.com"}} {
		start := time.Now()
		if _, err := c.Resolve(ctx, u); err != nil {
			t.Fatalf("%s while the directory loads: %v", u.Label(), err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s took %v: it waited for the directory", u.Label(), took)
		}
	}
	_, err := c.Resolve(ctx, alerts.User{Slack: "Bench Person 77"})
	if !errors.Is(err, errDirectoryLoading) || errors.Is(err, handlers.ErrUnknownUser) || retry.IsPermanent(err) {
		t.Fatalf("display name before the directory is loaded: %v, want a transient errDirectoryLoading", err)
	}
	if _, complete := c.DirectorySize(); complete {
		t.Fatal("the directory loaded faster than Tier 2 allows")
	}

	// The same workspace on a clock 600 times faster loads completely and answers display names.
	fast := newFake(t)
	fast.AddUsers(bulkUsers(n)...)
	fast.SetTimeScale(600)
	fc := newClient(t, fast, Options{Limits: ScaleLimits(Limits, 600), DirectoryWait: 30 * time.Second})
	id, err := fc.Resolve(ctx, alerts.User{Slack: "Bench Person 77"})
	if err != nil || id != "UB00077" {
		t.Fatalf("display name once loaded: %q, %v", id, err)
	}
	if size, complete := fc.DirectorySize(); !complete || size < n {
		t.Errorf("directory holds %d users (complete %v), want %d", size, complete, n)
	}
	if fast.RateLimited("") != 0 {
		t.Errorf("%d users.list pages answered 429", fast.RateLimited(""))
	}
}

func bulkUsers(n int) []fakeslack.User {
	out := make([]fakeslack.User, n)
	for i := range out {
		out[i] = fakeslack.User{ID: fmt.Sprintf("UB%05d", i), Name: fmt.Sprintf("user%05d", i),
			DisplayName: fmt.Sprintf("Bench Person %d", i), RealName: fmt.Sprintf("Person %05d", i), Email: fmt.Sprintf("user%d@example.com", i)}
	}
	return out
}
