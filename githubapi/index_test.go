package githubapi

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
)

const (
	indexRepo  = "acme/alarms"
	indexToken = "ghp_index_test"
	listRoute  = "GET /repos/{owner}/{repo}/issues"
)

// newIndexed starts a fake GitHub (every limit at github.com's default) and a client with the
// given index age.
func newIndexed(t *testing.T, maxAge time.Duration) (*fakegithub.Server, *Client) {
	t.Helper()
	srv := fakegithub.New(fakegithub.Options{Token: indexToken})
	t.Cleanup(srv.Close)
	srv.AddRepo(indexRepo)
	return srv, clientOf(t, srv, maxAge)
}

func clientOf(t *testing.T, srv *fakegithub.Server, maxAge time.Duration) *Client {
	t.Helper()
	c, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), indexToken, nil)},
		IndexMaxAge: maxAge, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seedDispatch(srv *fakegithub.Server, title, marker string, closed bool) fakegithub.Issue {
	is := fakegithub.Issue{Title: title, Body: "What happened, in many words.\n\n" + marker, Labels: []string{"dispatch"}}
	if closed {
		is.State = "closed"
	}
	return srv.SeedIssue(indexRepo, is)
}

// TestFindByTitleNeedsNoSearch: lookups of every kind come from the index: no search, one listing
// to load it, then nothing while it is fresh; closed issues only when asked for; pull requests
// and issues without dispatch's label never.
func TestFindByTitleNeedsNoSearch(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	ctx := context.Background()
	seedDispatch(srv, "Root login", "<!-- dispatch alarm=a1 user= -->", false)
	seedDispatch(srv, "Root login", "<!-- dispatch alarm=a0 user= -->", true)
	srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "Root login", Labels: []string{"dispatch"}, PullRequest: true})
	srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "Root login"}) // not dispatch's
	for range 50 {
		open, err := c.FindByTitle(ctx, indexRepo, "Root login", false)
		if err != nil {
			t.Fatal(err)
		}
		all, err := c.FindByTitle(ctx, indexRepo, "Root login", true)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].Number != 1 || !open[0].Open || len(all) != 2 || all[1].Open {
			t.Fatalf("open %+v, all %+v", open, all)
		}
		if open[0].Body != "<!-- dispatch alarm=a1 user= -->" || open[0].URL != "https://github.com/acme/alarms/issues/1" {
			t.Fatalf("kept body %q, url %q: want only the marker and the issue's link", open[0].Body, open[0].URL)
		}
	}
	calls := srv.Calls()
	if calls["GET /search/issues"] != 0 || calls[listRoute] != 1 {
		t.Errorf("100 lookups made %d searches and %d listings; want 0 and 1", calls["GET /search/issues"], calls[listRoute])
	}
}

// TestIndexRefreshIsConditional: past its age the index asks again with its ETag; with nothing
// changed GitHub answers 304, which costs no primary quota; a change is picked up.
func TestIndexRefreshIsConditional(t *testing.T) {
	srv, c := newIndexed(t, time.Nanosecond) // every lookup refreshes
	ctx := context.Background()
	seedDispatch(srv, "Old", "<!-- dispatch alarm=old user= -->", false)
	for range 10 {
		if _, err := c.FindByTitle(ctx, indexRepo, "Old", false); err != nil {
			t.Fatal(err)
		}
	}
	// The load, one 200 from the new since, then 304s.
	if got, nm := srv.Calls()[listRoute], srv.NotModifiedCalls(); got != 10 || nm < 8 {
		t.Errorf("10 lookups: %d listings, %d answered 304; want 10 and at least 8", got, nm)
	}
	other := clientOf(t, srv, time.Hour)
	made, err := other.Create(ctx, indexRepo, handlers.NewIssue{Title: "New", Body: "x\n\n<!-- dispatch alarm=new user= -->", Labels: []string{"dispatch"}})
	if err != nil {
		t.Fatal(err)
	}
	found, err := c.FindByTitle(ctx, indexRepo, "New", false)
	if err != nil || len(found) != 1 || found[0].Number != made.Number {
		t.Fatalf("another client's new issue: %+v, %v", found, err)
	}
	if err := other.Close(ctx, indexRepo, made.Number); err != nil {
		t.Fatal(err)
	}
	found, err = c.FindByTitle(ctx, indexRepo, "New", false)
	if err != nil || len(found) != 0 {
		t.Fatalf("closed elsewhere, still open here: %+v, %v", found, err)
	}
}

