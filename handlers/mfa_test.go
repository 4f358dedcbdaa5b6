package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memDuo is an in-memory Duo: per username, the preauth answer and what a push does.
type memDuo struct {
	mu       sync.Mutex
	pre      map[string]Preauth
	outcome  map[string][]PushStatus // statuses a push of the user's goes through, last one repeats
	preErr   error
	preauths []string
	pushes   []memPush
	polls    map[string]int
	waiting  bool // every status answers "waiting" while set
}

type memPush struct {
	username string
	info     PushInfo
}

func newMemDuo() *memDuo {
	return &memDuo{pre: map[string]Preauth{}, outcome: map[string][]PushStatus{}, polls: map[string]int{}}
}

// user makes username enrolled with a push device, whose pushes end as final.
func (d *memDuo) user(username string, final PushStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pre[username] = Preauth{Result: "auth", CanPush: true}
	d.outcome[username] = []PushStatus{{Result: "waiting", Status: "pushed"}, final}
}

var (
	pushAllow   = PushStatus{Result: "allow", Status: "allow"}
	pushDeny    = PushStatus{Result: "deny", Status: "deny"}
	pushTimeout = PushStatus{Result: "deny", Status: "timeout"}
)

func (d *memDuo) Preauth(_ context.Context, username string) (Preauth, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.preauths = append(d.preauths, username)
	if d.preErr != nil {
		return Preauth{}, d.preErr
	}
	p, ok := d.pre[username]
	if !ok {
		return Preauth{Result: "enroll"}, nil
	}
	return p, nil
}

func (d *memDuo) Push(_ context.Context, username string, info PushInfo) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pushes = append(d.pushes, memPush{username, info})
	return fmt.Sprintf("%s#%d", username, len(d.pushes)), nil
}

func (d *memDuo) Status(_ context.Context, txid string) (PushStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	user, _, _ := strings.Cut(txid, "#")
	seq := d.outcome[user]
	if d.waiting {
		return seq[0], nil
	}
	i := min(d.polls[txid], len(seq)-1)
	d.polls[txid]++
	return seq[i], nil
}

func (d *memDuo) Pushes() []memPush {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]memPush(nil), d.pushes...)
}

type memEmails map[string]string

func (m memEmails) Email(_ context.Context, userID string) (string, error) {
	if e, ok := m[userID]; ok {
		return e, nil
	}
	return "", errors.New("users.info: user_not_found")
}

// stampedChat stamps each DM with the world's clock, as Slack stamps a message's ts, so the
// approval record's time is the time it was posted.
type stampedChat struct {
	*fakeChat
	now func() time.Time
	mu  sync.Mutex
	ts  map[string]string // userID/key → ts of the newest
}

func (c *stampedChat) DM(ctx context.Context, userID string, m Message) (MessageRef, error) {
	ref, err := c.fakeChat.DM(ctx, userID, m)
	if err == nil && m.Key == approvalKey(userID) { // prompts keep the fake's own refs
		t := c.now()
		ref.TS = fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
		c.mu.Lock()
		c.ts[userID+"/"+m.Key] = ref.TS
		c.mu.Unlock()
	}
	return ref, err
}

func (c *stampedChat) Sent(ctx context.Context, userID, key string) (MessageRef, bool, error) {
	c.mu.Lock()
	ts, ok := c.ts[userID+"/"+key]
	c.mu.Unlock()
	if ok {
		return MessageRef{Channel: "D" + userID, TS: ts}, true, nil
	}
	return c.fakeChat.Sent(ctx, userID, key)
}

// duoWorld is a world whose router checks each Yes with memDuo.
func duoWorld(t *testing.T, cfg MFAConfig) (*world, *memDuo) {
	t.Helper()
	w := newWorld(t, "U1", "U2")
	sc := &stampedChat{fakeChat: w.chat, now: func() time.Time { return w.now }, ts: map[string]string{}}
	w.r.chat = sc
	duo := newMemDuo()
	cfg.Poll = time.Millisecond
	w.r.UseSecondFactor(duo, memEmails{"U1": "u1@example.com", "U2": "u2@example.com"}, cfg)
	return w, duo
}

