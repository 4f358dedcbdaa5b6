package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/pace"
)

// The fakes of Pager, Chat and Tasks, and the world that wires a Router to them (fakeissues_test.go
// has the fake GitHub).

// fakePager records triggers.
type fakePager struct {
	mu    sync.Mutex
	pages []Page
	down  error // every trigger fails with it (PagerDuty down)
}

func (p *fakePager) Trigger(_ context.Context, pg Page) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down != nil {
		return p.down
	}
	p.pages = append(p.pages, pg)
	return nil
}

func (p *fakePager) Pages() []Page {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pages)
}

// fakeChat is Slack: users by ID, DMs and posts recorded.
type fakeChat struct {
	mu        sync.Mutex
	users     map[string]bool   // Slack IDs that exist
	names     map[string]string // the names their profiles show (Name); none: Name fails
	cannotDM  map[string]error  // users Slack refuses a DM to, and how
	unfound   map[string]error  // users Resolve can't find, and why (else: unknown)
	dms       map[string][]Message
	posts     []Message
	told      []string
	homes     []HomeView
	settled   []string
	dmRefs    map[string][]MessageRef // each DM's ref, as dms
	outcomes  map[string]bool         // channel/ts of the messages settled
	down      error                   // every call but Resolve fails with it (Slack's Web API down)
	ts        int
	threads   []threadReply         // every Reply, in order (also in posts)
	replyErr  error                 // the next Reply fails with it
	sentErr   error                 // every Sent fails with it
	keys      map[string]string     // DM → its Message.Key
	refs      map[string]MessageRef // user/key → the DM
	holds     map[string]time.Time  // Message.Key → until when the DM is held
	held      map[string]string     // Message.Key → the text it is held with
	released  []string              // keys whose buttons came back
	holdErr   error                 // every Hold fails with it
	holdsRead int                   // Holds calls (each a conversations.history)
}

// threadReply is one Reply: where, what, and whether it was asked to stand aside for prompts.
type threadReply struct {
	Parent MessageRef
	Msg    Message
	Low    bool
}

func newFakeChat(users ...string) *fakeChat {
	c := &fakeChat{users: map[string]bool{}, names: map[string]string{}, cannotDM: map[string]error{}, unfound: map[string]error{}, dms: map[string][]Message{},
		keys: map[string]string{}, refs: map[string]MessageRef{}, holds: map[string]time.Time{}, held: map[string]string{}}
	for _, u := range users {
		c.users[u] = true
	}
	return c
}

func (c *fakeChat) Resolve(_ context.Context, u alerts.User) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users[u.SlackID] {
		return u.SlackID, nil
	}
	if err := c.unfound[u.SlackID]; err != nil {
		return "", err
	}
	return "", fmt.Errorf("resolve %s: %w", u.Label(), ErrUnknownUser)
}

func (c *fakeChat) Name(ctx context.Context, userID string) (string, error) {
	c.mu.Lock()
	name, ok := c.names[userID]
	c.mu.Unlock()
	if ok && name == hangingName {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if ok {
		return name, nil
	}
	return "", fmt.Errorf("users.info %s: %w", userID, errors.New("service unavailable"))
}

func (c *fakeChat) ref(channel string) MessageRef {
	c.ts++
	return MessageRef{Channel: channel, TS: fmt.Sprintf("1700000000.%06d", c.ts)}
}

func (c *fakeChat) DM(_ context.Context, userID string, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return MessageRef{}, c.down
	}
	if err := c.cannotDM[userID]; err != nil {
		return MessageRef{}, err
	}
	c.dms[userID] = append(c.dms[userID], m)
	ref := c.ref("D" + userID)
	c.keys[ref.Channel+"/"+ref.TS] = m.Key
	c.refs[userID+"/"+m.Key] = ref
	if c.dmRefs == nil {
		c.dmRefs = map[string][]MessageRef{}
	}
	c.dmRefs[userID] = append(c.dmRefs[userID], ref)
	return ref, nil
}

