package e2e

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// The task tests run the real binary: the keys come from DISPATCH_TASK_KEYS in its environment.

const (
	// pendingAlarm is reminded and escalated late enough that both are still pending at a restart.
	pendingAlarm = `{"type":"self-service","remindAfter":"15s","escalateAfter":"30s","users":[{"slack":"alice"}],"body":{"github":{"title":"pending over a restart"},"slack":{"message":"Was this you?"}}}`
	// bobAlarm has no deadlines: only its answer makes a task.
	bobAlarm = `{"type":"self-service","users":[{"slack":"bob"}],"body":{"github":{"title":"bob's alarm"},"slack":{"message":"Was this you?"}}}`
)

// deferNo has bob answer No while PagerDuty is down, so its page waits on the queue as a task.
func deferNo(t *testing.T, e *stack.Env) {
	t.Helper()
	e.PublishRaw(bobAlarm)
	dm := e.DM("U0BOB", 1)
	e.PD.SetFailFor(time.Hour, http.StatusInternalServerError)
	e.Click("U0BOB", dm, stack.Buttons(t, dm)[1].ActionID)
	e.Eventually("bob's page deferred", wait, func() bool { return len(e.LogLines("step deferred", `"task":"page"`)) > 0 })
}

// TestRestartsLoseNoPendingTask: a reminder, an escalation and an answer retry pending on the queue
// survive a restart with a new SLACK_APP_TOKEN (tasks were signed with a key derived from it), and
// one with a new key put before the old in DISPATCH_TASK_KEYS.
func TestRestartsLoseNoPendingTask(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *stack.Env)
	}{
		{"a new SLACK_APP_TOKEN, the old one revoked", func(e *stack.Env) {
			const next = "xapp-1-A0001-rotated-app-token-for-e2e"
			e.Slack.AddAppToken(next)
			e.Slack.RevokeAppToken(e.Config.SlackAppToken)
			e.Config.SlackAppToken = next
		}},
		{"a new task key first, the old one second", func(e *stack.Env) {
			e.Config.TaskKeys = []string{stack.NewTaskKey, stack.TaskKey}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := stack.New(t, stack.Options{})
			first := e.StartProcess()
			e.PublishRaw(pendingAlarm)
			aliceDM := e.DM("U0ALICE", 1)
			deferNo(t, e)
			if code := first.Terminate(30 * time.Second); code != 0 {
				t.Fatalf("dispatch exited %d on SIGTERM", code)
			}
			if n := len(e.PD.Events()); n != 0 {
				t.Fatalf("%d PagerDuty events before the restart: the tasks were not pending", n)
			}
			tc.change(e)
			e.PD.SetFailFor(0, 0)
			e.StartProcess()
			e.Eventually("bob's answer paged", wait, func() bool { return e.PD.IncidentCount(routingKey) >= 1 })
			e.Eventually("alice reminded", 2*wait, func() bool { return len(e.ThreadReplies(aliceDM)) == 1 })
			e.Eventually("alice escalated", 2*wait, func() bool { return len(e.PD.Incidents()) == 2 })
			e.QueueEmpty(wait)
			if lines := e.LogLines("bad signature"); len(lines) != 0 {
				t.Errorf("a pending task was refused after the restart: %v", lines[0])
			}
			for _, in := range e.PD.Incidents() {
				if in.Events != 1 {
					t.Errorf("incident %s got %d events, want 1", in.DedupKey, in.Events)
				}
			}
			bob := issueTitled(t, e, "bob's alarm")
			if !slices.Contains(bob.Labels, "dispatch:escalated") {
				t.Errorf("bob's issue labels %v: the deferred No was not recorded", bob.Labels)
			}
			if dead, _ := e.AWS.Drain(stack.WaitFor(t), e.Queue.DLQURL); len(dead) != 0 {
				t.Errorf("%d messages dead-lettered", len(dead))
			}
		})
	}
}