func (w *world) lastComment(t *testing.T) string {
	t.Helper()
	cs, _ := w.issues.Comments(testCtx(t), testRepo, 1)
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].Body
}

func toldAny(w *world, sub string) bool {
	for _, s := range w.chat.Told() {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestDuoOutcomes is one row per outcome of the Duo check on a Yes (issue 19).
func TestDuoOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(d *memDuo)
		extra   string // top-level fields of the alarm
		cfg     MFAConfig
		// want: closed issue, escalated, pushes sent, the page's and the comment's words, told.
		closed, escalated bool
		pushes            int
		page, comment     string
		told              string
		user              string // the username pushed to, when it matters
		preauths          []string
	}{
		{name: "approved: the Yes counts, confirmed with Duo push", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) { d.user("u1@example.com", pushAllow) },
			closed:  true, pushes: 1, comment: "Confirmed with Duo push", told: "Approve the Duo push on your phone"},
		{name: "denied: counts as No, escalates, says the push was denied", cfg: MFAConfig{Default: true},
			arrange:   func(d *memDuo) { d.user("u1@example.com", pushDeny) },
			escalated: true, pushes: 1, page: "U1 answered Yes but the Duo push was denied", comment: "the Duo push was denied"},
		{name: "timed out: nothing written, the user may try again", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) { d.user("u1@example.com", pushTimeout) },
			pushes:  1, told: "timed out"},
		{name: "Duo unreachable: nothing written, the user may try again", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) { d.preErr = errors.New("dial tcp: connection refused") },
			told:    "couldn't be reached"},
		{name: "not enrolled: the Yes doesn't count, escalates with the reason", cfg: MFAConfig{Default: true},
			arrange:   func(d *memDuo) {},
			escalated: true, page: "U1 answered Yes but they are not enrolled in Duo", comment: "not enrolled in Duo", told: "aren't enrolled in Duo"},
		{name: "no push device: the Yes doesn't count, escalates with the reason", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) {
				d.pre["u1@example.com"] = Preauth{Result: "auth", CanPush: false}
			},
			escalated: true, page: "none of their Duo devices can take a push", told: "None of your Duo devices"},
		{name: "preauth deny: escalates with the reason", cfg: MFAConfig{Default: true},
			arrange:   func(d *memDuo) { d.pre["u1@example.com"] = Preauth{Result: "deny", Message: "locked out"} },
			escalated: true, page: "Duo refuses to authenticate them", told: "locked out"},
		{name: `"mfa": false: no push, the Yes counts`, cfg: MFAConfig{Default: true}, extra: `"mfa":false,`,
			arrange: func(d *memDuo) {}, closed: true},
		{name: `DISPATCH_MFA=off: no push`, cfg: MFAConfig{Default: false},
			arrange: func(d *memDuo) {}, closed: true},
		{name: `DISPATCH_MFA=off but "mfa": true: a push`, cfg: MFAConfig{Default: false}, extra: `"mfa":true,`,
			arrange: func(d *memDuo) { d.user("u1@example.com", pushAllow) }, closed: true, pushes: 1},
		{name: "DUO_USERNAME=email-local: the part before @", cfg: MFAConfig{Default: true, EmailLocal: true},
			arrange: func(d *memDuo) { d.user("u1", pushAllow) }, closed: true, pushes: 1},
		{name: "e-mail unknown to Duo, its local part enrolled: preauth asked again, pushed to the local part", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) { d.user("u1", pushAllow) }, closed: true, pushes: 1, user: "u1", preauths: []string{"u1@example.com", "u1"}},
		{name: "neither the e-mail nor its local part enrolled: not enrolled, after asking for both", cfg: MFAConfig{Default: true},
			arrange:   func(d *memDuo) {},
			escalated: true, page: "not enrolled in Duo", preauths: []string{"u1@example.com", "u1"}},
		{name: "Verified Duo Push: the code is shown", cfg: MFAConfig{Default: true},
			arrange: func(d *memDuo) {
				d.user("u1@example.com", pushAllow)
				d.outcome["u1@example.com"][0].Code = "4711"
			},
			closed: true, pushes: 1, told: "Verified Duo Push code: 4711"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, duo := duoWorld(t, tc.cfg)
			tc.arrange(duo)
			w.handle(t, selfService("req-1", "Console login from Lisbon", "b", []string{"U1"}, tc.extra))
			w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
			is := w.issue(t)
			if is.Open == tc.closed {
				t.Errorf("issue open = %v, want closed = %v", is.Open, tc.closed)
			}
			if got := is.HasLabel(LabelEscalated); got != tc.escalated {
				t.Errorf("escalated = %v, want %v", got, tc.escalated)
			}
			pushes := duo.Pushes()
			if len(pushes) != tc.pushes {
				t.Fatalf("%d pushes, want %d", len(pushes), tc.pushes)
			}
			for _, p := range pushes {
				if p.info.Fields[0] != [2]string{"Alarm", "Console login from Lisbon"} {
					t.Errorf("pushinfo %v doesn't name the alarm", p.info.Fields)
				}
				if (tc.cfg.EmailLocal || tc.user == "u1") && p.username != "u1" {
					t.Errorf("pushed to %q, want the e-mail's local part", p.username)
				}
			}
			if tc.preauths != nil && strings.Join(duo.preauths, ",") != strings.Join(tc.preauths, ",") {
				t.Errorf("preauth asked for %q, want %q", duo.preauths, tc.preauths)
			}
			pages := w.pager.Pages()
			switch {
			case tc.page == "" && len(pages) > 0:
				t.Errorf("paged %q; want no page", pages[0].Summary)
			case tc.page != "" && (len(pages) != 1 || !strings.Contains(pages[0].Summary, tc.page)):
				t.Errorf("pages %+v; want one saying %q", pages, tc.page)
			}
			if c := w.lastComment(t); !strings.Contains(c, tc.comment) || (!tc.closed && !tc.escalated && c != "") {
				t.Errorf("last comment %q; want it to say %q", c, tc.comment)
			}
			if tc.told != "" && !toldAny(w, tc.told) {
				t.Errorf("told %q; want %q", w.chat.Told(), tc.told)
			}
		})
	}
}