func (c *fakeChat) Post(_ context.Context, channel string, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return MessageRef{}, c.down
	}
	c.posts = append(c.posts, m)
	return c.ref(channel), nil
}

func (c *fakeChat) Sent(_ context.Context, userID, key string) (MessageRef, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sentErr != nil {
		return MessageRef{}, false, c.sentErr
	}
	if c.down != nil {
		return MessageRef{}, false, c.down
	}
	if ref, ok := c.refs[userID+"/"+key]; ok {
		ref.Settled = c.outcomes[ref.Channel+"/"+ref.TS]
		return ref, true, nil
	}
	for i, m := range c.dms[userID] {
		if m.Key == key {
			ref := c.dmRefs[userID][i]
			ref.Settled = c.outcomes[ref.Channel+"/"+ref.TS]
			return ref, true, nil
		}
	}
	for _, m := range c.posts {
		if userID != "" && m.Key == key {
			return MessageRef{Channel: userID, TS: "1700000000.000001"}, true, nil
		}
	}
	return MessageRef{}, false, nil
}

func (c *fakeChat) Reply(ctx context.Context, parent MessageRef, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.replyErr; err != nil {
		c.replyErr = nil
		return MessageRef{}, err
	}
	if c.down != nil {
		return MessageRef{}, c.down
	}
	c.threads = append(c.threads, threadReply{Parent: parent, Msg: m, Low: pace.IsLowPriority(ctx)})
	c.posts = append(c.posts, m)
	return c.ref(parent.Channel), nil
}

func (c *fakeChat) Replied(_ context.Context, parent MessageRef, key string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.threads {
		if r.Parent.Channel == parent.Channel && r.Parent.TS == parent.TS && r.Msg.Key == key {
			return true, nil
		}
	}
	return false, nil
}

// Threads returns every Reply made, in order.
func (c *fakeChat) Threads() []threadReply {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.threads)
}

func (c *fakeChat) Permalink(_ context.Context, ref MessageRef) (string, error) {
	return "https://slack.example/archives/" + ref.Channel + "/p" + ref.TS, nil
}

func (c *fakeChat) Settle(_ context.Context, ref MessageRef, outcome string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return c.down
	}
	c.settled = append(c.settled, outcome)
	delete(c.holds, c.keys[ref.Channel+"/"+ref.TS]) // the outcome replaces a hold
	if c.outcomes == nil {
		c.outcomes = map[string]bool{}
	}
	c.outcomes[ref.Channel+"/"+ref.TS] = true
	return nil
}

func (c *fakeChat) Hold(_ context.Context, ref MessageRef, text string, until time.Time) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holdErr != nil {
		return MessageRef{}, c.holdErr
	}
	key, ok := c.keys[ref.Channel+"/"+ref.TS]
	if !ok {
		return MessageRef{}, fmt.Errorf("hold: no DM %s/%s", ref.Channel, ref.TS)
	}
	c.holds[key], c.held[key] = until, text
	return MessageRef{Channel: ref.Channel, TS: ref.TS}, nil
}

func (c *fakeChat) Release(_ context.Context, before MessageRef) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := c.keys[before.Channel+"/"+before.TS]
	delete(c.holds, key)
	c.released = append(c.released, key)
	return nil
}

func (c *fakeChat) Holds(_ context.Context, userID string) (map[string]time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holdsRead++
	out := map[string]time.Time{}
	for ref, key := range c.keys {
		if until, ok := c.holds[key]; ok && strings.HasPrefix(ref, "D"+userID+"/") {
			out[key] = until
		}
	}
	return out, nil
}

// Held returns the text the DM keyed key is held with ("" when it isn't).
func (c *fakeChat) Held(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.holds[key]; !ok {
		return ""
	}
	return c.held[key]
}

// Settled returns the outcomes DMs were settled with, in order.
func (c *fakeChat) Settled() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.settled)
}

func (c *fakeChat) PublishHome(_ context.Context, v HomeView) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.homes = append(c.homes, v)
	return nil
}

func (c *fakeChat) Tell(_ context.Context, _ Audience, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.told = append(c.told, text)
	return nil
}

