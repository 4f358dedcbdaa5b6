package e2e

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// TestAPageIsNotQueuedBehindAFloodOfOneTitle: with two worker slots, GitHub holding the first
// issue of a flood of one title, and more of that title waiting their turn, a high-priority alarm
// still gets a slot and is paged; the flood then ends as one issue.
func TestAPageIsNotQueuedBehindAFloodOfOneTitle(t *testing.T) {
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) { c.Concurrency = 2 }})
	release := make(chan struct{})
	var creates, held atomic.Int32
	e.GitHub.SetHandlerHook(func(r *http.Request) (int, bool) {
		if r.Method == http.MethodPost && r.URL.Path == "/repos/acme/alarms/issues" && creates.Add(1) == 1 {
			held.Store(1)
			<-release
		}
		return 0, false
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	e.StartBot()
	for i := range 6 {
		e.PublishRaw(fmt.Sprintf(`{"type":"low-priority","requestId":"flood-%d","body":{"github":{"title":"one noisy title","body":"again"}}}`, i))
	}
	e.Eventually("GitHub to hold the flood's first issue", wait, func() bool { return held.Load() == 1 })
	e.PublishRaw(`{"type":"high-priority","requestId":"page-1","body":{"pagerduty":{"title":"Production is down","body":"All of it."}}}`)
	e.Eventually("the page, while the flood waits", wait, func() bool { return len(e.PD.Events()) == 1 })
	if n := e.GitHub.IssueCount(repo); n != 0 {
		t.Fatalf("%d issues while GitHub held the first create", n)
	}
	close(release)
	e.QueueEmpty(wait)
	if n := e.GitHub.IssueCount(repo); n != 1 {
		t.Errorf("the flood of one title made %d issues, want 1", n)
	}
}