// TestDuoTimedOutThenApproved: after a push nobody answered, the buttons still work and a second
// Yes with an approved push closes the alarm.
func TestDuoTimedOutThenApproved(t *testing.T) {
	w, duo := duoWorld(t, MFAConfig{Default: true})
	duo.user("u1@example.com", pushTimeout)
	w.handle(t, selfService("req-1", "t", "b", []string{"U1"}, ""))
	v := w.prompt(t, "U1")
	w.click(t, "U1", ActionYes, v)
	if !w.issue(t).Open {
		t.Fatal("a timed-out push closed the alarm")
	}
	duo.user("u1@example.com", pushAllow)
	w.click(t, "U1", ActionYes, v)
	if w.issue(t).Open {
		t.Fatal("the second Yes, approved, did not close the alarm")
	}
	if n := len(duo.Pushes()); n != 2 {
		t.Errorf("%d pushes, want 2", n)
	}
}

// TestDuoReuseWindow: a Yes within DUO_REUSE_WINDOW of an approved push needs none, and the issue
// says whose approval stood in; past the window, or with a window of 0, it pushes again.
func TestDuoReuseWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		after  time.Duration
		pushes int
	}{
		{"within the window: no push", time.Hour, 59 * time.Minute, 1},
		{"past the window: a push", time.Hour, 61 * time.Minute, 2},
		{"window 0: always a push", 0, time.Minute, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, duo := duoWorld(t, MFAConfig{Default: true, ReuseWindow: tc.window})
			duo.user("u1@example.com", pushAllow)
			w.handle(t, selfService("req-1", "first", "b", []string{"U1"}, ""))
			w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
			w.now = w.now.Add(tc.after)
			w.handle(t, selfService("req-2", "second", "b", []string{"U1"}, ""))
			w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
			if n := len(duo.Pushes()); n != tc.pushes {
				t.Fatalf("%d pushes, want %d", n, tc.pushes)
			}
			cs, _ := w.issues.Comments(testCtx(t), testRepo, 2)
			if len(cs) == 0 {
				t.Fatal("second alarm's Yes not recorded")
			}
			reused := strings.Contains(cs[len(cs)-1].Body, "Duo push reused from 06:00")
			if reused != (tc.pushes == 1) {
				t.Errorf("comment %q; reused = %v, want %v", cs[len(cs)-1].Body, reused, tc.pushes == 1)
			}
		})
	}
}

