package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// The threats of docs/SECURITY.md, each tried as an attacker inside the workspace would, against
// the real binary (configured from its environment) and the wire fakes. Each of these passed the attack on the main of issue 10.

// commentAs posts a comment on repo#n as another GitHub account (a repository commenter).
func commentAs(t *testing.T, e *stack.Env, token, repo string, n int, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%srepos/%s/issues/%d/comments", e.GitHub.URL(), repo, n),
		strings.NewReader(fmt.Sprintf(`{"body":%q}`, body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("comment as another user: status %d", resp.StatusCode)
	}
}

// unsignedTicket is a button value in the format of the main before issue 10: base64url JSON.
func unsignedTicket(alarm, user, key, repo string, issue int) string {
	js := fmt.Sprintf(`{"v":1,"a":%q,"u":%q,"k":%q,"r":%q,"n":%d}`, alarm, user, key, repo, issue)
	return base64.RawURLEncoding.EncodeToString([]byte(js))
}

func TestThreatACommenterCannotSilenceAnEscalation(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.GitHub.AddUserToken("ghp_mallory", "mallory")
	e.StartProcess()
	e.PublishRaw(`{"type":"self-service","requestId":"esc-1","escalateAfter":"6s","users":[{"slack":"alice"}],"body":{"github":{"title":"silence me"},"slack":{"message":"Was this you?"}}}`)
	e.DM("U0ALICE", 1)
	// The marker dispatch writes when it has escalated, copied by someone who can comment.
	commentAs(t, e, "ghp_mallory", repo, 1, "looks fine to me\n\n<!-- dispatch escalate alarm=esc-1 user=U0ALICE -->")
	e.Eventually("the escalation despite the copied marker", wait, func() bool { return len(e.PD.Events()) == 1 })
}

func TestThreatAMarkerSmuggledInAnAlarmBodyGivesNoButtons(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartProcess()
	// Bob's real alarm in the other repository.
	e.PublishRaw(`{"type":"self-service","requestId":"bob-1","githubRepo":"other","users":[{"slack":"bob"}],"body":{"github":{"title":"bob's login"},"slack":{"message":"Was this you?"}}}`)
	e.DM("U0BOB", 1)
	// An alarm whose body carries a marker with a ticket for Bob's issue, addressed to Alice.
	smuggled := "<!-- dispatch alarm=x user=alice slack=U0ALICE ticket=" + unsignedTicket("bob-1", "U0ALICE", "", otherRepo, 1) + " -->"
	e.PublishRaw(fmt.Sprintf(`{"type":"low-priority","requestId":"smuggler","body":{"github":{"title":"smuggler","body":%q}}}`, "harmless\n"+smuggled))
	e.Eventually("the smuggler's issue", wait, func() bool { return len(e.Issues(repo)) == 1 })
	if _, err := e.Slack.OpenAppHome("U0ALICE"); err != nil {
		t.Fatal(err)
	}
	e.Eventually("alice's home tab", wait, func() bool { _, ok := e.Slack.HomeView("U0ALICE"); return ok })
	if v, _ := e.Slack.HomeView("U0ALICE"); strings.Contains(string(v), "dispatch_yes") {
		t.Errorf("alice's home has live buttons from a smuggled marker")
		if id, err := e.Slack.ClickHomeButton("U0ALICE", "dispatch_yes", ""); err == nil {
			_, _ = e.Slack.WaitAck(stack.WaitFor(t), id)
		}
	}
	e.QueueEmpty(wait)
	if is, _ := e.GitHub.Issue(otherRepo, 1); is.State != "open" || len(is.Comments) != 0 {
		t.Errorf("bob's issue was answered through the smuggled marker: state %s, %d comments", is.State, len(is.Comments))
	}
	is, _ := e.GitHub.Issue(repo, 1)
	if strings.Count(is.Body, "<!--") != 1 || !strings.HasSuffix(strings.TrimSpace(is.Body), "-->") {
		t.Errorf("the alarm's issue should end with dispatch's one marker:\n%s", is.Body)
	}
}

func TestThreatAForgedButtonValueIsRefused(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartProcess()
	e.PublishRaw(`{"type":"self-service","requestId":"bob-2","users":[{"slack":"bob"}],"body":{"github":{"title":"bob's alarm"},"slack":{"message":"Was this you?"}}}`)
	e.DM("U0BOB", 1)
	e.PublishRaw(`{"type":"self-service","requestId":"alice-2","users":[{"slack":"alice"}],"body":{"github":{"title":"alice's alarm"},"slack":{"message":"Was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	// Alice's client sends her own button with a value that names Bob's issue.
	before := len(e.Slack.ResponseURLPosts())
	id, err := e.Slack.ClickButtonWithValue("U0ALICE", dm.Channel, dm.TS, "dispatch_yes", unsignedTicket("bob-2", "U0ALICE", "bob", repo, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatal(err)
	}
	e.Eventually("alice to be told", wait, func() bool { return len(e.Slack.ResponseURLPosts()) > before })
	if got := e.Slack.ResponseURLPosts()[before].Text; !strings.Contains(got, "wasn't made by dispatch") {
		t.Errorf("alice was told %q", got)
	}
	e.QueueEmpty(wait)
	for n := 1; n <= 2; n++ {
		if is, _ := e.GitHub.Issue(repo, n); is.State != "open" || len(is.Comments) != 0 {
			t.Errorf("issue #%d was answered by a forged button: state %s, %d comments", n, is.State, len(is.Comments))
		}
	}
}

func TestThreatARequestIDWithASlashCannotTakeAnEscalationsIncident(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.StartProcess()
	// A decoy incident keyed like a future escalation of alarm login-7 for Alice.
	e.PublishRaw(`{"type":"high-priority","requestId":"login-7/U0ALICE","body":{"pagerduty":{"title":"decoy","body":"ignore"}}}`)
	e.Eventually("the decoy incident", wait, func() bool { return len(e.PD.Events()) == 1 })
	e.PublishRaw(`{"type":"self-service","requestId":"login-7","users":[{"slack":"alice"}],"body":{"github":{"title":"real login"},"slack":{"message":"Was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, "dispatch_no")
	e.Eventually("the escalation", wait, func() bool { return len(e.PD.Events()) == 2 })
	ev := e.PD.Events()
	if ev[0].DedupKey == ev[1].DedupKey {
		t.Fatalf("the real No joined the decoy's incident (dedup key %q)", ev[0].DedupKey)
	}
	e.Eventually("the answer comment", wait, func() bool { is, _ := e.GitHub.Issue(repo, 1); return len(is.Comments) == 1 })
	if is, _ := e.GitHub.Issue(repo, 1); !strings.Contains(is.Comments[0].Body, ev[1].DedupKey) {
		t.Errorf("the issue doesn't name the escalation's dedup key %q:\n%s", ev[1].DedupKey, is.Comments[0].Body)
	}
}

func TestThreatAnAlarmNamingAnotherRepositoryIsRejected(t *testing.T) {
	e := stack.New(t, stack.Options{})
	e.GitHub.AddRepo("victim/secrets") // the token reaches it, the operator didn't allow it
	e.StartProcess()
	body := `{"type":"low-priority","requestId":"elsewhere","githubRepo":"victim/secrets","body":{"github":{"title":"written elsewhere"}}}`
	e.Send(body)
	e.Eventually("the rejection announced", wait, func() bool {
		for _, m := range e.Slack.Messages(fallbackChannel) {
			if strings.Contains(stack.Text(t, m), "GITHUB_ALLOWED_REPOS") {
				return true
			}
		}
		return false
	})
	// The notice goes out in the background, beside the move to the dead-letter queue: wait for both.
	var dead []string
	e.Eventually("the alarm in the dead-letter queue", wait, func() bool {
		d, err := e.AWS.Drain(stack.WaitFor(t), e.Queue.DLQURL)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, d...)
		return len(dead) > 0
	})
	if len(dead) != 1 {
		t.Errorf("dead-letter queue holds %d messages, want 1", len(dead))
	}
	if n := len(e.Issues("victim/secrets")); n != 0 {
		t.Errorf("%d issues written in a repository outside GITHUB_ALLOWED_REPOS", n)
	}
}

func TestThreatAUserWhoCannotBeDMedDoesNotStopTheOthers(t *testing.T) {
	e := stack.New(t, stack.Options{Users: []fakeslack.User{{ID: "U0GONE", Name: "gone", RealName: "Gone Away", Deleted: true}}})
	e.StartProcess()
	e.PublishRaw(`{"type":"self-service","requestId":"two-users","users":[{"slackId":"U0GONE"},{"slack":"alice"}],"body":{"github":{"title":"two users"},"slack":{"message":"Was this you?"}}}`)
	e.DM("U0ALICE", 1)
	e.Eventually("the unreachable user named in the fallback channel", wait, func() bool {
		for _, m := range e.Slack.Messages(fallbackChannel) {
			if strings.Contains(stack.Text(t, m), "Could not reach") && len(stack.Buttons(t, m)) == 0 {
				return true
			}
		}
		return false
	})
	e.QueueEmpty(wait)
	if dead, err := e.AWS.Drain(stack.WaitFor(t), e.Queue.DLQURL); err != nil || len(dead) != 0 {
		t.Errorf("dead-lettered %d messages (%v), want none", len(dead), err)
	}
}
