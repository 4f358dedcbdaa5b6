package githubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/dispatch-oss/dispatch/handlers"
)

// The index answers FindByTitle and AlarmsFor from memory instead of a GitHub search per alarm and
// per App Home open (search allows 30 requests a minute, and lags behind new issues). It holds
// dispatch's issues of one repository, loaded once by a paged listing (creator= dispatch's own
// identity, state=all, sort=updated ascending) and kept fresh by the same listing from `since` with
// the last ETag: answered 304 Not Modified when nothing changed, which costs no primary quota.
// Issues this client creates, closes or labels are applied at once.
//
// The listing is by author, not by the dispatch label: anyone with triage rights can remove a
// label, and an issue listed by label that lost it left the listing unseen, so its close never
// showed and the index kept it open for ever (every later alarm with its title was then dropped as
// its duplicate). Nobody can change who opened an issue, so every change to dispatch's issues shows
// in the listing. Of those, the index keeps the ones dispatch filed: its label or its marker (a
// label removed later changes nothing); an issue that is neither, or no longer either, is dropped.

// Index defaults.
const (
	// DefaultIndexMaxAge bounds how stale the index may be when it answers a lookup. Others' new
	// issues need no refresh (FindByTitle refreshes for an unknown number below its own newest,
	// and the router looks again after creating), so this only bounds how late a lookup sees an
	// issue closed or relabelled on GitHub: the watch's interval.
	DefaultIndexMaxAge = DefaultWatchInterval
	// DefaultIndexLimit bounds the issues kept per repository, open and closed: about 25–28 MB at
	// the measured 490–550 bytes an issue (TestIndexMemory, docs/PERFORMANCE.md).
	DefaultIndexLimit = 50_000
	// advanceAfter: once a refresh from one `since` returns this many issues, the next starts from
	// the newest of them (a different query, so one 200 without a conditional match).
	advanceAfter = 50
	// maxGapScan bounds the numbers checked one by one for coverage before refreshing anyway.
	maxGapScan = 10_000
	// maxPendingChanges bounds the changes kept for Watch until it acts on them.
	maxPendingChanges = 1000
)

// entry is what dispatch needs of one issue: not its body, only the hidden marker at its end.
type entry struct {
	number  int
	title   string
	open    bool
	labels  []string // interned
	marker  string   // the body's last "<!-- dispatch … -->", or ""
	slack   string   // the marker's slack= field (a substring of it), for AlarmsFor
	updated time.Time
	author  string
	// localAt is when this client's own request set it (zero for a listed issue): a listing made
	// before then, in the same second of GitHub's clock, is older than it.
	localAt time.Time
}

// index is dispatch's issues of one repository. It is safe for concurrent use.
type index struct {
	c                 *Client
	repo, owner, name string
	used              uint64 // when indexFor last returned it, in Client.uses; under Client.imu

	mu       sync.Mutex
	entries  map[int]*entry
	byTitle  map[string][]*entry
	labels   map[string]string // interned label names
	htmlBase string            // "https://github.com/owner/name/issues/", from the first issue seen
	loaded   bool
	since    time.Time // the refresh's `since`
	sinceN   int       // issues the refreshes from since returned
	etag     string    // of the last 200 from since; "" after since moved
	checked  time.Time // when the last successful refresh started
	covered  int       // every issue numbered up to covered existed before a successful refresh started
	top      int       // the highest number ever applied
	created  int       // the highest number this client created
	flight   *flight
	changes  []change // seen by a refresh, for Watch
	watching bool

	// Issues were dropped to stay within the limit: closed ones, open ones (see evictLocked).
	evictedClosed, evictedOpen bool
}

// flight is one refresh in progress; lookups that need it wait for it.
type flight struct {
	done chan struct{}
	err  error
}

// change is what a refresh saw happen to an open issue: closed, or given the escalated label.
type change struct {
	e     entry
	label string // the label added; "" when the issue was closed
	// After a transient failure to act on it: how often it failed, since when, and when to try again.
	tries        int
	failed, next time.Time
}

