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
	"github.com/dispatch-oss/dispatch/retry"
)

// In-memory fakes of the ports handlers declares, in the manner of prow's fakegithub: mutex-guarded
// maps, every side effect recorded, failures injected by the test. No wire, no clock.

// dispatchLogin is the fakes' identity of dispatch on GitHub.
const dispatchLogin = "dispatch-bot"

// fakeIssues is an in-memory GitHub: issues by repo and number, written as whoever the test says.
type fakeIssues struct {
	mu       sync.Mutex
	self     string
	issues   map[string][]*Issue // repo (lower-cased) → issues, number = index+1
	comments map[string][]Comment
	// writes records every write, as "create owner/name title", "comment owner/name#N", ...
	writes   []string
	lookups  int   // AlarmsFor calls
	failNext error // returned (once) by the next write
	// failGets fails every Get (GitHub down for reads too).
	failGets error
	// delay is CreateDelay: past inlineIssueWait, prompts go before their issues.
	delay time.Duration
}

func newFakeIssues() *fakeIssues {
	return &fakeIssues{self: dispatchLogin, issues: map[string][]*Issue{}, comments: map[string][]Comment{}}
}

func (f *fakeIssues) key(repo string, n int) string {
	return fmt.Sprintf("%s#%d", strings.ToLower(repo), n)
}

// seed adds an issue written by author and returns it.
func (f *fakeIssues) seed(repo, author string, ni NewIssue) Issue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(repo, author, ni)
}

func (f *fakeIssues) addLocked(repo, author string, ni NewIssue) Issue {
	k := strings.ToLower(repo)
	n := len(f.issues[k]) + 1
	is := &Issue{Repo: repo, Number: n, Title: ni.Title, Body: ni.Body, Open: true, Labels: slices.Clone(ni.Labels), Author: author,
		URL: fmt.Sprintf("https://github.example/%s/issues/%d", repo, n)}
	f.issues[k] = append(f.issues[k], is)
	return *is
}

// commentAs adds a comment by author (anyone who can comment on the repository).
func (f *fakeIssues) commentAs(repo string, n int, author, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments[f.key(repo, n)] = append(f.comments[f.key(repo, n)], Comment{Author: author, Body: body})
}

func (f *fakeIssues) get(repo string, n int) (*Issue, error) {
	list := f.issues[strings.ToLower(repo)]
	if n < 1 || n > len(list) || list[n-1] == nil {
		return nil, retry.Permanent(fmt.Errorf("github: %s#%d: 404 Not Found", repo, n))
	}
	return list[n-1], nil
}

func (f *fakeIssues) write(what string) error {
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	f.writes = append(f.writes, what)
	return nil
}

func (f *fakeIssues) Writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes)
}

func (f *fakeIssues) FindByTitle(_ context.Context, repo, title string, includeClosed bool) ([]Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Issue
	for _, is := range f.issues[strings.ToLower(repo)] {
		if is != nil && is.Title == title && is.HasLabel(LabelDispatch) && (is.Open || includeClosed) {
			out = append(out, *is)
		}
	}
	return out, nil
}

func (f *fakeIssues) Create(_ context.Context, repo string, ni NewIssue) (Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write("create " + repo + " " + ni.Title); err != nil {
		return Issue{}, err
	}
	return f.addLocked(repo, f.self, ni), nil
}

func (f *fakeIssues) Get(_ context.Context, repo string, number int) (Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGets != nil {
		return Issue{}, f.failGets
	}
	is, err := f.get(repo, number)
	if err != nil {
		return Issue{}, err
	}
	return *is, nil
}

func (f *fakeIssues) Comment(_ context.Context, repo string, number int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(repo, number); err != nil {
		return err
	}
	if err := f.write(fmt.Sprintf("comment %s#%d", repo, number)); err != nil {
		return err
	}
	f.comments[f.key(repo, number)] = append(f.comments[f.key(repo, number)], Comment{Author: f.self, Body: body})
	return nil
}

