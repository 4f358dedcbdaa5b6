package githubapi

import (
	"context"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
)

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