// TestOwnAndOlderIssuesAreSeenAtOnce: an issue this client creates is found at once, without a
// request, and so is one another client created before it (the index refreshes because a number
// below its own is unknown), however fresh the index thinks it is.
func TestOwnAndOlderIssuesAreSeenAtOnce(t *testing.T) {
	srv, a := newIndexed(t, time.Hour)
	b := clientOf(t, srv, time.Hour)
	ctx := context.Background()
	for _, c := range []*Client{a, b} {
		if err := c.Preload(ctx, indexRepo); err != nil {
			t.Fatal(err)
		}
	}
	ni := handlers.NewIssue{Title: "Same", Labels: []string{"dispatch"}}
	ni.Body = "<!-- dispatch alarm=from-b user= -->"
	fromB, err := b.Create(ctx, indexRepo, ni)
	if err != nil {
		t.Fatal(err)
	}
	ni.Body = "<!-- dispatch alarm=from-a user= -->"
	fromA, err := a.Create(ctx, indexRepo, ni)
	if err != nil {
		t.Fatal(err)
	}
	listings := srv.Calls()[listRoute]
	found, err := a.FindByTitle(ctx, indexRepo, "Same", false)
	if err != nil || len(found) != 2 || found[0].Number != fromB.Number || found[1].Number != fromA.Number {
		t.Fatalf("a sees %+v (%v); want b's #%d then its own #%d", found, err, fromB.Number, fromA.Number)
	}
	if got := srv.Calls()[listRoute] - listings; got != 1 {
		t.Errorf("a made %d listings to see b's older issue; want 1", got)
	}
	found, err = b.FindByTitle(ctx, indexRepo, "Same", false)
	if err != nil || len(found) != 1 || found[0].Number != fromB.Number {
		t.Errorf("b sees %+v (%v); want its own (a's is newer and the index is fresh)", found, err)
	}
}

// TestAlarmsForComesFromTheIndex: a user's alarms by the Slack ID in their marker, newest first,
// open or closed, without a search.
func TestAlarmsForComesFromTheIndex(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	ctx := context.Background()
	for i := range 5 {
		seedDispatch(srv, fmt.Sprintf("Alarm %d", i), fmt.Sprintf("<!-- dispatch alarm=a%d user=ann slack=U1 ticket=t%d -->", i, i), i == 4)
	}
	seedDispatch(srv, "Someone else", "<!-- dispatch alarm=b user=bob slack=U11 -->", false)
	open, err := c.AlarmsFor(ctx, indexRepo, "U1", true, 3)
	if err != nil {
		t.Fatal(err)
	}
	closed, err := c.AlarmsFor(ctx, indexRepo, "U1", false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 3 || open[0].Number != 4 || open[2].Number != 2 || len(closed) != 1 || closed[0].Number != 5 {
		t.Errorf("open %+v closed %+v", open, closed)
	}
	if srv.Calls()["GET /search/issues"] != 0 {
		t.Errorf("AlarmsFor searched")
	}
}

// TestIndexEvictsOldClosedIssues: past its limit the index drops the longest-unchanged closed
// issues, keeps every open one, and a lookup that misses asks search for the dropped.
func TestIndexEvictsOldClosedIssues(t *testing.T) {
	srv, c := overLimit(t, func(i int) string { return map[bool]string{true: "closed", false: "open"}[i < 20] })
	ctx := context.Background()
	x, _ := c.indexFor(indexRepo)
	x.mu.Lock()
	n, open := len(x.entries), 0
	for _, e := range x.entries {
		if e.open {
			open++
		}
	}
	x.mu.Unlock()
	if n != 18 || open != 10 {
		t.Errorf("index holds %d issues, %d open; want 18 (90%% of 20) and all 10 open", n, open)
	}
	found, err := c.FindByTitle(ctx, indexRepo, "T0", true)
	if err != nil || len(found) != 1 || srv.Calls()["GET /search/issues"] != 1 {
		t.Errorf("a dropped closed issue: %+v, %v, %d searches", found, err, srv.Calls()["GET /search/issues"])
	}
}

// overLimit loads an index limited to 20 issues from 30 of dispatch's (T0, the longest unchanged,
// to T29), each in the state stateOf gives it.
func overLimit(t *testing.T, stateOf func(i int) string) (*fakegithub.Server, *Client) {
	t.Helper()
	srv := fakegithub.New(fakegithub.Options{Token: indexToken})
	t.Cleanup(srv.Close)
	start := time.Now().Add(-time.Hour)
	for i := range 30 {
		srv.SeedIssue(indexRepo, fakegithub.Issue{Title: fmt.Sprintf("T%d", i), Labels: []string{"dispatch"}, State: stateOf(i),
			Body: fmt.Sprintf("x\n\n<!-- dispatch alarm=a%d user= -->", i), CreatedAt: start.Add(time.Duration(i) * time.Minute)})
	}
	c, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), indexToken, nil)}, IndexMaxAge: time.Hour, IndexLimit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Preload(context.Background(), indexRepo); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// TestIndexMemory measures the index's memory per issue with realistic issues (long bodies,
