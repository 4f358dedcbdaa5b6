package githubapi

import (
	"context"
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
	srv.AddUserToken("ghp_mallory", "mallory")
	own := seedDispatch(srv, "Root login", "<!-- dispatch alarm=a1 user=u1 slack=U1 -->", false)
	copied := srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "Root login", Author: "mallory", Labels: []string{"dispatch"},
		Body: "copied\n\n<!-- dispatch alarm=a1 user=u1 slack=U1 -->"})
	mallory, err := New(Options{BaseURL: srv.URL(), HTTPClient: &http.Client{Transport: TokenTransport(srv.URL(), "ghp_mallory", nil)}, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
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
