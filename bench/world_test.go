package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/pace"
)

// The services' real limits, as their documentation gives them (the README's "Rate limits").
const (
	ghPerMinute = 80  // GitHub content-creating requests per minute
	ghPerHour   = 500 // … and per hour
	slackPerSec = 1.0 // chat.postMessage per channel per second
	slackBurst  = 4   // … with short bursts (the fake's token bucket; dispatch paces 4 per 4 s)
	pdPerMinute = 120 // PagerDuty events per minute per routing key
	ghPrimary   = 5000
	// GitHub's other limits ("Rate limits for the REST API", docs.github.com): search requests a
	// minute, counted apart; secondary points a minute (a read 1, a write 5); requests in flight.
	ghSearchPerMinute = 30
	ghPointsPerMinute = 900
	ghConcurrency     = 100
	publishers        = 16 // goroutines publishing a burst
	readyInterval     = 2 * time.Millisecond
)

// world is one dispatch process against its own queue and fakes, at one time scale.
type world struct {
	tb      testing.TB
	e       *stack.Env
	p       *stack.Process
	scale   float64       // 1 is real time; 60 makes a minute last a second
	lat     time.Duration // the added latency per call on this world's clock
	addr    string        // the bot's health server, host:port
	users   []fakeslack.User
	startup time.Duration // from exec to /readyz 200
}

// scaled shrinks a real-world duration by the world's time scale.
func (w *world) scaled(d time.Duration) time.Duration { return scaleDown(d, w.scale) }

func scaleDown(d time.Duration, scale float64) time.Duration {
	return time.Duration(math.Round(float64(d) / scale))
}

// ghWindows are GitHub's secondary limits on this world's clock, for the fake and (with margin
// added to each span) for dispatch's pacing.
func ghWindows(scale float64, margin time.Duration) []pace.Window {
	return []pace.Window{
		{Limit: ghPerMinute, Span: scaleDown(time.Minute+margin, scale)},
		{Limit: ghPerHour, Span: scaleDown(time.Hour+margin, scale)},
	}
}

// benchUsers are the Slack users a burst is spread over, found by handle as most alarms name them.
func benchUsers(n int) []fakeslack.User {
	out := make([]fakeslack.User, n)
	for i := range out {
		name := fmt.Sprintf("user%03d", i+1)
		out[i] = fakeslack.User{ID: fmt.Sprintf("U0B%03d", i+1), Name: name, RealName: "Bench User " + name,
			DisplayName: name, Email: name + "@example.com"}
	}
	return out
}

// newWorld starts the fakes (with latency and limits at scale), seeds the repository, and starts
// the dispatch binary; extraEnv is added to its environment.
func newWorld(tb testing.TB, s settings, scale float64, extraEnv ...string) *world {
	tb.Helper()
	w := &world{tb: tb, scale: scale, users: benchUsers(s.Users)}
	w.lat = w.scaled(s.Latency)
	w.addr = freeAddr(tb)
	w.e = stack.New(tb, stack.Options{
		Users: w.users,
		Configure: func(c *bot.Config) {
			c.GitHubLimits = ghWindows(scale, s.PaceMargin)              // GITHUB_CONTENT_LIMITS: dispatch paces at the same clock
			c.GitHubWatch = scaleDown(bot.Defaults().GitHubWatch, scale) // and refreshes its issue index at it
			c.SlackLimitScale = scale                                    // SLACK_LIMIT_SCALE: Slack's tiers on the fake's clock
			c.LogLevel = "info"                                          // as in production: debug logging would be measured too
			// GITHUB_POINTS_LIMITS: every request's points (a write 5, a read 1) at the same clock
			c.GitHubPoints = []pace.Window{{Limit: ghPointsPerMinute, Span: scaleDown(time.Minute+s.PaceMargin, scale)}}
			c.HTTPAddr = w.addr
			if s.Concurrency > 0 {
				c.Concurrency = s.Concurrency
			}
		},
	})
	e := w.e
	e.Slack.SetUsersPageSize(200) // Slack returns up to the client's limit (dispatch asks for 200)
	w.setLatency(w.lat)
	e.Slack.SetConnectLatency(w.scaled(s.Connect))
	e.GitHub.SetConnectLatency(w.scaled(s.Connect))
	e.PD.SetConnectLatency(w.scaled(s.Connect))
	e.Slack.SetTimeScale(scale) // every Slack tier, and chat.postMessage's 1/s per channel (slackPerSec, slackBurst)
	e.GitHub.SetPrimaryLimit(ghPrimary, w.scaled(time.Hour))
	var windows []fakegithub.Window
	for _, win := range ghWindows(scale, 0) {
		windows = append(windows, fakegithub.Window{Limit: win.Limit, Span: win.Span})
	}
	e.GitHub.SetSecondaryLimits(windows...)
	e.GitHub.SetSearchLimit(ghSearchPerMinute, w.scaled(time.Minute))
	e.GitHub.SetPointsLimit(ghPointsPerMinute, w.scaled(time.Minute))
	e.GitHub.SetConcurrencyLimit(ghConcurrency)
	e.PD.SetRateLimitWindow(pdPerMinute, w.scaled(time.Minute))
	history := time.Now().Add(-30 * 24 * time.Hour) // a month of earlier alarms, one every 40 minutes
	for i := range s.Seed {
		e.GitHub.SeedIssue(stack.Repo, fakegithub.Issue{
			CreatedAt: history.Add(time.Duration(i) * 40 * time.Minute),
			Title:     fmt.Sprintf("Earlier alarm %d", i),
			Body:      fmt.Sprintf("An alarm from before the benchmark.\n\n<!-- dispatch alarm=earlier-%d user=user001 slack=U0B001 -->", i),
			Labels:    []string{"dispatch"},
		})
	}

	stack.Binary(tb) // build before the clock starts
	ready := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if code, _ := w.get("/readyz"); code == http.StatusOK {
				ready <- time.Now()
				return
			}
			time.Sleep(readyInterval)
		}
	}()
	start := time.Now()
	w.p = e.StartProcessWith(extraEnv...)
	select {
	case at := <-ready:
		w.startup = at.Sub(start)
	case <-time.After(stack.Wait):
		tb.Fatal("dispatch never answered /readyz 200")
	}
	return w
}

