package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/pace"
)

// creates counts the issues the fake GitHub was asked to create.
func creates(w *world) int {
	n := 0
	for _, wr := range w.issues.Writes() {
		if strings.HasPrefix(wr, "create ") {
			n++
		}
	}
	return n
}

// In a burst, the "Audit issue filed" link of a prompt that went first must not take a place of
// Slack's posts a minute that a waiting prompt needs: it stands aside and comes round again as a
// task, the issue filed once, and is posted when Slack has room.
func TestAnIssuesLinkStandsAsideForWaitingPrompts(t *testing.T) {
	w := newWorld(t, "UALICE")
	w.issues.delay = 10 * time.Second // GitHub busy: the prompt goes first
	w.handle(t, selfService("req-a", "Login from a new device", "a", []string{"UALICE"}, ""))
	tasks := w.tasks.Of(TaskFile)
	if len(tasks) != 1 {
		t.Fatalf("file tasks = %d, want 1", len(tasks))
	}
	w.issues.delay = 0

	busy := pace.New(pace.Window{Limit: 1, Span: time.Hour}) // Slack's window taken by prompts
	if _, err := busy.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	w.chat.replies = busy
	for round := 1; round <= 2; round++ {
		if err := w.r.RunTask(testCtx(t), tasks[len(tasks)-1]); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		tasks = w.tasks.Of(TaskFile)
		if len(tasks) != 1+round {
			t.Fatalf("round %d: %d file tasks, want the link to come round again", round, len(tasks))
		}
		next := tasks[len(tasks)-1]
		if next.File.Link == nil || next.Delay != linkRetry {
			t.Fatalf("round %d: the task that came round is %+v, want the link alone in %s", round, next.File, linkRetry)
		}
		if n := len(w.chat.Posts()); n != 0 {
			t.Fatalf("round %d: %d posts while Slack is busy, want none", round, n)
		}
	}
	if n := creates(w); n != 1 {
		t.Fatalf("%d issues created, want 1 however often the link comes round", n)
	}

	w.chat.replies = nil // the prompts are out
	if err := w.r.RunTask(testCtx(t), tasks[len(tasks)-1]); err != nil {
		t.Fatal(err)
	}
	posts := w.chat.Posts()
	if len(posts) != 1 || posts[0].Body != "Audit issue filed:" || posts[0].Link == nil || !strings.Contains(posts[0].Link.Text, "Login from a new device") {
		t.Fatalf("posts = %+v, want the issue's link", posts)
	}
	if n := len(w.tasks.Of(TaskFile)); n != len(tasks) {
		t.Errorf("%d file tasks after the link was posted, want no more", n)
	}
	if n := creates(w); n != 1 {
		t.Errorf("%d issues created, want 1", n)
	}
}