func (c *fakeChat) DMs(userID string) []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dms[userID])
}

func (c *fakeChat) Told() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.told)
}

func (c *fakeChat) Posts() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.posts)
}

func (c *fakeChat) LastHome() HomeView {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.homes) == 0 {
		return HomeView{}
	}
	return c.homes[len(c.homes)-1]
}

// fakeTasks records deferred tasks.
type fakeTasks struct {
	mu    sync.Mutex
	tasks []Task
	down  error // set: every Defer fails with it
}

func (q *fakeTasks) Defer(_ context.Context, t Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down != nil {
		return q.down
	}
	q.tasks = append(q.tasks, t)
	return nil
}

// Take removes and returns the deferred tasks of one kind.
func (q *fakeTasks) Take(kind string) []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out, kept []Task
	for _, t := range q.tasks {
		if t.Kind == kind {
			out = append(out, t)
		} else {
			kept = append(kept, t)
		}
	}
	q.tasks = kept
	return out
}

// Of returns the deferred tasks of one kind.
func (q *fakeTasks) Of(kind string) []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Task
	for _, t := range q.tasks {
		if t.Kind == kind {
			out = append(out, t)
		}
	}
	return out
}

// world is a Router wired to the fakes.
type world struct {
	r      *Router
	issues *fakeIssues
	pager  *fakePager
	chat   *fakeChat
	tasks  *fakeTasks
	now    time.Time
}

var (
	testKey    = []byte("0123456789abcdef0123456789abcdef")
	oldTestKey = []byte("fedcba9876543210fedcba9876543210")
)

const testRepo = "acme/alarms"

func newWorld(t *testing.T, users ...string) *world {
	t.Helper()
	w := &world{issues: newFakeIssues(), pager: &fakePager{}, chat: newFakeChat(users...), tasks: &fakeTasks{},
		now: time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)}
	w.r = NewRouter(Config{DefaultRepo: testRepo, FallbackChannel: "C0FALLBACK", Source: "test",
		EscalateAfter: 30 * time.Minute, TaskKeys: [][]byte{testKey, oldTestKey}}, w.issues, w.pager, w.chat, w.tasks)
	w.r.now = func() time.Time { return w.now }
	return w
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	return zerolog.Nop().WithContext(context.Background())
}

// selfService is the JSON of a self-service alarm to users, with extra top-level fields.
func selfService(requestID, title, body string, users []string, extra string) []byte {
	var us []string
	for _, u := range users {
		us = append(us, fmt.Sprintf(`{"slackId":%q}`, u))
	}
	return []byte(fmt.Sprintf(`{"type":"self-service","requestId":%q,%s"users":[%s],"body":{"github":{"title":%q,"body":%q},"slack":{"message":"was this you?","prompt":"Did you log in?"}}}`,
		requestID, extra, strings.Join(us, ","), title, body))
}

// handle routes an alarm body and fails the test on error.
func (w *world) handle(t *testing.T, body []byte) {
	t.Helper()
	if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: body}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

// prompt returns the button value of the last prompt DMed to user.
func (w *world) prompt(t *testing.T, user string) string {
	t.Helper()
	dms := w.chat.DMs(user)
	if len(dms) == 0 || len(dms[len(dms)-1].Buttons) == 0 {
		t.Fatalf("no prompt DMed to %s", user)
	}
	return dms[len(dms)-1].Buttons[0].Value
}

func (w *world) click(t *testing.T, user, action, value string) {
	t.Helper()
	if err := w.r.Answer(testCtx(t), Click{UserID: user, ActionID: action, Value: value, Channel: "D" + user, ResponseURL: "https://hooks.example/r"}); err != nil {
		t.Fatalf("Answer: %v", err)
	}
}

var errGitHubDown = errors.New("github: 502 bad gateway")

// issue is the world's first issue, as GitHub has it now.
func (w *world) issue(t *testing.T) Issue {
	t.Helper()
	is, err := w.issues.Get(testCtx(t), testRepo, 1)
	if err != nil {
		t.Fatal(err)
	}
	return is
}