// stop kills the bot: a world is measured once, and an idle bot would only use the CPU the next
// world is measured on.
func (w *world) stop() { w.e.StopAll() }

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get fetches a path of the bot's health server; code 0 means it did not answer.
func (w *world) get(path string) (int, []byte) {
	resp, err := http.Get("http://" + w.addr + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// setLatency sets the fakes' latency per call (on this world's clock); the connect latency stays.
func (w *world) setLatency(d time.Duration) {
	w.e.Slack.SetLatency("", d)
	w.e.GitHub.SetLatency(d)
	w.e.PD.SetLatency(d)
}

// fakeTime is the time the fakes have spent on their own work, their added latency excluded.
func (w *world) fakeTime() time.Duration {
	return w.e.Slack.ServiceTime() + w.e.GitHub.ServiceTime() + w.e.PD.ServiceTime()
}

// handling is the bot's dispatch_alarm_handling_seconds_sum: the time its handlers took, from
// taking an alarm off the queue to finishing it (0 if /metrics does not say).
func (w *world) handling() time.Duration {
	_, body := w.get("/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "dispatch_alarm_handling_seconds_sum "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return time.Duration(f * float64(time.Second))
		}
	}
	return 0
}

// saveProfile fetches a pprof profile from the bot into file.
func (w *world) saveProfile(path, file string) error {
	code, body := w.get(path)
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", path, code, body)
	}
	return os.WriteFile(file, body, 0o644)
}

// publish publishes body through SNS (the enveloped subscription, AWS's default) and returns when
// it started; safe to call from many goroutines.
func (w *world) publish(ctx context.Context, body string) (time.Time, error) {
	at := time.Now()
	_, err := w.e.AWS.SNS().Publish(ctx, &sns.PublishInput{TopicArn: &w.e.SNSTopic, Message: &body})
	return at, err
}

// queueEmpty waits until the queue holds nothing, visible, in flight or delayed.
func (w *world) queueEmpty(within time.Duration) {
	w.tb.Helper()
	w.e.QueueEmpty(within)
}

// selfService is a self-service alarm as services send them: a user by Slack handle, a title
// unique to the alarm, a body of the size of the spec's example, no reminder.
func selfService(id, handle, title string) string {
	return fmt.Sprintf(`{"type":"self-service","requestId":%q,"users":[{"slack":%q,"github":"%s-gh"}],`+
		`"body":{"github":{"title":%q,"body":"AWS CloudTrail recorded a console sign-in for %s in account 123456789012 (prod-main) from 203.0.113.45 without MFA.\\n\\nSource: GuardDuty finding %s.","labels":["aws","mfa"]},`+
		`"slack":{"message":"Hi! Someone signed in to the AWS console of *prod-main* as %s from 203.0.113.45 (Lisbon, PT), without MFA.","prompt":"Was this you signing in from Lisbon?",`+
		`"actions":{"yes":"Yes, that was me","no":"No, that wasn't me","yes_response":"Thanks! Please turn MFA back on.","no_response":"Thanks. The security on-call has been paged."}}}}`,
		id, handle, handle, title, handle, id, handle)
}

// dmKey reads the alarm id from a DM's metadata key ("ALARM/USER").
func dmKey(m fakeslack.Message) string {
	s := string(m.Metadata)
	_, after, ok := strings.Cut(s, `"key":"`)
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(after, `"`)
	id, _, _ := strings.Cut(key, "/")
	return id
}

// dms returns when each alarm's DM was posted, by alarm id, across the world's users.
func (w *world) dms() map[string]fakeslack.Message {
	out := map[string]fakeslack.Message{}
	for _, u := range w.users {
		for _, m := range w.e.Slack.DMs(u.ID) {
			if id := dmKey(m); id != "" && (m.ThreadTS == "" || m.ThreadTS == m.TS) {
				if _, seen := out[id]; !seen {
					out[id] = m
				}
			}
		}
	}
	return out
}

// procStats is what Linux reports about the bot process (zero where /proc is not available).
type procStats struct {
	RSS, HWM int64         // VmRSS and VmHWM, bytes
	CPU      time.Duration // utime + stime
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

func (w *world) proc() procStats {
	pid := w.p.PID()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStats{}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStats{}
	}
	var ps procStats
	for _, line := range strings.Split(string(status), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(val), "kB")), 10, 64)
		switch name {
		case "VmRSS":
			ps.RSS = kb << 10
		case "VmHWM":
			ps.HWM = kb << 10
		}
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return procStats{}
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14 of proc(5)
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	ps.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	return ps
}

// rssSampler records the highest VmRSS seen while it runs (VmHWM says the same for the whole
// life of the process; the sampler shows a burst's own peak).
type rssSampler struct {
	max  atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func (w *world) sampleRSS(every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if ps := w.proc(); ps.RSS > s.max.Load() {
				s.max.Store(ps.RSS)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	return s.max.Load()
}
