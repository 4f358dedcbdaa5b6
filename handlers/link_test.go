package handlers

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// promptFirstFiling handles a self-service alarm while GitHub is busy, so its prompt goes first,
// and returns the task that files its issue later.
func promptFirstFiling(t *testing.T, w *world) Task {
	t.Helper()
	w.issues.delay = 10 * time.Second
	w.handle(t, selfService("req-a", "Login from a new device", "a", []string{"UALICE"}, ""))
	w.issues.delay = 0
	tasks := w.tasks.Of(TaskFile)
	if len(tasks) != 1 {
		t.Fatalf("file tasks = %d, want 1", len(tasks))
	}
	return tasks[0]
}

// links returns the "Audit issue filed" replies made.
func links(w *world) []threadReply {
	var out []threadReply
	for _, r := range w.chat.Threads() {
		if r.Msg.Body == "Audit issue filed:" {
			out = append(out, r)
		}
	}
	return out
}

// The link of a prompt that went first is posted at low priority (it stands aside for a burst's
// prompts, in the adapter), in the prompt's thread, keyed so a redelivery can find it; a filing
// task delivered again (SQS's at-least-once, a failed delete, a replay of the signed task) files
// nothing and links nothing a second time.
func TestAnIssuesLinkIsPostedOnceAtLowPriority(t *testing.T) {
	w := newWorld(t, "UALICE")
	task := promptFirstFiling(t, w)
	for delivery := 1; delivery <= 3; delivery++ {
		if err := w.r.RunTask(testCtx(t), task); err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
	}
	got := links(w)
	if len(got) != 1 {
		t.Fatalf("%d links from 3 deliveries of one filing, want 1", len(got))
	}
	if l := got[0]; !l.Low || l.Parent.TS != task.File.Prompt.TS || l.Msg.Link == nil || !strings.Contains(l.Msg.Link.Text, "Login from a new device") {
		t.Errorf("link = %+v, want the issue's, low priority, in the prompt's thread %+v", l, task.File.Prompt)
	}
	if n := creates(w); n != 1 {
		t.Errorf("%d issues created, want 1", n)
	}
}

// A delivery that filed the issue but could not post its link (Slack failing, or a stop while the
// link waited for a burst) leaves the task to come round; the next delivery finds the issue filed
// and links it.
func TestALinkThatFailsIsPostedByTheNextDelivery(t *testing.T) {
	w := newWorld(t, "UALICE")
	task := promptFirstFiling(t, w)
	w.chat.mu.Lock()
	w.chat.replyErr = errors.New("slack: HTTP 503")
	w.chat.mu.Unlock()
	if err := w.r.RunTask(testCtx(t), task); err == nil {
		t.Fatal("the filing reported success without its link")
	}
	if n := len(links(w)); n != 0 {
		t.Fatalf("%d links after the failure", n)
	}
	if err := w.r.RunTask(testCtx(t), task); err != nil {
		t.Fatal(err)
	}
	if n := len(links(w)); n != 1 {
		t.Errorf("%d links after the redelivery, want 1", n)
	}
	if n := creates(w); n != 1 {
		t.Errorf("%d issues created, want 1", n)
	}
}