// TestDuoSomeoneElsesClickSendsNoPush: a click on someone else's alarm asks Duo nothing.
func TestDuoSomeoneElsesClickSendsNoPush(t *testing.T) {
	w, duo := duoWorld(t, MFAConfig{Default: true})
	duo.user("u1@example.com", pushAllow)
	duo.user("u2@example.com", pushAllow)
	w.handle(t, selfService("req-1", "t", "b", []string{"U1"}, ""))
	w.click(t, "U2", ActionYes, w.prompt(t, "U1"))
	if n := len(duo.Pushes()); n != 0 {
		t.Fatalf("%d pushes after someone else's click, want 0", n)
	}
	if len(duo.preauths) != 0 {
		t.Fatalf("preauth %v after someone else's click, want none", duo.preauths)
	}
	if !w.issue(t).Open {
		t.Fatal("someone else's click closed the alarm")
	}
}

func (d *memDuo) setWaiting(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.waiting = on
}

// replica is a second router on the same Slack, GitHub and PagerDuty as w's, sharing nothing else
// (no memory of w's pushes), with the same Duo.
func (w *world) replica(t *testing.T, duo *memDuo) *Router {
	t.Helper()
	r := NewRouter(w.r.cfg, w.issues, w.pager, w.r.chat, w.tasks)
	r.now = func() time.Time { return w.now }
	r.UseSecondFactor(duo, memEmails{"U1": "u1@example.com", "U2": "u2@example.com"}, w.r.mfa.cfg)
	return r
}