func newIndex(c *Client, repo, owner, name string) *index {
	return &index{c: c, repo: repo, owner: owner, name: name,
		entries: map[int]*entry{}, byTitle: map[string][]*entry{}, labels: map[string]string{}}
}

// maxIndexes bounds the repositories whose index a Client keeps: alarms may name any repository
// under GITHUB_ALLOWED_REPOS "owner/*", existing or not. Past it, the least recently used index
// that is not watched is dropped (a later lookup there loads it again, one listing a page); an
// index whose listing finds no repository is dropped at once (forget).
const maxIndexes = 100

// indexFor returns repo's index, creating it (empty, not loaded) on first use.
func (c *Client) indexFor(repo string) (*index, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	key := strings.ToLower(repo)
	c.imu.Lock()
	defer c.imu.Unlock()
	c.uses++
	x := c.indexes[key]
	if x == nil {
		x = newIndex(c, repo, owner, name)
		c.indexes[key] = x
		c.trimLocked()
	}
	x.used = c.uses
	return x, nil
}

// trimLocked drops the least recently used indexes that are not watched while there are more than
// maxIndexes. Whoever still holds one finishes with it; it is only no longer found. c.imu must be
// held.
func (c *Client) trimLocked() {
	for len(c.indexes) > maxIndexes {
		var lru string
		for k, x := range c.indexes {
			if x.used != 0 && !x.isWatched() && (lru == "" || x.used < c.indexes[lru].used) {
				lru = k
			}
		}
		if lru == "" {
			return // all watched (at most MaxWatched), or new
		}
		delete(c.indexes, lru)
	}
}

// forget drops x unless it is watched: its repository doesn't exist (or dispatch can't see it), and
// alarms naming thousands of such repositories must not keep an index for each.
func (c *Client) forget(x *index) {
	if x.isWatched() {
		return
	}
	key := strings.ToLower(x.repo)
	c.imu.Lock()
	defer c.imu.Unlock()
	if c.indexes[key] == x {
		delete(c.indexes, key)
	}
}

// Preload loads repo's index now (a paged listing of dispatch's issues), so the first alarm does
// not wait for it. Lookups made meanwhile wait for the same load.
func (c *Client) Preload(ctx context.Context, repo string) error {
	x, err := c.indexFor(repo)
	if err != nil {
		return err
	}
	return x.ensure(ctx, c.maxAge, 0)
}

// ensure makes the index loaded, refreshed no longer than maxAge ago, and covering every issue
// numbered below upTo (issues this client created are covered as soon as they are applied).
func (x *index) ensure(ctx context.Context, maxAge time.Duration, upTo int) error {
	oldest := time.Now().Add(-maxAge) // a refresh that started after this is fresh enough
	for {
		x.mu.Lock()
		if x.loaded && !x.checked.Before(oldest) && x.coveredLocked(upTo) {
			x.mu.Unlock()
			return nil
		}
		if f := x.flight; f != nil {
			x.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if f.err != nil && !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded) {
				return f.err
			}
			continue // that refresh may have started before what this lookup needs: check again
		}
		f := &flight{done: make(chan struct{})}
		x.flight = f
		start, top := time.Now(), x.topLocked()
		x.mu.Unlock()

		err := x.fetch(ctx)
		x.mu.Lock()
		if err == nil {
			x.checked, x.covered = start, max(x.covered, top)
		}
		x.flight, f.err = nil, err
		close(f.done)
		x.mu.Unlock()
		if err != nil {
			if notFound(err) {
				x.c.forget(x)
			}
			return fmt.Errorf("refresh the issues of %s: %w", x.repo, err)
		}
	}
}

// coveredLocked reports whether every issue numbered below upTo is known: either a refresh that
// started after it existed has run, or it is in the index. x.mu must be held.
func (x *index) coveredLocked(upTo int) bool {
	if upTo-1 <= x.covered {
		return true
	}
	if upTo-1-x.covered > maxGapScan {
		return false
	}
	for n := x.covered + 1; n < upTo; n++ {
		if x.entries[n] == nil {
			return false
		}
	}
	return true
}

// topLocked is the highest issue number known: everything below it existed before it did.
func (x *index) topLocked() int { return max(x.covered, x.created, x.top) }

