package githubapi

import (
	"context"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/handlers"
)

// TestIncidentIssues: the escalated issues come from the index, open and closed, and a fresh look
// sees another client's escalation at once; a closed issue reopens; dispatch deletes its own
// duplicate comment (one already gone is no error) and not a commenter's.
func TestIncidentIssues(t *testing.T) {
	ctx := context.Background()
	fake := fakegithub.New(fakegithub.Options{Token: "ghp_dispatch", Login: "acme-dispatch"})
	t.Cleanup(fake.Close)
	fake.AddRepo(testRepo)
	fake.AddUserToken("ghp_mallory", "mallory")
	c, other := tokenClient(t, fake, "ghp_dispatch"), tokenClient(t, fake, "ghp_dispatch")
	is, err := c.Create(ctx, testRepo, handlers.NewIssue{Title: "t", Body: "b", Labels: []string{handlers.LabelDispatch}})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := c.Escalated(ctx, false); err != nil || len(list) != 0 {
		t.Fatalf("Escalated before any escalation = %v, %v", list, err)
	}
	if err := other.AddLabels(ctx, testRepo, is.Number, handlers.LabelEscalated); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Escalated(ctx, true); err != nil || len(list) != 1 || list[0].Number != is.Number {
		t.Fatalf("a fresh Escalated after another replica's escalation = %v, %v", list, err)
	}
	if err := c.Close(ctx, testRepo, is.Number); err != nil {
		t.Fatal(err)
	}
	if err := c.Reopen(ctx, testRepo, is.Number); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.Escalated(ctx, false); len(list) != 1 || !list[0].Open {
		t.Errorf("after Reopen: %+v", list)
	}
	_ = c.Comment(ctx, testRepo, is.Number, "one")
	_ = c.Comment(ctx, testRepo, is.Number, "two")
	if err := tokenClient(t, fake, "ghp_mallory").Comment(ctx, testRepo, is.Number, "theirs"); err != nil {
		t.Fatal(err)
	}
	comments, _ := c.Comments(ctx, testRepo, is.Number)
	if len(comments) != 3 {
		t.Fatalf("comments = %+v", comments)
	}
	if err := c.DeleteComment(ctx, testRepo, comments[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteComment(ctx, testRepo, comments[1].ID); err != nil {
		t.Errorf("deleting a comment already gone: %v", err)
	}
	if err := c.DeleteComment(ctx, testRepo, comments[2].ID); err == nil {
		t.Error("dispatch deleted a commenter's comment")
	}
	if after, _ := c.Comments(ctx, testRepo, is.Number); len(after) != 2 || after[0].Body != "one" || after[1].Body != "theirs" {
		t.Errorf("comments after the deletes = %+v", after)
	}
}