// TestForgedReplayedAndExpiredTasksDoNothing: a task signed with any key but the deployment's
// (here: the key main derived from the Slack app token) is rejected and dead-lettered, and its
// notice does not echo it; a genuine task replayed acts once; an expired one is dropped.
func TestForgedReplayedAndExpiredTasksDoNothing(t *testing.T) {
	e := stack.New(t, stack.Options{})
	p := e.StartProcess()
	deferNo(t, e)
	// The genuine deferred page, taken off the queue with dispatch stopped.
	p.Terminate(30 * time.Second)
	var genuine string
	e.Eventually("the deferred answer on the queue", wait, func() bool {
		bodies, _ := e.AWS.Drain(stack.WaitFor(t), e.Queue.URL)
		for _, b := range bodies {
			if strings.Contains(b, `"dispatchTask"`) && strings.Contains(b, `"id":"page/`) {
				genuine = b
			}
		}
		return genuine != ""
	})
	is := issueTitled(t, e, "bob's alarm")
	ticket := handlers.Ticket{Alarm: alarmOf(t, is.Body), User: "U0BOB", Repo: repo, Issue: is.Number}
	no := handlers.Task{Kind: handlers.TaskAnswer, Answer: &handlers.AnswerTask{Ticket: ticket, UserID: "U0BOB", At: time.Now(), Attempts: 1}}
	appDerived := sha256.Sum256([]byte("dispatch task key v1\x00" + e.Config.SlackAppToken))
	forged, err := sqsqueue.SealTask(no, sqsqueue.TaskKeys{appDerived[:]}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	old := *no.Answer
	old.At = time.Now().Add(-handlers.TaskValidity - time.Hour)
	expired, _ := sqsqueue.SealTask(handlers.Task{Kind: handlers.TaskAnswer, Answer: &old}, sqsqueue.TaskKeys{[]byte(stack.TaskKey)}, time.Now())

	e.Send(string(forged))
	e.Send(string(expired))
	e.PD.SetFailFor(0, 0)
	e.StartProcess()
	e.Eventually("the forged task refused", wait, func() bool { return len(e.LogLines("bad signature")) == 1 })
	e.Eventually("the expired task dropped", wait, func() bool { return len(e.LogLines("task dropped: past its expiry")) == 1 })
	// The answer's durable copy comes round 30 s after the click and finds it recorded.
	e.QueueEmpty(time.Minute)
	if n := len(e.PD.Events()); n != 0 {
		t.Fatalf("%d PagerDuty events from a forged or an expired task", n)
	}
	var dead []string
	e.Eventually("the forged task dead-lettered", wait, func() bool {
		d, _ := e.AWS.Drain(stack.WaitFor(t), e.Queue.DLQURL)
		dead = append(dead, d...)
		return len(dead) >= 1
	})
	if len(dead) != 1 || !strings.Contains(dead[0], `"dispatchTask"`) {
		t.Errorf("dead-letter queue %q, want the forged task alone (an expired one is not dead-lettered)", dead)
	}
	e.Eventually("the rejection announced", wait, func() bool { return len(e.Slack.Messages(fallbackChannel)) > 0 })
	for _, m := range e.Slack.Messages(fallbackChannel) {
		if text := stack.Text(t, m); strings.Contains(text, "dispatchTask") || strings.Contains(text, `"sig"`) {
			t.Errorf("the notice echoes the task: %s", text)
		}
	}

	// The genuine task, three times at once and once more after: one page, one answer comment.
	for range 3 {
		e.Send(genuine)
	}
	e.Eventually("bob's answer paged", wait, func() bool { return len(e.PD.Events()) >= 1 })
	e.QueueEmpty(wait)
	e.Send(genuine)
	e.Eventually("the replay found the page done", wait, func() bool { return len(e.LogLines("already paged: nothing to do")) == 3 })
	e.QueueEmpty(wait)
	if n := len(e.PD.Events()); n != 1 {
		t.Errorf("%d PagerDuty events from one answer replayed, want 1", n)
	}
	is = issueTitled(t, e, "bob's alarm")
	answers := 0
	for _, c := range is.Comments {
		if strings.Contains(c.Body, "<!-- dispatch answer ") {
			answers++
		}
	}
	if answers != 1 {
		t.Errorf("%d answer comments, want 1", answers)
	}
}

func issueTitled(t *testing.T, e *stack.Env, title string) fakegithub.Issue {
	t.Helper()
	for _, is := range e.Issues(repo) {
		if is.Title == title {
			return is
		}
	}
	t.Fatalf("no issue titled %q", title)
	return fakegithub.Issue{}
}

var alarmAttr = regexp.MustCompile(`<!-- dispatch alarm=(\S+)`)

// alarmOf reads the alarm id from the marker dispatch wrote in the issue body.
func alarmOf(t *testing.T, body string) string {
	t.Helper()
	m := alarmAttr.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no marker in the issue body:\n%s", body)
	}
	id, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAnAckedDispatchTestSurvivesASIGKILL: /dispatch test puts its alarm on the queue before the
// command is acked, so a process killed the instant the ack arrives has lost nothing: the next one
// delivers the test alarm.
func TestAnAckedDispatchTestSurvivesASIGKILL(t *testing.T) {
	// A message the killed process had received comes back 5 s after.
	e := stack.New(t, stack.Options{QueueVisibility: 5 * time.Second, Configure: func(c *bot.Config) { c.Visibility = 5 * time.Second }})
	// SQS takes half a second to take a message: time enough for an ack sent before the send
	// completes to reach the test, which kills dispatch then.
	target, _ := url.Parse(e.AWS.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessage") {
			time.Sleep(500 * time.Millisecond)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer slow.Close()
	p := e.StartProcessWith("AWS_ENDPOINT_URL=" + slow.URL)
	id, err := e.Slack.SlashCommand("U0ALICE", "/dispatch", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(stack.WaitFor(t), id); err != nil {
		t.Fatalf("not acked: %v", err)
	}
	p.Kill()
	e.StartProcess()
	e.DM("U0ALICE", 1)
	e.QueueEmpty(wait)
	if n := len(e.Prompts("U0ALICE")); n != 1 {
		t.Errorf("%d test prompts, want 1", n)
	}
}