// fetch loads the index (every page) the first time, and afterwards asks for what changed since
// the last refresh with the ETag of its answer.
func (x *index) fetch(ctx context.Context) error {
	self, err := x.c.Identity(ctx)
	if err != nil {
		return err
	}
	x.mu.Lock()
	loaded, since, etag := x.loaded, x.since, x.etag
	x.mu.Unlock()
	q := url.Values{"creator": {self}, "state": {"all"}, "sort": {"updated"}, "direction": {"asc"}, "per_page": {"100"}}
	if loaded && !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	n, newest, pages := 0, since, 0
	for page := 1; page > 0; pages++ {
		asked := time.Now()
		q.Set("page", strconv.Itoa(page))
		conditional := ""
		if page == 1 && loaded {
			conditional = etag
		}
		list, resp, err := x.list(ctx, q, conditional)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusNotModified {
			return nil
		}
		x.mu.Lock()
		for _, is := range list {
			if is.IsPullRequest() {
				continue
			}
			if e := x.entryOf(is); x.keeps(e, self) {
				x.applyLocked(e, asked)
			} else {
				x.unlinkIfPresentLocked(e.number)
			}
			if t := is.GetUpdatedAt().Time; t.After(newest) {
				newest = t
			}
		}
		if page == 1 {
			x.etag = resp.Header.Get("ETag")
		}
		x.mu.Unlock()
		n += len(list)
		page = resp.NextPage
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sinceN = n
	// Several pages, or a long answer: move since on (the next query differs, so it is a 200).
	if !loaded || n >= advanceAfter || pages > 1 || x.etag == "" {
		x.since, x.etag = newest, ""
		if !loaded {
			x.loaded = true
		}
	}
	x.evictLocked()
	return nil
}

// list is one conditional page of the listing. A 304 comes back as a response with no error.
func (x *index) list(ctx context.Context, q url.Values, etag string) ([]*github.Issue, *github.Response, error) {
	var list []*github.Issue
	var out *github.Response
	err := x.c.do(ctx, "list issues", false, func(ctx context.Context) error {
		req, err := x.c.gh.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s/issues?%s", x.owner, x.name, q.Encode()), nil)
		if err != nil {
			return err
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		list = list[:0]
		resp, err := x.c.gh.Do(ctx, req, &list)
		if resp != nil && resp.StatusCode == http.StatusNotModified {
			out = resp
			return nil
		}
		out = resp
		return err
	})
	return list, out, err
}

// entryOf keeps what dispatch needs of an issue.
func (x *index) entryOf(is *github.Issue) *entry {
	e := &entry{number: is.GetNumber(), title: is.GetTitle(), open: is.GetState() == "open",
		marker: markerOf(is.GetBody()), updated: is.GetUpdatedAt().Time, author: is.GetUser().GetLogin()}
	e.slack = fieldOf(e.marker, "slack=")
	for _, l := range is.Labels {
		e.labels = append(e.labels, x.intern(l.GetName()))
	}
	if x.htmlBase == "" {
		if u := is.GetHTMLURL(); strings.HasSuffix(u, "/"+strconv.Itoa(e.number)) {
			x.htmlBase = strings.TrimSuffix(u, strconv.Itoa(e.number))
		}
	}
	return e
}

// keeps reports whether the index holds e: an issue self (dispatch's identity) opened and filed as
// an alarm's, with the dispatch label or its marker. Either is enough, so that a triager who
// removes the label changes nothing.
func (x *index) keeps(e *entry, self string) bool {
	return strings.EqualFold(e.author, self) && (e.marker != "" || slices.Contains(e.labels, x.c.label))
}

// markerOf returns the last dispatch marker of a body (a copy, so the body can be freed).
func markerOf(body string) string {
	i := strings.LastIndex(body, "<!-- dispatch ")
	if i < 0 {
		return ""
	}
	j := strings.Index(body[i:], "-->")
	if j < 0 {
		return ""
	}
	return strings.Clone(body[i : i+j+3])
}

// fieldOf returns the value of the space-separated field name=value in a marker, or "".
func fieldOf(marker, name string) string {
	for f := range strings.FieldsSeq(marker) {
		if v, ok := strings.CutPrefix(f, name); ok {
			return v
		}
	}
	return ""
}

// intern shares one copy of each label name. x.mu must be held.
func (x *index) intern(s string) string {
	if v, ok := x.labels[s]; ok {
		return v
	}
	s = strings.Clone(s)
	x.labels[s] = s
	return s
}

// applyLocked stores e, replacing the issue's earlier state unless that is newer. listedAt is when
// the listing that showed e was asked for (zero for this client's own request's answer): as
// GitHub's timestamps are whole seconds, a listing asked for before this client's own change of
// the same second is the older. A listed issue that was pending (open, not escalated) and is now
// closed or has the escalated label is kept for Watch; one already escalated (its user answered No,
// or nobody answered) is no pending alarm, and closing it later settles nothing.
// x.mu must be held.
func (x *index) applyLocked(e *entry, listedAt time.Time) {
	old := x.entries[e.number]
	if old != nil {
		if old.updated.After(e.updated) || (!listedAt.IsZero() && listedAt.Before(old.localAt) && !e.updated.After(old.updated)) {
			return // this client changed it after the listing was made
		}
		if !listedAt.IsZero() && old.open && !slices.Contains(old.labels, handlers.LabelEscalated) && x.watching {
			switch {
			case !e.open:
				x.noteLocked(change{e: *e})
			case slices.Contains(e.labels, handlers.LabelEscalated):
				x.noteLocked(change{e: *e, label: handlers.LabelEscalated})
			}
		}
		if old.title != e.title {
			x.unlinkLocked(old)
		} else {
			*old = *e
			return
		}
	}
	x.entries[e.number] = e
	x.byTitle[e.title] = append(x.byTitle[e.title], e)
	x.top = max(x.top, e.number)
}

// noteLocked keeps a change for Watch, the most recent maxPendingChanges. x.mu must be held.
func (x *index) noteLocked(c change) {
	x.changes = append(x.changes, c)
	if len(x.changes) > maxPendingChanges {
		x.changes = x.changes[len(x.changes)-maxPendingChanges:]
	}
}

func (x *index) unlinkLocked(e *entry) {
	list := x.byTitle[e.title]
	list = slices.DeleteFunc(list, func(o *entry) bool { return o.number == e.number })
	if len(list) == 0 {
		delete(x.byTitle, e.title)
	} else {
		x.byTitle[e.title] = list
	}
	delete(x.entries, e.number)
}

// evictLocked keeps the index within its limit: once it holds more, it drops the longest-unchanged
// issues down to 90% of it, closed ones first and open ones only when the closed are not enough (a
// publisher's alarms can open any number). Nothing is lost: a lookup that misses while issues of
// its kind were dropped asks search once (FindByTitle), and a dropped issue that changes comes
// back with the next listing. What a dropped open issue no longer has: its place on the App Home
// (AlarmsFor), and the watch's report of its close, so its prompt is settled by the answer or the
// escalation instead. x.mu must be held.
func (x *index) evictLocked() {
	limit := x.c.indexLimit
	if len(x.entries) <= limit {
		return
	}
	all := make([]*entry, 0, len(x.entries))
	for _, e := range x.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if a.open != b.open {
			if a.open {
				return 1
			}
			return -1
		}
		return a.updated.Compare(b.updated)
	})
	for _, e := range all {
		if len(x.entries) <= limit*9/10 {
			break
		}
		x.unlinkLocked(e)
		if e.open {
			x.evictedOpen = true
		} else {
			x.evictedClosed = true
		}
	}
}

// issue turns an entry into what the handlers see; Body holds only the marker.
func (x *index) issue(e *entry) handlers.Issue {
	out := handlers.Issue{Repo: x.repo, Number: e.number, Title: e.title, Body: e.marker, Open: e.open,
		Labels: slices.Clone(e.labels), Author: e.author}
	if x.htmlBase != "" {
		out.URL = x.htmlBase + strconv.Itoa(e.number)
	}
	return out
}