func (f *fakeIssues) Comments(_ context.Context, repo string, number int) ([]Comment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.comments[f.key(repo, number)]), nil
}

func (f *fakeIssues) Close(_ context.Context, repo string, number int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, err := f.get(repo, number)
	if err != nil {
		return err
	}
	if err := f.write(fmt.Sprintf("close %s#%d", repo, number)); err != nil {
		return err
	}
	is.Open = false
	return nil
}

func (f *fakeIssues) AddLabels(_ context.Context, repo string, number int, labels ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, err := f.get(repo, number)
	if err != nil {
		return err
	}
	if err := f.write(fmt.Sprintf("label %s#%d %s", repo, number, strings.Join(labels, ","))); err != nil {
		return err
	}
	is.Labels = append(is.Labels, labels...)
	return nil
}

func (f *fakeIssues) CreateDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay
}

func (f *fakeIssues) AlarmsFor(_ context.Context, repo, slackUserID string, open bool, limit int) ([]Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	var out []Issue
	list := f.issues[strings.ToLower(repo)]
	for i := len(list) - 1; i >= 0 && len(out) < limit; i-- {
		is := list[i]
		if is != nil && is.Open == open && is.HasLabel(LabelDispatch) && strings.Contains(is.Body, "slack="+slackUserID) {
			out = append(out, *is)
		}
	}
	return out, nil
}

func (f *fakeIssues) Identity(context.Context) (string, error) { return f.self, nil }

func (f *fakeIssues) Lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// fakePager records triggers.
type fakePager struct {
	mu    sync.Mutex
	pages []Page
}

func (p *fakePager) Trigger(_ context.Context, pg Page) error {
	p.mu.Lock()
	defer p.mu.Unlock()
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
	mu       sync.Mutex
	users    map[string]bool  // Slack IDs that exist
	cannotDM map[string]error // users Slack refuses a DM to, and how
	dms      map[string][]Message
	posts    []Message
	told     []string
	homes    []HomeView
	settled  []string
	ts       int
}

func newFakeChat(users ...string) *fakeChat {
	c := &fakeChat{users: map[string]bool{}, cannotDM: map[string]error{}, dms: map[string][]Message{}}
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
	return "", fmt.Errorf("resolve %s: %w", u.Label(), ErrUnknownUser)
}

func (c *fakeChat) ref(channel string) MessageRef {
	c.ts++
	return MessageRef{Channel: channel, TS: fmt.Sprintf("1700000000.%06d", c.ts)}
}

func (c *fakeChat) DM(_ context.Context, userID string, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.cannotDM[userID]; err != nil {
		return MessageRef{}, err
	}
	c.dms[userID] = append(c.dms[userID], m)
	return c.ref("D" + userID), nil
}

func (c *fakeChat) Post(_ context.Context, channel string, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, m)
	return c.ref(channel), nil
}

func (c *fakeChat) Sent(_ context.Context, userID, key string) (MessageRef, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.dms[userID] {
		if m.Key == key {
			return MessageRef{Channel: "D" + userID, TS: "1700000000.000001"}, true, nil
		}
	}
	for _, m := range c.posts {
		if userID != "" && m.Key == key {
			return MessageRef{Channel: userID, TS: "1700000000.000001"}, true, nil
		}
	}
	return MessageRef{}, false, nil
}

func (c *fakeChat) Reply(_ context.Context, parent MessageRef, m Message) (MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, m)
	return c.ref(parent.Channel), nil
}

func (c *fakeChat) Permalink(_ context.Context, ref MessageRef) (string, error) {
	return "https://slack.example/archives/" + ref.Channel + "/p" + ref.TS, nil
}

func (c *fakeChat) Settle(_ context.Context, _ MessageRef, outcome string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settled = append(c.settled, outcome)
	return nil
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
}

func (q *fakeTasks) Defer(_ context.Context, t Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks = append(q.tasks, t)
	return nil
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
