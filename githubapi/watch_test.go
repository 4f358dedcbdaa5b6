package githubapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/retry"
)

// TestWatchLooksUpOnlyDispatchsOwnIssues: closing dispatch's own pending issue on GitHub is reported
// with who closed it (one GET for closed_by); closing a copy someone else opened, marker and label
// included, is not, and costs no request either, so nobody with triage rights can spend dispatch's
// budget through copies.
func TestWatchLooksUpOnlyDispatchsOwnIssues(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	mallory := asMallory(t, srv)
	own := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a1 user=u1 slack=U1 -->", false)
	copied := srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "Root login", Author: "mallory", Labels: []string{"dispatch"},
		Body: "copied\n\n<!-- dispatch alarm=a1 user=u1 slack=U1 -->"})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var reported []int
	done := make(chan struct{})
	if err := c.Preload(ctx, indexRepo); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		c.Watch(ctx, indexRepo, 20*time.Millisecond, func(_ context.Context, is handlers.Issue, by, _ string) error {
			mu.Lock()
			reported = append(reported, is.Number)
			mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	for _, n := range []int{copied.Number, own.Number} {
		if err := mallory.Close(ctx, indexRepo, n); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := append([]int(nil), reported...)
		mu.Unlock()
		if len(got) > 0 {
			if len(got) != 1 || got[0] != own.Number {
				t.Errorf("reported changes to issues %v, want only dispatch's own #%d", got, own.Number)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the close of dispatch's own issue was never reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Calls()["GET /repos/{owner}/{repo}/issues/{issue_number}"]; n != 1 {
		t.Errorf("%d GETs of an issue to find who closed it, want 1 (dispatch's own, not the copy)", n)
	}
}

// An alarm may name another repository than GITHUB_REPO (within GITHUB_ALLOWED_REPOS): once dispatch
// files an issue there, that repository is watched too, so closing the issue on GitHub settles its
// prompt as it would in GITHUB_REPO. A repository dispatch only looked into is not polled.
func TestWatchAllWatchesEveryRepositoryDispatchFilesIn(t *testing.T) {
	const other, looked = "acme/payments", "acme/empty"
	srv, c := newIndexed(t, time.Hour)
	srv.AddRepo(other)
	srv.AddRepo(looked)
	mallory := asMallory(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	reported := make(chan handlers.Issue, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.WatchAll(ctx, indexRepo, 20*time.Millisecond, func(_ context.Context, is handlers.Issue, _, _ string) error {
			reported <- is
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := c.FindByTitle(ctx, looked, "anything", true); err != nil {
		t.Fatal(err)
	}
	is, err := c.Create(ctx, other, handlers.NewIssue{Title: "Card data export", Body: "details\n\n<!-- dispatch alarm=a2 user=u1 slack=U1 -->", Labels: []string{"dispatch"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.Close(ctx, other, is.Number); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-reported:
		if got.Repo != other || got.Number != is.Number {
			t.Errorf("reported %s#%d, want %s#%d", got.Repo, got.Number, other, is.Number)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the close of %s#%d was never reported", other, is.Number)
	}
	c.imu.Lock()
	x := c.indexes[looked]
	c.imu.Unlock()
	if x == nil || x.isWatched() {
		t.Errorf("%s, only looked into, is watched (index %v)", looked, x != nil)
	}
}

// However many repositories alarms make dispatch file into, at most MaxWatched are polled: each
// costs a request per interval, and "owner/*" can name hundreds.
func TestWatchAllWatchesAtMostMaxWatched(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.WatchAll(ctx, indexRepo, time.Hour, func(context.Context, handlers.Issue, string, string) error { return nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for x, _ := c.indexFor(indexRepo); !x.isWatched(); {
		if time.Now().After(deadline) {
			t.Fatal("GITHUB_REPO is not watched")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range MaxWatched + 2 {
		repo := fmt.Sprintf("acme/service-%02d", i)
		srv.AddRepo(repo)
		if _, err := c.Create(ctx, repo, handlers.NewIssue{Title: "alarm", Body: "b", Labels: []string{"dispatch"}}); err != nil {
			t.Fatal(err)
		}
	}
	c.imu.Lock()
	watched := 0
	for _, x := range c.indexes {
		if x.isWatched() {
			watched++
		}
	}
	c.imu.Unlock()
	if watched != MaxWatched {
		t.Errorf("%d repositories watched, want %d (GITHUB_REPO and the first others)", watched, MaxWatched)
	}
}

// asMallory is a client of someone with triage rights on the repositories, not dispatch.
func asMallory(t *testing.T, srv *fakegithub.Server) *Client {
	t.Helper()
	srv.AddUserToken("ghp_mallory", "mallory")
	c, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), "ghp_mallory", nil)}, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestAChangeThatFailsHoldsUpNoOther: a change whose report always fails (a deactivated user's
// prompt, which Slack refuses to open every time) used to be tried again first on every round and
// block every later change in the repository for ever. A permanent failure is skipped after one
// try; a transient one is tried again later, and the changes after it are reported meanwhile.
func TestAChangeThatFailsHoldsUpNoOther(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{name: "permanent", err: retry.Permanent(errors.New("slack conversations.open: user_disabled")), permanent: true},
		{name: "transient", err: errors.New("slack chat.update: 503")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newIndexed(t, time.Hour)
			mallory := asMallory(t, srv)
			failing := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a1 user=u1 slack=U1 -->", false)
			later := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a2 user=u2 slack=U2 -->", false)
			ctx, cancel := context.WithCancel(context.Background())
			if err := c.Preload(ctx, indexRepo); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			calls := map[int]int{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.Watch(ctx, indexRepo, 20*time.Millisecond, func(_ context.Context, is handlers.Issue, _, _ string) error {
					mu.Lock()
					defer mu.Unlock()
					calls[is.Number]++
					if is.Number == failing.Number {
						return tc.err
					}
					return nil
				})
			}()
			t.Cleanup(func() { cancel(); <-done })
			count := func(n int) func() bool {
				return func() bool { mu.Lock(); defer mu.Unlock(); return calls[n] > 0 }
			}
			if err := mallory.Close(ctx, indexRepo, failing.Number); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first close reported", count(failing.Number))
			if err := mallory.Close(ctx, indexRepo, later.Number); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the close after a failing one reported", count(later.Number))
			if tc.permanent {
				listings := srv.Calls()[listRoute]
				waitFor(t, "three more rounds", func() bool { return srv.Calls()[listRoute] >= listings+3 })
				mu.Lock()
				defer mu.Unlock()
				if calls[failing.Number] != 1 {
					t.Errorf("a change that failed permanently was tried %d times, want 1", calls[failing.Number])
				}
			}
		})
	}
}

// TestWatchReportsOnlyPendingAlarms: closing an issue already escalated (its user answered No, or
// nobody answered in time) is no change to a pending alarm: it is not reported, and costs no
// request to find who closed it. Closing a pending one is.
func TestWatchReportsOnlyPendingAlarms(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	mallory := asMallory(t, srv)
	escalated := srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "Root login", Labels: []string{"dispatch", "dispatch:escalated"},
		Body: "answered No\n\n<!-- dispatch alarm=a1 user=u1 slack=U1 -->"})
	pending := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a2 user=u2 slack=U2 -->", false)
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Preload(ctx, indexRepo); err != nil {
		t.Fatal(err)
	}
	reported := make(chan int, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Watch(ctx, indexRepo, 20*time.Millisecond, func(_ context.Context, is handlers.Issue, _, _ string) error {
			reported <- is.Number
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	for _, n := range []int{escalated.Number, pending.Number} {
		if err := mallory.Close(ctx, indexRepo, n); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case n := <-reported:
		if n != pending.Number {
			t.Errorf("reported the close of #%d, already escalated; want only the pending #%d", n, pending.Number)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the close of a pending alarm was never reported")
	}
	if n := srv.Calls()["GET /repos/{owner}/{repo}/issues/{issue_number}"]; n != 1 {
		t.Errorf("%d GETs to find who closed an issue, want 1 (the pending one's)", n)
	}
}
