package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Command is a /dispatch invocation.
type Command struct {
	UserID   string
	UserName string
	Channel  string
	Text     string // what follows "/dispatch"
}

// Reply is what the caller sees (ephemeral).
type Reply struct {
	Text string
}

// StatusReport is what /dispatch status shows.
type StatusReport struct {
	Version         string
	Uptime          time.Duration
	Connected       bool
	Reconnects      int
	QueueDepth      int // visible messages; -1 unknown
	QueueInFlight   int
	DLQDepth        int // -1 when there is no dead-letter queue
	QueueErr        error
	HandledByType   map[string]int
	Errors          int
	LastAlarm       time.Time
	DefaultRepo     string
	FallbackChannel string
	Down            []ServiceHealth // services failing now
	Waiting         int             // alarms waiting to be retried after a transient failure
}

// Status gathers a StatusReport.
type Status interface {
	Status(ctx context.Context) StatusReport
}

// Publisher sends an alarm through the real queue (for /dispatch test).
type Publisher interface {
	Publish(ctx context.Context, body []byte) error
}

// OpenAlarms finds a Slack user's self-service alarms.
type OpenAlarms interface {
	AlarmsFor(ctx context.Context, repo, slackUserID string, open bool, limit int) ([]Issue, error)
	// DuoPushesWaiting returns the alarm IDs among issues that wait for the user's Duo push.
	DuoPushesWaiting(ctx context.Context, slackUserID string, issues []Issue) map[string]bool
}

// subcommand is one entry of the /dispatch table.
type subcommand struct {
	name    string
	usage   string
	help    string
	example string
	run     func(ctx context.Context, c Command, args []string) Reply
	// startsWork: the subcommand puts work on the queue, so it runs before the command is acked
	// (see StartsWork).
	startsWork bool
}

// Commands answers /dispatch. Each subcommand is registered in one table with its help text.
type Commands struct {
	table   []subcommand
	status  Status
	open    OpenAlarms
	publish Publisher
	repo    string
	keys    [][]byte // signs the /dispatch test alarm
	now     func() time.Time

	mu       sync.Mutex
	lastTest map[string]time.Time // user ID → their last /dispatch test, for testEvery
}

// testEvery is how often one user may run /dispatch test: each opens an issue, out of the same
// GitHub budget (500 an hour) real alarms need.
const testEvery = time.Minute

// listLimit bounds /dispatch list.
const listLimit = 10

// NewCommands builds the /dispatch table. keys are the task keys (Config.TaskKeys): the first signs
// the /dispatch test alarm, which is what makes the router treat it as a test.
func NewCommands(defaultRepo string, status Status, open OpenAlarms, publish Publisher, keys [][]byte) *Commands {
	c := &Commands{status: status, open: open, publish: publish, repo: defaultRepo, keys: keys, now: time.Now, lastTest: map[string]time.Time{}}
	c.table = []subcommand{
		{name: "help", usage: "help", help: "this list", example: "/dispatch help", run: c.help},
		{name: "status", usage: "status", help: "connection, queue and dead-letter depth, alarms handled, errors, version", example: "/dispatch status", run: c.statusCmd},
		{name: "list", usage: "list", help: fmt.Sprintf("your own open alarms, newest first (up to %d)", listLimit), example: "/dispatch list", run: c.list},
		{name: "test", usage: "test", help: "sends you a sample self-service alarm through the whole pipeline", example: "/dispatch test", run: c.test, startsWork: true},
	}
	return c
}

// Command runs a subcommand. An unknown one answers with help, never silence.
func (c *Commands) Command(ctx context.Context, cmd Command) Reply {
	args := strings.Fields(cmd.Text)
	name := "help"
	if len(args) > 0 {
		name = strings.ToLower(args[0])
	}
	for _, s := range c.table {
		if s.name == name {
			return s.run(ctx, cmd, args)
		}
	}
	r := c.help(ctx, cmd, args)
	r.Text = fmt.Sprintf("I don't know `%s`.\n", shorten(name, 40)) + r.Text
	return r
}

// StartsWork reports whether the command text names a subcommand that puts work on the queue
// (/dispatch test). Such a command is run before it is acked, so that once acked its work is
// durable: a crash after the ack loses nothing. Putting a message on the queue takes milliseconds,
// well within Slack's 3 s; the others, which only read, run after the ack.
func (c *Commands) StartsWork(text string) bool {
	args := strings.Fields(text)
	if len(args) == 0 {
		return false
	}
	for _, s := range c.table {
		if s.name == strings.ToLower(args[0]) {
			return s.startsWork
		}
	}
	return false
}

func (c *Commands) help(_ context.Context, _ Command, _ []string) Reply {
	var b strings.Builder
	b.WriteString("*dispatch* routes alarms to the right person. Commands:\n")
	for _, s := range c.table {
		fmt.Fprintf(&b, "• `/dispatch %s`: %s. Example: `%s`\n", s.usage, s.help, s.example)
	}
	return Reply{Text: b.String()}
}

