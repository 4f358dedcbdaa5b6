package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
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
	// Answer a prompt that went out before its issue: the answer waits for the issue.
	var first []fakeslack.Message
	for _, id := range []string{"U0ALICE", "U0BOB", "U0CAROL"} {
		for _, m := range e.Prompts(id) {
			if !strings.Contains(string(m.Blocks), "/issues/") {
				first = append(first, m)
			}
		}
	}
	if len(first) < 3 {
		t.Fatalf("%d of 5 prompts went before their issue, want at least 3 (GitHub allows 2 per 6 s here)", len(first))
	}
	early := first[0]
	e.Click(early.Channel[1:], early, stack.Buttons(t, early)[0].ActionID)
	var title string
	for _, l := range strings.Split(stack.Text(t, early), "\n") {
		if strings.HasPrefix(l, "alarm ") {
			title = "paced " + strings.TrimPrefix(l, "alarm ")
		}
	}
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
			if is.Title == title {
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
