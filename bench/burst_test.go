package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/slackapi"
)

// burstSpec is one burst: n alarms at a time scale. A prompts-only burst ends when every prompt is
// posted: at real time, the issues of a 1,000 burst take GitHub's 66 minutes.
type burstSpec struct {
	N           int
	Scale       float64
	PromptsOnly bool
}

// burst is what one burst of self-service alarms measured.
type burst struct {
	burstSpec
	Lat         time.Duration   // added latency per call, on the scaled clock
	Latencies   []time.Duration // publish → DM (the prompt), per alarm, sorted
	DMBounds    []time.Duration // the earliest each DM could be posted under Slack's limit alone, sorted
	IssueLags   []time.Duration // publish → its issue filed, sorted
	PromptFirst int             // prompts posted before their issue
	Drain       time.Duration   // first publish → the last DM, thread reply or issue (the last prompt if PromptsOnly)
	LowerBound  time.Duration
	PublishSpan time.Duration // first publish → last publish returned
	Startup     time.Duration
	IdleRSS     int64
	PeakRSS     int64 // VmHWM at the end: the most the process ever held
	CPU         time.Duration
	Calls       callRow
	Violations  [3]int // GitHub, Slack, PagerDuty requests refused by a limit
	PeakPoints  int    // the most GitHub secondary-limit points in any (scaled) minute
	NotModified int    // GitHub conditional requests answered 304
	Files       []string
}

// githubPerAlarm is the burst's GitHub requests per alarm (conditional ones answered 304
// included), and its searches per alarm.
func (b burst) githubPerAlarm() (requests, searches float64) {
	n := 0
	for k, v := range b.Calls.Calls {
		if strings.HasPrefix(k, "github ") {
			n += v
		}
	}
	return float64(n) / float64(b.N), float64(b.Calls.Calls["github GET /search/issues"]) / float64(b.N)
}

// name names the burst in the table.
func (b burstSpec) name() string {
	if b.PromptsOnly {
		return fmt.Sprintf("burst of %d (%gx, prompts only)", b.N, b.Scale)
	}
	return fmt.Sprintf("burst of %d (%gx)", b.N, b.Scale)
}

// file names the burst's files.
func (b burstSpec) file() string {
	if b.PromptsOnly {
		return fmt.Sprintf("burst%d-%gx-prompts", b.N, b.Scale)
	}
	return fmt.Sprintf("burst%d-%gx", b.N, b.Scale)
}

// burstTitle is the issue title of alarm i of a burst of n; burstID its requestId.
func burstTitle(n, i int) string { return fmt.Sprintf("Burst %d alarm %d", n, i) }
func burstID(n, i int) string    { return fmt.Sprintf("b%d-%04d", n, i) }

// runBurst publishes spec.N self-service alarms at once, spread over the users, and waits until every
// DM is posted, every issue filed and the queue is empty.
func runBurst(tb testing.TB, s settings, spec burstSpec, profile bool) burst {
	tb.Helper()
	n := spec.N
	var env []string
	if profile {
		env = append(env, bot.PprofEnv+"=true")
	}
	w := newWorld(tb, s, spec.Scale, env...)
	defer w.stop()
	b := burst{burstSpec: spec, Lat: w.lat, Startup: w.startup}
	b.LowerBound = lowerBound(n, len(w.users), w.lat, spec.Scale)
	if spec.PromptsOnly {
		b.LowerBound = slackBound(n, len(w.users), w.lat, spec.Scale)
	}
	time.Sleep(500 * time.Millisecond)
	b.IdleRSS = w.proc().RSS

	before := w.calls()
	cpu0 := w.proc().CPU
	sampler := w.sampleRSS(50 * time.Millisecond)
	var profileDone chan error
	if profile {
		// One CPU profile over the whole burst: the lower bound plus room for the bot's own delay.
		secs := int(math.Ceil(b.LowerBound.Seconds()*1.15)) + 3
		file := filepath.Join(s.Out, "cpu-"+b.file()+".pprof")
		b.Files = append(b.Files, file)
		profileDone = make(chan error, 1)
		go func() { profileDone <- w.saveProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), file) }()
		time.Sleep(50 * time.Millisecond) // the profile has started
	}

	pubAt := w.publishBurst(n)
	first := slices.MinFunc(pubAt, func(a, b time.Time) int { return a.Compare(b) })
	b.PublishSpan = time.Since(first)

	deadline := time.Now().Add(2*b.LowerBound + 2*time.Minute)
	for {
		if len(w.dms()) >= n && (spec.PromptsOnly || w.e.GitHub.IssueCount(stack.Repo) >= s.Seed+n) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("burst of %d: %d DMs and %d issues after %s", n, len(w.dms()), w.e.GitHub.IssueCount(stack.Repo)-s.Seed, time.Since(first))
		}
		time.Sleep(100 * time.Millisecond) // DMs and issues carry their own times: polling only ends the wait
	}
	if !spec.PromptsOnly {
		w.queueEmpty(time.Until(deadline) + stackWait) // tasks (issues filed later, their links) are done
	}
	b.CPU = w.proc().CPU - cpu0
	sampler.finish()
	b.PeakRSS = w.proc().HWM
	b.Calls = callRow{Name: b.name() + ", per alarm", Per: float64(n), Calls: diff(w.calls(), before)}
	b.Violations = [3]int{w.e.GitHub.LimitViolations(), w.e.Slack.PostLimitViolations(), w.e.PD.LimitViolations()}
	_, b.PeakPoints = w.e.GitHub.Points()
	b.NotModified = w.e.GitHub.NotModifiedCalls()
	b.measure(w, pubAt, first)

	logFile := filepath.Join(s.Out, "dispatch-"+b.file()+".log")
	if err := os.WriteFile(logFile, []byte(w.e.Logs.String()), 0o644); err != nil {
		tb.Errorf("log: %v", err)
	}
	b.Files = append(b.Files, logFile)
	if profile {
		file := filepath.Join(s.Out, "heap-"+b.file()+".pprof")
		if err := w.saveProfile("/debug/pprof/heap", file); err != nil {
			tb.Errorf("heap profile: %v", err)
		}
		b.Files = append(b.Files, file)
		if err := <-profileDone; err != nil {
			tb.Errorf("cpu profile: %v", err)
		}
	}
	return b
}

