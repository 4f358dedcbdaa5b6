package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dispatch-oss/dispatch/pace"
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
	// nextComment numbers the comments, as GitHub's ids do.
	nextComment int64
	// writes records every write, as "create owner/name title", "comment owner/name#N", ...
	writes   []string
	lookups  int      // AlarmsFor calls
	reads    []string // every Get and Comments, as "get owner/name#N", "comments owner/name#N"
	failNext error    // returned (once) by the next write
	// failGets fails every Get (GitHub down for reads too).
	failGets error
	// down fails every call (GitHub down).
	down error
	// delay is CreateDelay: past inlineIssueWait, prompts go before their issues.
	delay time.Duration
	// pacer, when set, holds every Create as githubapi's content-creating pacing does (and is told,
	// through ctx, how long it may hold one).
	pacer *pace.Pacer
	// hold, when set, holds every AlarmsFor until it is closed; inFlight and peak count them.
	hold           chan struct{}
	inFlight, peak int
	// creating, when set, is told of every Create, which then waits until release is closed.
	creating chan string
	release  chan struct{}
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

// unlabel removes a label from an issue, as anyone with triage rights can.
func (f *fakeIssues) unlabel(repo string, n int, label string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.issues[strings.ToLower(repo)][n-1]
	is.Labels = slices.DeleteFunc(is.Labels, func(l string) bool { return l == label })
}

func (f *fakeIssues) get(repo string, n int) (*Issue, error) {
	list := f.issues[strings.ToLower(repo)]
	if n < 1 || n > len(list) || list[n-1] == nil {
		return nil, retry.Permanent(fmt.Errorf("github: %s#%d: 404 Not Found", repo, n))
	}
	return list[n-1], nil
}

func (f *fakeIssues) write(what string) error {
	if f.down != nil {
		return f.down
	}
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

// Reads lists the Get and Comments calls so far, oldest first.
func (f *fakeIssues) Reads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reads)
}

// filed reports whether the lookups list is, as githubapi's index does: an issue filed as an
// alarm's, with the dispatch label or its marker (a triager may have removed the label since).
func filed(is *Issue) bool {
	_, ok := findMarker(is.Body)
	return ok || is.HasLabel(LabelDispatch)
}

func (f *fakeIssues) FindByTitle(_ context.Context, repo, title string, includeClosed bool) ([]Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	var out []Issue
	for _, is := range f.issues[strings.ToLower(repo)] {
		if is != nil && is.Title == title && filed(is) && (is.Open || includeClosed) {
			out = append(out, *is)
		}
	}
	return out, nil
}

func (f *fakeIssues) Create(ctx context.Context, repo string, ni NewIssue) (Issue, error) {
	if f.pacer != nil {
		done, err := f.pacer.Wait(ctx)
		if err != nil {
			return Issue{}, err
		}
		defer done()
	}
	if f.creating != nil {
		f.creating <- ni.Title
		<-f.release
	}
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
	f.reads = append(f.reads, fmt.Sprintf("get %s#%d", repo, number))
	if f.failGets != nil {
		return Issue{}, f.failGets
	}
	if f.down != nil {
		return Issue{}, f.down
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
	f.nextComment++
	f.comments[f.key(repo, number)] = append(f.comments[f.key(repo, number)], Comment{ID: f.nextComment, Author: f.self, Body: body})
	return nil
}

func (f *fakeIssues) Comments(_ context.Context, repo string, number int) ([]Comment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, fmt.Sprintf("comments %s#%d", repo, number))
	if f.down != nil {
		return nil, f.down
	}
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

func (f *fakeIssues) AlarmsFor(ctx context.Context, repo, slackUserID string, open bool, limit int) ([]Issue, error) {
	f.mu.Lock()
	f.lookups++
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	var out []Issue
	list := f.issues[strings.ToLower(repo)]
	for i := len(list) - 1; i >= 0 && len(out) < limit; i-- {
		is := list[i]
		if is != nil && is.Open == open && filed(is) && strings.Contains(is.Body, "slack="+slackUserID) {
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
