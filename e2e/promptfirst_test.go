package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/pace"
)

// When GitHub's pacing would hold a prompt back, the DM goes first and its issue follows.
func TestPromptsGoFirstWhenGitHubIsPaced(t *testing.T) {
	e := stack.New(t, stack.Options{Configure: func(c *bot.Config) {
		c.GitHubLimits = []pace.Window{{Limit: 2, Span: 6 * time.Second}}
	}})
	e.StartBot()
	users := []string{"alice", "bobby", "carol", "alice", "bobby"}
	ids := []string{"U0ALICE", "U0BOB", "U0CAROL", "U0ALICE", "U0BOB"}
	for i, u := range users {
		e.PublishRaw(fmt.Sprintf(`{"type":"self-service","users":[{"slack":%q}],"body":{"github":{"title":"paced %d"},"slack":{"message":"alarm %d"}}}`, u, i, i))
	}
	// Every prompt is out while at most two issues could be filed.
	e.Eventually("five prompts", wait, func() bool {
		n := 0
		for _, id := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
			n += len(e.Prompts(id))
		}
		return n == 5
	})
	if n := len(e.Issues(repo)); n > 4 {
		t.Errorf("%d issues were filed before the last prompt went out: the prompts waited on GitHub's pacing", n)
	}
	// Answer a prompt whose issue may not exist yet: the answer waits for it.
	last := e.DM(ids[4], 2)
	if strings.Contains(string(last.Blocks), "/issues/") {
		t.Fatalf("the fifth prompt links an issue already; pacing did not bind: %s", last.Blocks)
	}
	e.Click(ids[4], last, stack.Buttons(t, last)[0].ActionID)

	e.Eventually("five issues", time.Minute, func() bool { return len(e.Issues(repo)) == 5 })
	e.Eventually("the paced prompts to get their issue link in the thread", time.Minute, func() bool {
		linked := 0
		for _, id := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
			for _, m := range e.Prompts(id) {
				for _, r := range e.ThreadReplies(m) {
					if strings.Contains(string(r.Blocks), "/issues/") {
						linked++
					}
				}
			}
		}
		return linked >= 3
	})
	e.Eventually("the early answer to close its issue", time.Minute, func() bool {
		for _, is := range e.Issues(repo) {
			if is.Title == "paced 4" {
				return is.State == "closed" && len(is.Comments) == 1
			}
		}
		return false
	})
	e.QueueEmpty(time.Minute)
	if n := len(e.Issues(repo)); n != 5 {
		t.Errorf("%d issues, want 5", n)
	}
}