// publishBurst publishes the burst's alarms from several goroutines and returns when each publish
// started, by alarm.
func (w *world) publishBurst(n int) []time.Time {
	w.tb.Helper()
	pubAt := make([]time.Time, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var pubErr error
	var errOnce sync.Once
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				u := w.users[i%len(w.users)]
				at, err := w.publish(context.Background(), selfService(burstID(n, i), u.Name, burstTitle(n, i)))
				if err != nil {
					errOnce.Do(func() { pubErr = err })
				}
				pubAt[i] = at
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if pubErr != nil {
		w.tb.Fatalf("publish: %v", pubErr)
	}
	return pubAt
}

// measure reads the burst's outcome from the fakes: when each prompt was posted and each issue
// filed, the last thing done, and when each DM could have gone under Slack's limit alone.
func (b *burst) measure(w *world, pubAt []time.Time, first time.Time) {
	t := w.tb
	t.Helper()
	dms := w.dms()
	filed := map[string]time.Time{}
	last := first
	for _, is := range w.e.GitHub.Issues(stack.Repo) {
		if strings.HasPrefix(is.Title, fmt.Sprintf("Burst %d alarm ", b.N)) {
			filed[is.Title] = is.CreatedAt
			if is.CreatedAt.After(last) {
				last = is.CreatedAt
			}
		}
	}
	for _, u := range w.users {
		for _, m := range w.e.Slack.DMs(u.ID) { // prompts and thread replies (the issue's link)
			if m.Posted.After(last) {
				last = m.Posted
			}
		}
	}
	b.Drain = last.Sub(first)
	if b.PromptsOnly {
		b.Drain = 0
		for _, m := range dms {
			b.Drain = max(b.Drain, m.Posted.Sub(first))
		}
	}

	perUser := map[string][]int{} // alarm indexes per user, in publish order
	for i := range pubAt {
		m, ok := dms[burstID(b.N, i)]
		if !ok {
			t.Fatalf("no DM for %s", burstID(b.N, i))
		}
		at, ok := filed[burstTitle(b.N, i)]
		if !ok && !b.PromptsOnly {
			t.Fatalf("no issue for %s", burstID(b.N, i))
		}
		b.Latencies = append(b.Latencies, m.Posted.Sub(pubAt[i]))
		if ok {
			b.IssueLags = append(b.IssueLags, at.Sub(pubAt[i]))
		}
		if !ok || m.Posted.Before(at) {
			b.PromptFirst++
		}
		u := w.users[i%len(w.users)].ID
		perUser[u] = append(perUser[u], i)
	}
	rate := slackPerSec * b.Scale
	wsSlots := slackWorkspaceSlots(b.N, b.Scale) // by publish order: the k-th alarm's DM is at best the k-th post
	for _, idx := range perUser {
		sort.Slice(idx, func(a, c int) bool { return pubAt[idx[a]].Before(pubAt[idx[c]]) })
		for j, i := range idx {
			// The j-th DM in a channel waits for a token of Slack's bucket, then takes one call; and
			// none goes before one round trip of look-ups and its own.
			slot := first.Add(max(time.Duration(math.Max(0, float64(j-slackBurst+1))/rate*float64(time.Second)), wsSlots[i]))
			b.DMBounds = append(b.DMBounds, max(slot.Sub(pubAt[i])+w.lat, 2*w.lat))
		}
	}
	slices.Sort(b.Latencies)
	slices.Sort(b.IssueLags)
	slices.Sort(b.DMBounds)
}

// lowerBound is the earliest a burst of n self-service alarms can be done under the limits and the
// latency: GitHub's n-th content-creating request at the earliest its sliding windows allow (the
// first after one round trip of look-ups), plus its own round trip; or Slack's last DM in the
// busiest channel under its token bucket, plus one round trip; whichever is later.
func lowerBound(n, users int, lat time.Duration, scale float64) time.Duration {
	ts := earliest(n, ghWindows(scale, 0), lat)
	gh := ts[n-1] + lat
	return max(gh, slackBound(n, users, lat, scale))
}

// slackBound is the earliest the last DM of a burst can be posted under Slack's limits on
// chat.postMessage: the busiest channel's last token of the bucket, or the workspace's n-th post
// under its window (300 a minute), plus one round trip; and no sooner than one round trip of
// look-ups (de-duplication) and one post.
func slackBound(n, users int, lat time.Duration, scale float64) time.Duration {
	perChannel := (n + users - 1) / users
	channel := time.Duration(math.Max(0, float64(perChannel-slackBurst)) / (slackPerSec * scale) * float64(time.Second))
	workspace := slackWorkspaceSlots(n, scale)[n-1]
	return max(max(channel, workspace)+lat, 2*lat)
}

// slackWorkspaceSlots is the earliest moment of each of n posts under Slack's limit across the
// workspace, the windows dispatch and the fake Slack both hold chat.postMessage to.
func slackWorkspaceSlots(n int, scale float64) []time.Duration {
	return earliest(n, slackapi.ScaleLimits(slackapi.Limits, scale)["chat.postMessage"], 0)
}