// TestDuoPushHoldsTheDMOnEveryReplica: while a push is out, the DM says so in place of its
// buttons (with the Verified Duo Push code), /dispatch list and the App Home say so on another
// replica too, and a second Yes there sends no second push; when the push times out, the buttons
// come back.
func TestDuoPushHoldsTheDMOnEveryReplica(t *testing.T) {
	w, duo := duoWorld(t, MFAConfig{Default: true})
	duo.user("u1@example.com", pushTimeout)
	duo.outcome["u1@example.com"][0].Code = "4711"
	duo.setWaiting(true)
	w.handle(t, selfService("req-1", "Console login", "b", []string{"U1"}, ""))
	w.handle(t, selfService("req-2", "Another alarm", "b", []string{"U1"}, ""))
	v := w.prompt(t, "U1")
	tk, err := DecodeTicket(v, [][]byte{testKey})
	if err != nil {
		t.Fatal(err)
	}
	key := promptKey(tk.Alarm, tk.Key)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.click(t, "U1", ActionYes, v)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.chat.Held(key), "Verified Duo Push code: 4711") {
		if time.Now().After(deadline) {
			t.Fatalf("the DM never showed the push's code in place of its buttons: held %q", w.chat.Held(key))
		}
		time.Sleep(time.Millisecond)
	}
	if !strings.HasPrefix(w.chat.Held(key), "Approve the Duo push on your phone…") {
		t.Errorf("held with %q", w.chat.Held(key))
	}

	other := w.replica(t, duo)
	list := NewCommands(testRepo, nil, other, nil, [][]byte{testKey}).Command(testCtx(t), Command{UserID: "U1", Text: "list"}).Text
	var waitingLines []string
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, "waiting for your Duo push") {
			waitingLines = append(waitingLines, l)
		}
	}
	if len(waitingLines) != 1 || !strings.Contains(waitingLines[0], "Another alarm") {
		t.Errorf("/dispatch list on another replica; want only the alarm whose push is out marked waiting:\n%s", list)
	}
	if err := other.HomeOpened(testCtx(t), "U1"); err != nil {
		t.Fatal(err)
	}
	var home []string
	for _, e := range w.chat.LastHome().Pending {
		home = append(home, fmt.Sprintf("%s: %s (%d buttons)", e.Title, e.Status, len(e.Buttons)))
	}
	if want := []string{"Another alarm: Waiting for your Duo push (0 buttons)", "Console login: Waiting for your answer (2 buttons)"}; strings.Join(home, "|") != strings.Join(want, "|") {
		t.Errorf("App Home on another replica = %q, want %q", home, want)
	}

	if err := other.Answer(testCtx(t), Click{UserID: "U1", ActionID: ActionYes, Value: v, Channel: "DU1", ResponseURL: "https://hooks.example/r2"}); err != nil {
		t.Fatal(err)
	}
	if n := len(duo.Pushes()); n != 1 {
		t.Fatalf("%d pushes after a second Yes on another replica while the first push is out, want 1", n)
	}
	if !toldAny(w, "already waiting on your phone") {
		t.Errorf("the second Yes wasn't told a push is out: %q", w.chat.Told())
	}

	duo.setWaiting(false)
	<-done
	if h := w.chat.Held(key); h != "" {
		t.Errorf("after the push timed out the DM is still held: %q", h)
	}
	if len(w.chat.released) != 1 {
		t.Errorf("buttons given back %d times, want once", len(w.chat.released))
	}
	if is, _ := w.issues.Get(testCtx(t), testRepo, tk.Issue); !is.Open {
		t.Error("a timed-out push closed the alarm")
	}
}

// TestOpeningTheAppHomeAgainAndAgainReadsTheHoldsOnce: each read of the DMs' holds is a
// conversations.history, of which Slack allows 50 a minute for the whole workspace. A user opening
// the tab in a loop (or a test polling it) spent them all, and the push that then timed out could
// not read its hold to give the DM its buttons back for a minute. Renders share one read per
// homeTTL; this replica's own push forgets it, so its end shows at once.
func TestOpeningTheAppHomeAgainAndAgainReadsTheHoldsOnce(t *testing.T) {
	w, duo := duoWorld(t, MFAConfig{Default: true})
	duo.user("u1@example.com", pushTimeout)
	w.handle(t, selfService("req-1", "Console login", "b", []string{"U1"}, ""))
	before := w.chat.holdsRead
	for range 20 {
		if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.chat.holdsRead - before; n != 1 {
		t.Errorf("20 opens within %s read the holds %d times, want once", homeTTL, n)
	}
	w.now = w.now.Add(homeTTL + time.Second)
	if err := w.r.HomeOpened(testCtx(t), "U1"); err != nil {
		t.Fatal(err)
	}
	if n := w.chat.holdsRead - before; n != 2 {
		t.Errorf("an open after %s read the holds %d times in all, want twice", homeTTL, n)
	}

	// A push of this replica's that timed out: the tab it refreshes shows the buttons back.
	w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
	if p := w.chat.LastHome().Pending; len(p) != 1 || len(p[0].Buttons) == 0 {
		t.Errorf("after the push timed out the App Home shows %+v, want the alarm with its buttons", p)
	}
}