// which it must not keep) and holds it to a generous bound; the figure is in docs/PERFORMANCE.md.
func TestIndexMemory(t *testing.T) {
	const n = 5_000
	srv := fakegithub.New(fakegithub.Options{Token: indexToken})
	t.Cleanup(srv.Close)
	srv.SetPrimaryLimit(0, 0) // the load is 50 pages: the limit is not what this measures
	srv.SetPointsLimit(0, 0)
	body := fmt.Sprintf("%0500d", 0)
	for i := range n {
		srv.SeedIssue(indexRepo, fakegithub.Issue{Title: fmt.Sprintf("Console sign-in without MFA for user%05d", i),
			Body:   body + fmt.Sprintf("\n\n<!-- dispatch alarm=guardduty-%08d user=user%05d slack=U0B%05d ticket=eyJhIjoiZ3VhcmRkdXR5In0 -->", i, i, i),
			Labels: []string{"dispatch", "aws", "mfa"}, State: map[bool]string{true: "closed", false: "open"}[i%3 == 0]})
	}
	c := clientOf(t, srv, time.Hour)
	before := heap()
	if err := c.Preload(context.Background(), indexRepo); err != nil {
		t.Fatal(err)
	}
	after := heap()
	x, _ := c.indexFor(indexRepo)
	x.mu.Lock()
	kept := len(x.entries)
	x.mu.Unlock()
	per := float64(after-before) / n
	t.Logf("index of %d issues: %.1f MB, %.0f bytes an issue", kept, float64(after-before)/(1<<20), per)
	if kept != n || per > 1024 {
		t.Errorf("index of %d issues: %.0f bytes an issue; want all %d and under 1 KiB each", kept, per, n)
	}
	runtime.KeepAlive(c)
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestOwnChangesApplyInTheSameSecond: closing an issue this client created a moment ago (the same
// second on GitHub's clock) shows at once.
func TestOwnChangesApplyInTheSameSecond(t *testing.T) {
	_, c := newIndexed(t, time.Hour)
	ctx := context.Background()
	is, err := c.Create(ctx, indexRepo, handlers.NewIssue{Title: "Quick", Body: "<!-- dispatch alarm=q user=ann slack=U1 -->", Labels: []string{"dispatch"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx, indexRepo, is.Number); err != nil {
		t.Fatal(err)
	}
	if err := c.AddLabels(ctx, indexRepo, is.Number, "dispatch:escalated"); err != nil {
		t.Fatal(err)
	}
	open, err := c.AlarmsFor(ctx, indexRepo, "U1", true, 10)
	if err != nil || len(open) != 0 {
		t.Fatalf("closed a moment ago, still open: %+v %v", open, err)
	}
	closed, err := c.AlarmsFor(ctx, indexRepo, "U1", false, 10)
	if err != nil || len(closed) != 1 || !closed[0].HasLabel("dispatch:escalated") {
		t.Fatalf("closed: %+v %v", closed, err)
	}
}

// TestATriagerWhoRemovesTheLabelHidesNoClose: someone with triage rights removes the dispatch
// label from dispatch's open issue and closes it. A listing by label never saw the close, so the
// index kept the issue open and every later alarm with its title was dropped as its duplicate.
// The index lists what dispatch opened: the close shows, and the issue is still dispatch's.
func TestATriagerWhoRemovesTheLabelHidesNoClose(t *testing.T) {
	srv, c := newIndexed(t, time.Nanosecond) // every lookup refreshes, as the watch's interval would
	mallory := asMallory(t, srv)
	ctx := context.Background()
	is := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a1 user=u1 slack=U1 -->", false)
	if found, err := c.FindByTitle(ctx, indexRepo, "Root login", false); err != nil || len(found) != 1 {
		t.Fatalf("before: %+v, %v", found, err)
	}
	if _, err := mallory.gh.Issues.RemoveLabelForIssue(ctx, "acme", "alarms", is.Number, "dispatch"); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Close(ctx, indexRepo, is.Number); err != nil {
		t.Fatal(err)
	}
	open, err := c.FindByTitle(ctx, indexRepo, "Root login", false)
	if err != nil || len(open) != 0 {
		t.Fatalf("closed by a triager after removing the label, still open here: %+v, %v", open, err)
	}
	all, err := c.FindByTitle(ctx, indexRepo, "Root login", true)
	if err != nil || len(all) != 1 || all[0].Open || all[0].HasLabel("dispatch") {
		t.Fatalf("with closed ones: %+v, %v; want dispatch's issue, closed, without the label", all, err)
	}
}

// TestIndexLimitBoundsOpenIssuesToo: a publisher's alarms can open any number of issues; the index
// used to keep every open one past its limit. It drops the longest-unchanged open ones too, once
// the closed are not enough, and a lookup of open issues that misses asks search, which finds them.
func TestIndexLimitBoundsOpenIssuesToo(t *testing.T) {
	srv, c := overLimit(t, func(int) string { return "open" })
	ctx := context.Background()
	x, _ := c.indexFor(indexRepo)
	x.mu.Lock()
	n := len(x.entries)
	x.mu.Unlock()
	if n != 18 {
		t.Errorf("index of 30 open issues holds %d, want 18 (90%% of its limit of 20)", n)
	}
	found, err := c.FindByTitle(ctx, indexRepo, "T0", false)
	if err != nil || len(found) != 1 || !found[0].Open || srv.Calls()["GET /search/issues"] != 1 {
		t.Errorf("the oldest open issue, dropped: %+v, %v, %d searches; want it, through one search", found, err, srv.Calls()["GET /search/issues"])
	}
	if found, err := c.FindByTitle(ctx, indexRepo, "T29", false); err != nil || len(found) != 1 || srv.Calls()["GET /search/issues"] != 1 {
		t.Errorf("the newest, kept: %+v, %v, %d searches in all; want it without a search", found, err, srv.Calls()["GET /search/issues"])
	}
}

// TestIndexesAreBounded: alarms may name any repository under "owner/*". One naming a repository
// that doesn't exist used to leave an index behind for ever, as did every repository ever looked
// into: now no index is kept for a missing repository, and at most maxIndexes for existing ones,
// the least recently used dropped first (the watched never).
func TestIndexesAreBounded(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	ctx := context.Background()
	if err := c.Preload(ctx, indexRepo); err != nil {
		t.Fatal(err)
	}
	x, _ := c.indexFor(indexRepo)
	if !c.claimWatch(x, 0) {
		t.Fatal("could not mark GITHUB_REPO watched")
	}
	count := func() int {
		c.imu.Lock()
		defer c.imu.Unlock()
		return len(c.indexes)
	}
	for i := range 150 {
		if _, err := c.FindByTitle(ctx, fmt.Sprintf("acme/missing-%03d", i), "Root login", true); err == nil {
			t.Fatal("a lookup in a missing repository succeeded")
		}
	}
	if n := count(); n != 1 {
		t.Errorf("150 lookups in missing repositories left %d indexes, want 1 (the watched one)", n)
	}
	for i := range maxIndexes + 20 {
		repo := fmt.Sprintf("acme/service-%03d", i)
		srv.AddRepo(repo)
		if _, err := c.FindByTitle(ctx, repo, "Root login", true); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != maxIndexes {
		t.Errorf("lookups in %d repositories keep %d indexes, want %d", maxIndexes+21, n, maxIndexes)
	}
	c.imu.Lock()
	defer c.imu.Unlock()
	if c.indexes[indexRepo] != x || c.indexes["acme/service-000"] != nil || c.indexes[fmt.Sprintf("acme/service-%03d", maxIndexes+19)] == nil {
		t.Errorf("kept the wrong indexes: want the watched one and the most recently used")
	}
}
