package slackapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// fast keeps retries short; a test that checks Retry-After uses its own policy.
var fast = retry.Policy{Attempts: 3, Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 5 * time.Second}

func newFake(t *testing.T) *fakeslack.Server {
	t.Helper()
	srv := fakeslack.New(fakeslack.Options{})
	t.Cleanup(srv.Close)
	srv.SetUsersPageSize(200)
	return srv
}

func newClient(t *testing.T, srv *fakeslack.Server, opts Options) *Client {
	t.Helper()
	opts.BotToken, opts.APIURL = srv.Options().BotToken, srv.APIURL()
	if opts.Retry.Attempts == 0 {
		opts.Retry = fast
	}
	c := New(opts)
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// workspace has the collisions an attacker inside it can make: a display name set to a colleague's
// username, two users with one display name, a deactivated user and a bot.
var workspace = []fakeslack.User{
	{ID: "U01", Name: "alice", RealName: "Alice Archer", DisplayName: "Alice", Email: "alice@example.com"},
	{ID: "U02", Name: "bob", RealName: "Bob Brown", Email: "bob@example.com"},
	{ID: "U03", Name: "mallory", RealName: "Mallory", DisplayName: "bob", Email: "mallory@example.com"},
	{ID: "U04", Name: "sam.one", DisplayName: "sam"},
	{ID: "U05", Name: "sam.two", DisplayName: "Sam"},
	{ID: "U06", Name: "carol", DisplayName: "carol", Email: "carol@example.com", Deleted: true},
	{ID: "U07", Name: "deploybot", DisplayName: "Deploy", IsBot: true},
	{ID: "U08", Name: "dave", RealName: "Dave Unique"},
	{ID: "U09", Name: "erin", DisplayName: "Erin"},
	{ID: "U0A", Name: "frank", DisplayName: "erin-ex", RealName: "Erin"},
	{ID: "U0B", Name: "gina", DisplayName: "Gee"},
	{ID: "U0C", Name: "hank", RealName: "gee"},
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		user      alerts.User
		want      string
		ambiguous bool   // else unknown, when want is ""
		reason    string // in the error
	}{
		{"slackId that exists", alerts.User{SlackID: "U01"}, "U01", false, ""},
		{"slackId nobody has", alerts.User{SlackID: "U404"}, "", false, "no slack user has the ID U404"},
		{"slackId not shaped like an ID", alerts.User{SlackID: "bob"}, "", false, "not a Slack user ID"},
		{"slackId of a deactivated user", alerts.User{SlackID: "U06"}, "", false, "deactivated"},
		{"slackId of a bot", alerts.User{SlackID: "U07"}, "", false, "bot"},
		{"slack as an ID", alerts.User{Slack: "U02"}, "U02", false, ""},
		{"username beats a display name set to it", alerts.User{Slack: "bob"}, "U02", false, ""},
		{"username, any case", alerts.User{Slack: "Alice"}, "U01", false, ""},
		{"unique display name", alerts.User{Slack: "erin-ex"}, "U0A", false, ""},
		{"unique real name", alerts.User{Slack: "Dave Unique"}, "U08", false, ""},
		{"shared display name", alerts.User{Slack: "sam"}, "", true, "2 slack users have the display or real name"},
		{"username beats another's real name", alerts.User{Slack: "Erin"}, "U09", false, ""},
		{"display name and another's real name", alerts.User{Slack: "GEE"}, "", true, "2 slack users"},
		{"deactivated username", alerts.User{Slack: "carol"}, "", false, "deactivated"},
		{"bot username", alerts.User{Slack: "deploybot"}, "", false, "bot"},
		{"bot display name", alerts.User{Slack: "Deploy"}, "", false, "bot"},
		{"nobody", alerts.User{Slack: "nobody"}, "", false, "no slack user has the username"},
		{"email", alerts.User{Slack: "alice@example.com"}, "U01", false, ""},
		{"email field", alerts.User{Email: "BOB@example.com"}, "U02", false, ""},
		{"email of a deactivated user", alerts.User{Email: "carol@example.com"}, "", false, "deactivated"},
		{"email nobody has", alerts.User{Email: "x@example.com"}, "", false, "no slack user has the email"},
	}
	// Slack lists users in no promised order: every order must give the same answers.
	for _, seed := range []uint64{1, 2, 3} {
		srv := newFake(t)
		srv.AddUsers(workspace...)
		srv.ShuffleUsers(seed)
		c := newClient(t, srv, Options{})
		ctx := testCtx(t)
		for _, tt := range tests {
			got, err := c.Resolve(ctx, tt.user)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Errorf("seed %d, %s: Resolve = %q, %v; want %q", seed, tt.name, got, err, tt.want)
				}
			case !errors.Is(err, handlers.ErrUnknownUser):
				t.Errorf("seed %d, %s: Resolve = %q, %v; want an ErrUnknownUser", seed, tt.name, got, err)
			case tt.ambiguous != errors.Is(err, handlers.ErrAmbiguousUser):
				t.Errorf("seed %d, %s: %v; ambiguous should be %v", seed, tt.name, err, tt.ambiguous)
			case !strings.Contains(err.Error(), tt.reason):
				t.Errorf("seed %d, %s: %v; want the reason %q", seed, tt.name, err, tt.reason)
			}
		}
		if srv.RateLimited("") != 0 {
			t.Errorf("seed %d: %d calls were rate limited", seed, srv.RateLimited(""))
		}
	}
}

