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

// TestCommentsIncludeTheNewest: on an issue flooded with 600 comments before dispatch's own, the
// comments read (at most five pages) still include dispatch's newest one, which is what makes a
// replayed task do nothing.
func TestCommentsIncludeTheNewest(t *testing.T) {
	srv, c := newIndexed(t, time.Hour)
	var comments []fakegithub.Comment
	for range 600 {
		comments = append(comments, fakegithub.Comment{Author: "mallory", Body: "spam"})
	}
	comments = append(comments, fakegithub.Comment{Author: "dispatch-bot", Body: "<!-- dispatch escalated alarm=a user=u1 -->"})
	is := srv.SeedIssue(indexRepo, fakegithub.Issue{Title: "flooded", Labels: []string{"dispatch"}, Comments: comments})
	got, err := c.Comments(context.Background(), indexRepo, is.Number)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1].Author != "dispatch-bot" {
		t.Errorf("read %d comments; the newest, dispatch's own, is not the last of them", len(got))
	}
	if len(got) > 500 {
		t.Errorf("read %d comments, more than the 5 pages Comments allows itself", len(got))
	}
	if n := srv.Calls()["GET /repos/{owner}/{repo}/issues/{issue_number}/comments"]; n > 5 {
		t.Errorf("%d requests for the comments, want at most 5", n)
	}
}