func (c *Commands) statusCmd(ctx context.Context, _ Command, _ []string) Reply {
	st := c.status.Status(ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "*dispatch %s*, up %s\n", st.Version, st.Uptime.Round(time.Second))
	conn := "connected"
	if !st.Connected {
		conn = "*not connected*"
	}
	fmt.Fprintf(&b, "• Slack: %s (%d reconnects)\n", conn, st.Reconnects)
	switch {
	case st.QueueErr != nil:
		fmt.Fprintf(&b, "• Queue: *unreachable* (%s)\n", publicError(st.QueueErr))
	default:
		fmt.Fprintf(&b, "• Queue: %d waiting, %d in flight\n", st.QueueDepth, st.QueueInFlight)
		if st.DLQDepth >= 0 {
			fmt.Fprintf(&b, "• Dead-letter queue: %d\n", st.DLQDepth)
		} else {
			b.WriteString("• Dead-letter queue: none configured\n")
		}
	}
	writeServices(&b, st.Down, st.Waiting, c.now())
	var types []string
	total := 0
	for t, n := range st.HandledByType {
		types = append(types, fmt.Sprintf("%s %d", t, n))
		total += n
	}
	sort.Strings(types)
	if total == 0 {
		b.WriteString("• Alarms handled since start: none\n")
	} else {
		fmt.Fprintf(&b, "• Alarms handled since start: %d (%s)\n", total, strings.Join(types, ", "))
	}
	fmt.Fprintf(&b, "• Errors since start: %d\n", st.Errors)
	if !st.LastAlarm.IsZero() {
		fmt.Fprintf(&b, "• Last alarm: %s ago\n", c.now().Sub(st.LastAlarm).Round(time.Second))
	}
	return Reply{Text: b.String()}
}

func (c *Commands) list(ctx context.Context, cmd Command, _ []string) Reply {
	issues, err := c.open.AlarmsFor(ctx, c.repo, cmd.UserID, true, listLimit)
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Msg("/dispatch list failed")
		return Reply{Text: "I couldn't reach GitHub to list your alarms. Try again in a minute."}
	}
	if len(issues) == 0 {
		return Reply{Text: "You have no open alarms."}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your open alarms (newest first, up to %d):\n", listLimit)
	live, _ := c.open.(interface {
		IncidentStatus(ctx context.Context, is Issue) string
	})
	waiting := c.open.DuoPushesWaiting(ctx, cmd.UserID, issues)
	for _, is := range issues {
		fmt.Fprintf(&b, "• <%s|%s#%d> %s", is.URL, is.Repo, is.Number, escapeText(shorten(is.Title, 120)))
		if mk, ok := findMarker(is.Body); ok && waiting[mk.Alarm] {
			b.WriteString(" — waiting for your Duo push")
		}
		if is.HasLabel(LabelEscalated) {
			b.WriteString(" — escalated to PagerDuty")
			if st := ""; live != nil {
				st = live.IncidentStatus(ctx, is)
				if st != "" {
					b.WriteString("; " + st)
				}
			}
		}
		b.WriteString("\n")
	}
	return Reply{Text: b.String()}
}

func (c *Commands) test(ctx context.Context, cmd Command, _ []string) Reply {
	if wait := c.takeTest(cmd.UserID); wait > 0 {
		return Reply{Text: fmt.Sprintf("You sent a test alarm less than a minute ago: try again in %s.", wait.Round(time.Second))}
	}
	body := SampleAlarm(cmd.UserID, c.now(), c.keys)
	if err := c.publish.Publish(ctx, body); err != nil {
		c.mu.Lock()
		delete(c.lastTest, cmd.UserID) // nothing was sent: the user may try again at once
		c.mu.Unlock()
		zerolog.Ctx(ctx).Error().Err(err).Msg("/dispatch test failed")
		return Reply{Text: "I couldn't put the test alarm on the queue: " + publicError(err) + "."}
	}
	return Reply{Text: "A test alarm is on its way through the queue: look for a DM from me in a few seconds, with Yes/No buttons. Its GitHub issue carries the `" + LabelTest + "` label."}
}

// takeTest records a /dispatch test by userID, or returns how long they must wait for the next.
func (c *Commands) takeTest(userID string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if wait := testEvery - now.Sub(c.lastTest[userID]); wait > 0 {
		return max(wait, time.Second)
	}
	for u, at := range c.lastTest { // keep the map to the users of the last minute
		if now.Sub(at) >= testEvery {
			delete(c.lastTest, u)
		}
	}
	c.lastTest[userID] = now
	return 0
}

// publicError is what a member may see of err: the sentence an adapter wrote for members (an error
// in the chain with a Public() string method), else a generic one. Never the raw text: AWS errors
// carry account IDs, role ARNs and queue URLs. The detail goes to the log.
func publicError(err error) string {
	var p interface{ Public() string }
	if errors.As(err, &p) {
		return escapeText(p.Public())
	}
	return "an unexpected error (the detail is in dispatch's log)"
}

// escapeText makes text inert in Slack mrkdwn (reply texts are built here, not by the Slack adapter).
func escapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