// A user who joins after the directory was loaded is found by display name: a miss reloads it
// (at most once a minute).
func TestResolveFindsANewHireByReloading(t *testing.T) {
	srv := newFake(t)
	srv.AddUsers(workspace...)
	c := newClient(t, srv, Options{})
	c.dir.minReload = 0
	ctx := testCtx(t)
	if _, err := c.Resolve(ctx, alerts.User{Slack: "Newbie"}); !errors.Is(err, handlers.ErrUnknownUser) {
		t.Fatalf("before joining: %v", err)
	}
	srv.AddUser(fakeslack.User{ID: "UNEW", Name: "newbie.n", DisplayName: "Newbie"})
	if id, err := c.Resolve(ctx, alerts.User{Slack: "Newbie"}); err != nil || id != "UNEW" {
		t.Fatalf("after joining: %q, %v", id, err)
	}
}

// Lookups by ID and email are cached: a burst of alarms for one user costs one users.info.
func TestIDLookupsAreCached(t *testing.T) {
	srv := newFake(t)
	srv.AddUsers(workspace...)
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	for range 200 {
		if _, err := c.Resolve(ctx, alerts.User{SlackID: "U01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Resolve(ctx, alerts.User{Email: "bob@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := srv.Calls("users.info"), srv.Calls("users.lookupByEmail"); n != 1 || m != 1 {
		t.Errorf("users.info %d, users.lookupByEmail %d calls; want 1 each", n, m)
	}
}

// A user deactivated after Resolve can't be DMed: the error says so and wraps ErrCannotDM, so
// the handlers put the alarm in the fallback channel instead of failing it.
func TestDMToADeactivatedUserCannotBeSent(t *testing.T) {
	srv := newFake(t)
	srv.AddUsers(workspace...)
	c := newClient(t, srv, Options{})
	_, err := c.DM(testCtx(t), "U06", handlers.Message{Body: "hello"})
	if !errors.Is(err, handlers.ErrCannotDM) || !strings.Contains(err.Error(), "user_disabled") {
		t.Fatalf("DM to a deactivated user: %v", err)
	}
}

// The fallback channel shows the adapter's reason without the sentinels' words.
func TestReasonsReadWellInTheFallbackNotice(t *testing.T) {
	srv := newFake(t)
	srv.AddUsers(workspace...)
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	for user, want := range map[alerts.User]string{
		{SlackID: "U404"}: "no slack user has the ID U404: unknown slack user",
		{Slack: "sam"}:    `2 slack users have the display or real name "sam": ambiguous slack user: unknown slack user`,
	} {
		if _, err := c.Resolve(ctx, user); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", user.Label(), err, want)
		}
	}
}

// Resolving a user starts opening their DM channel, so the open overlaps the alarm's other work;
// the DM that follows shares it.
func TestResolveOpensTheDMChannelAhead(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	if _, err := c.Resolve(ctx, alerts.User{SlackID: "U0ALICE"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Calls("conversations.open") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no conversations.open after the resolve")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.DM(ctx, "U0ALICE", handlers.Message{Body: "was this you?"}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("conversations.open"); n != 1 {
		t.Errorf("%d conversations.open calls, want the one opened ahead", n)
	}
}

// A member can post into their DM with the bot, from an app of their own, with metadata shaped
// like dispatch's: Sent must not take it for the prompt, or a redelivered alarm would never ask
// them and a close on GitHub would try to settle their message instead of the bot's.
func TestSentCountsOnlyTheBotsOwnMessages(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0MALLORY", Name: "mallory"})
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	forged := []byte(`{"event_type":"dispatch_alarm","event_payload":{"key":"req-1/mallory"}}`)
	if _, err := srv.PostAsUser("U0MALLORY", "U0MALLORY", "was this you?", forged); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Sent(ctx, "U0MALLORY", "req-1/mallory"); err != nil || found {
		t.Fatalf("Sent = found %v, %v; want a member's message with dispatch's metadata ignored", found, err)
	}
	ref, err := c.DM(ctx, "U0MALLORY", handlers.Message{Key: "req-1/mallory", Body: "was this you?"})
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := c.Sent(ctx, "U0MALLORY", "req-1/mallory")
	if err != nil || !found || got.TS != ref.TS {
		t.Fatalf("Sent = %+v found %v, %v; want the bot's DM %s", got, found, err, ref.TS)
	}
}

// While conversations.open waits for its Tier 3 pacing (alarms for more people than 50 a minute),
// a resolve opens nothing ahead: otherwise a publisher naming thousands of people would pile up a
// background wait per person.
func TestResolveOpensNothingAheadWhileOpensArePaced(t *testing.T) {
	srv := newFake(t)
	srv.AddUser(fakeslack.User{ID: "U0ALICE", Name: "alice"})
	srv.AddUser(fakeslack.User{ID: "U0BOB", Name: "bob"})
	c := newClient(t, srv, Options{Limits: map[string][]pace.Window{"conversations.open": {{Limit: 1, Span: time.Hour}}}})
	ctx := testCtx(t)
	if _, err := c.DM(ctx, "U0ALICE", handlers.Message{Body: "was this you?"}); err != nil {
		t.Fatal(err) // the hour's one open
	}
	if _, err := c.Resolve(ctx, alerts.User{SlackID: "U0BOB"}); err != nil {
		t.Fatal(err)
	}
	c.dmMu.Lock()
	_, opening := c.dmOpening["U0BOB"]
	c.dmMu.Unlock()
	if opening {
		t.Error("an open was started ahead while opens wait for their pacing")
	}
}

// An alarm's users are resolved in a loop, in memory once the directory is loaded: each open ahead
// takes its place under conversations.open's pacing before it starts, so no more start than the
// window holds, and none waits in the background.
func TestResolvesInALoopStartNoMoreOpensAheadThanTheWindowHolds(t *testing.T) {
	srv := newFake(t)
	const n = 40
	for i := range n {
		srv.AddUser(fakeslack.User{ID: fmt.Sprintf("U%04d", i), Name: fmt.Sprintf("user%d", i)})
	}
	c := newClient(t, srv, Options{Limits: map[string][]pace.Window{"conversations.open": {{Limit: 1, Span: time.Hour}}}})
	ctx := testCtx(t)
	for i := range n {
		if _, err := c.Resolve(ctx, alerts.User{Slack: fmt.Sprintf("user%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.dmMu.Lock()
	started := len(c.dmOpening) + len(c.dms)
	c.dmMu.Unlock()
	if started != 1 {
		t.Errorf("%d opens started ahead under a window of one", started)
	}
}

// TestNameIsTheShownNameAndCached: Name is what the workspace shows (display name, else real name,
// else username), as written; a user seen once costs no more calls; an unknown or unreachable
// user is an error, which the handlers turn into the ID.
func TestNameIsTheShownNameAndCached(t *testing.T) {
	srv := newFake(t)
	srv.AddUsers(workspace...)
	c := newClient(t, srv, Options{})
	ctx := testCtx(t)
	for _, tc := range []struct{ id, want string }{{"U01", "Alice"}, {"U08", "Dave Unique"}, {"U0B", "Gee"}} {
		for range 3 {
			if got, err := c.Name(ctx, tc.id); err != nil || got != tc.want {
				t.Errorf("Name(%s) = %q, %v; want %q", tc.id, got, err, tc.want)
			}
		}
	}
	if n := srv.Calls("users.info"); n != 3 {
		t.Errorf("users.info called %d times for 3 users asked 3 times each, want 3", n)
	}
	if _, err := c.Name(ctx, "U404"); err == nil {
		t.Error("a user nobody has got a name")
	}
	srv.FailFor("users.info", time.Minute, 500)
	if _, err := c.Name(ctx, "U02"); err == nil {
		t.Error("Slack failing gave a name")
	}
	if got, err := c.Name(ctx, "U01"); err != nil || got != "Alice" {
		t.Errorf("a cached name while Slack fails: %q, %v", got, err)
	}
}
