package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
)

// PublishRaw publishes through the raw-delivery topic; PublishSNS through the enveloped one.
func (e *Env) PublishRaw(body string) { e.publish(e.RawTopic, body) }

// PublishSNS publishes through the topic whose subscription wraps messages in the SNS envelope.
func (e *Env) PublishSNS(body string) { e.publish(e.SNSTopic, body) }

func (e *Env) publish(topic, body string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Publish(ctx, topic, body); err != nil {
		e.T.Fatal(err)
	}
}

// Send puts a body straight on the queue.
func (e *Env) Send(body string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.AWS.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.Queue.URL), MessageBody: &body}); err != nil {
		e.T.Fatalf("sqs send: %v", err)
	}
}

// Eventually polls cond until it holds, failing the test after within.
func (e *Env) Eventually(what string, within time.Duration, cond func() bool) {
	e.T.Helper()
	e.EventuallyEvery(what, within, 20*time.Millisecond, cond)
}

// EventuallyEvery is Eventually polling every `every`: for a cond that spends a service's budget,
// as a user would (opening the App Home is a views.publish, 100 a minute for the workspace).
func (e *Env) EventuallyEvery(what string, within, every time.Duration, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
}

// QueueEmpty waits until the queue holds nothing, visible, in flight or delayed.
func (e *Env) QueueEmpty(within time.Duration) {
	e.T.Helper()
	e.Eventually("the queue to drain", within, func() bool {
		n, err := e.AWS.Depth(context.Background(), e.Queue.URL)
		return err == nil && n == 0
	})
}

// Issues returns a repository's issues.
func (e *Env) Issues(repo string) []fakegithub.Issue { return e.GitHub.Issues(repo) }

// WaitFor is a context with the usual deadline, cancelled when the test ends.
func WaitFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// Button is a button of a posted message.
type Button struct{ ActionID, Text, Value string }

// Buttons reads the buttons of a posted message from its blocks.
func Buttons(t testing.TB, m fakeslack.Message) []Button {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string          `json:"type"`
			ActionID string          `json:"action_id"`
			Value    string          `json:"value"`
			Text     json.RawMessage `json:"text"` // a text object on buttons, a string in context blocks
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	var out []Button
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, el := range b.Elements {
			if el.Type == "button" {
				var text struct{ Text string }
				if err := json.Unmarshal(el.Text, &text); err != nil {
					t.Fatalf("button text: %v", err)
				}
				out = append(out, Button{el.ActionID, text.Text, el.Value})
			}
		}
	}
	return out
}

// DM waits for the n-th top-level DM to a user and returns it.
func (e *Env) DM(userID string, n int) fakeslack.Message {
	e.T.Helper()
	var msgs []fakeslack.Message
	e.Eventually("a DM to "+userID, Wait, func() bool {
		msgs = e.Prompts(userID)
		return len(msgs) >= n
	})
	return msgs[n-1]
}

// Prompts are a user's DMs, without thread replies.
func (e *Env) Prompts(userID string) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range e.Slack.DMs(userID) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			out = append(out, m)
		}
	}
	return out
}

// ThreadReplies are the replies in a message's thread.
func (e *Env) ThreadReplies(parent fakeslack.Message) []fakeslack.Message {
	var out []fakeslack.Message
	for _, m := range e.Slack.Messages(parent.Channel) {
		if m.ThreadTS == parent.TS && m.TS != parent.TS {
			out = append(out, m)
		}
	}
	return out
}

// Click presses a button the way Slack does and waits for dispatch's ack.
func (e *Env) Click(userID string, m fakeslack.Message, actionID string) fakeslack.Ack {
	e.T.Helper()
	id, err := e.Slack.ClickButton(userID, m.Channel, m.TS, actionID)
	if err != nil {
		e.T.Fatalf("click %s: %v", actionID, err)
	}
	ack, err := e.Slack.WaitAck(WaitFor(e.T), id)
	if err != nil {
		e.T.Fatalf("no ack for the click: %v", err)
	}
	return ack
}

// Current is the message as Slack shows it now.
func (e *Env) Current(m fakeslack.Message) fakeslack.Message {
	e.T.Helper()
	for _, x := range e.Slack.Messages(m.Channel) {
		if x.TS == m.TS {
			return x
		}
	}
	e.T.Fatalf("message %s vanished", m.TS)
	return m
}

// Slash sends "/dispatch text" as user and returns dispatch's reply (posted to the response_url).
func (e *Env) Slash(user, text string) fakeslack.ResponseURLPost {
	e.T.Helper()
	before := len(e.Slack.ResponseURLPosts())
	id, err := e.Slack.SlashCommand(user, "/dispatch", text)
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := e.Slack.WaitAck(WaitFor(e.T), id); err != nil {
		e.T.Fatalf("slash command not acked: %v", err)
	}
	var posts []fakeslack.ResponseURLPost
	e.Eventually("a reply to /dispatch "+text, Wait, func() bool {
		posts = e.Slack.ResponseURLPosts()
		return len(posts) > before
	})
	p := posts[before]
	if p.User != user || (p.ResponseType != "ephemeral" && p.ResponseType != "") {
		e.T.Errorf("reply to %s is %q for %s, want ephemeral for %s", text, p.ResponseType, p.User, user)
	}
	return p
}

// RunCLI runs the dispatch binary with the AWS SDK pointed at goaws.
func (e *Env) RunCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	e.T.Helper()
	cmd := exec.Command(Binary(e.T), args...)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL="+e.AWS.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		e.T.Fatalf("run dispatch: %v", err)
	}
	return 0, out.String(), errb.String()
}

// Text is all the text of a message's blocks (as posted, so Slack-escaped), one block a line.
func Text(t testing.TB, m fakeslack.Message) string {
	t.Helper()
	var blocks []struct {
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			Text json.RawMessage `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, el := range bl.Elements {
			var s string
			var obj struct{ Text string }
			if json.Unmarshal(el.Text, &s) == nil {
				b.WriteString(s + "\n")
			} else if json.Unmarshal(el.Text, &obj) == nil {
				b.WriteString(obj.Text + "\n")
			}
		}
	}
	return b.String()
}
