package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
)

// settings shape one run.
type settings struct {
	Latency      time.Duration // added per call, real time
	Connect      time.Duration // added to the first call on a new connection (TCP + TLS handshakes), real time
	Users        int           // a burst's alarms are spread over this many users
	PaceMargin   time.Duration // added to dispatch's GitHub pacing windows, real time (0: the default windows)
	Concurrency  int           // DISPATCH_CONCURRENCY; 0: dispatch's default
	Seed         int           // dispatch issues already in the repository
	Singles      int           // single alarms, one at a time, in real time
	ClickLatency time.Duration // GitHub's latency while buttons are clicked
	Bursts       []burstSpec
	Profile      bool   // CPU and heap profiles of the largest burst
	Out          string // where profiles go
}

// report is everything one run measured.
type report struct {
	Settings settings
	Started  time.Time
	RT       realtime
	Bursts   []burst
}

// realtime is what the real-time world (scale 1) measured.
type realtime struct {
	Startup time.Duration
	IdleRSS int64
	Singles []single // with the services' latency
	Bare    []single // with the services answering at once
	Types   []callRow
	Acks    []time.Duration
}

// single is one alarm published with nothing else going on.
type single struct {
	Latency  time.Duration // publish → DM posted
	Publish  time.Duration // how long SNS Publish took (goaws)
	Calls    int           // Slack, GitHub and PagerDuty calls made on the way
	Fakes    time.Duration // the fakes' own work answering them (encoding a page of 100 issues…)
	Handling time.Duration // the bot's own measure, dispatch_alarm_handling_seconds: off the queue to done
}

// added is what the bot adds to an alarm the services answer at once: its latency less the
// publish and the fakes' own work (SQS delivering the message to the bot included).
func (sg single) added() time.Duration { return sg.Latency - sg.Publish - sg.Fakes }

// callRow is the API calls one alarm (or answer) made, by service and call.
type callRow struct {
	Name  string
	Per   float64 // divide the counts by this (alarms in a burst)
	Calls counts
}

func run(tb testing.TB, s settings) report {
	tb.Helper()
	r := report{Settings: s, Started: time.Now()}
	r.RT = runRealtime(tb, s)
	profiled := -1 // the last of the largest complete bursts
	for i, b := range s.Bursts {
		if !b.PromptsOnly && (profiled < 0 || b.N >= s.Bursts[profiled].N) {
			profiled = i
		}
	}
	for i, b := range s.Bursts {
		r.Bursts = append(r.Bursts, runBurst(tb, s, b, s.Profile && i == profiled))
	}
	return r
}

// runRealtime measures, at real time: start-up, idle memory, single alarms, the calls of each
// alarm type and answer, and click → ack while GitHub is slow.
func runRealtime(tb testing.TB, s settings) realtime {
	tb.Helper()
	ctx := context.Background()
	w := newWorld(tb, s, 1)
	defer w.stop()
	var rt realtime
	rt.Startup = w.startup
	time.Sleep(time.Second) // let start-up garbage settle: idle is after, not during, start-up
	rt.IdleRSS = w.proc().RSS

	// Single alarms, one at a time, to 10 users (so 10 of them open a DM channel first) with the
	// services' latency; then to other users (no more than 2 DMs each, or dispatch's Slack pacing
	// would hold them) with the services answering at once, which leaves what the bot itself adds,
	// new connections included: they still cost their handshake.
	first := min(10, len(w.users)/2)
	groups := [][]fakeslack.User{w.users[:first], w.users[first:]}
	var dms []fakeslack.Message
	var dmUsers []string
	for series, lat := range []time.Duration{w.lat, 0} {
		w.setLatency(lat)
		for i := range s.Singles {
			u := groups[series][i%len(groups[series])]
			id := fmt.Sprintf("single-%d-%03d", series, i)
			before, fakes, handling := w.calls(), w.fakeTime(), w.handling()
			at, err := w.publish(ctx, selfService(id, u.Name, "Single alarm "+id))
			if err != nil {
				tb.Fatalf("publish: %v", err)
			}
			published := time.Now()
			m := w.waitDM(u.ID, id)
			w.queueEmpty(stackWait)
			sg := single{Latency: m.Posted.Sub(at), Publish: published.Sub(at), Calls: diff(w.calls(), before).api(),
				Fakes: w.fakeTime() - fakes, Handling: w.handling() - handling}
			if lat > 0 {
				rt.Singles = append(rt.Singles, sg)
				dms = append(dms, m)
				dmUsers = append(dmUsers, u.ID)
			} else {
				rt.Bare = append(rt.Bare, sg)
			}
		}
	}
	w.setLatency(w.lat)

	// One alarm of each type, to a user whose DM is open and directory is loaded.
	u := w.users[0]
	user := fmt.Sprintf(`[{"slack":%q,"github":"%s-gh"}]`, u.Name, u.Name)
	for _, tc := range []struct{ name, body string }{
		{"self-service", selfService("type-self", u.Name, "Type self-service")},
		{"self-service, same title again", selfService("type-self-again", u.Name, "Type self-service")},
		{"broadcast (1 user)", `{"type":"broadcast","requestId":"type-broadcast","users":` + user + `,"body":{"github":{"title":"Type broadcast","body":"Maintenance tonight."},"slack":{"message":"Maintenance tonight at 22:00 UTC."}}}`},
		{"nag (1 user)", `{"type":"nag","requestId":"type-nag","users":` + user + `,"body":{"github":{"title":"Type nag","body":"Rotate your key."},"slack":{"message":"Your access key is 90 days old: please rotate it."}}}`},
		{"low-priority", `{"type":"low-priority","requestId":"type-low","users":` + user + `,"body":{"github":{"title":"Type low","body":"Odd sudo use on bastion."}}}`},
		{"high-priority", `{"type":"high-priority","requestId":"type-high","body":{"pagerduty":{"title":"Root login on prod-db","body":"From 203.0.113.7"}}}`},
	} {
		before := w.calls()
		if _, err := w.publish(ctx, tc.body); err != nil {
			tb.Fatalf("publish %s: %v", tc.name, err)
		}
		w.e.Eventually(tc.name+" to be handled", stackWait, func() bool {
			return diff(w.calls(), before)["sqs DeleteMessage"] > 0
		})
		w.queueEmpty(stackWait)
		rt.Types = append(rt.Types, callRow{Name: tc.name, Per: 1, Calls: diff(w.calls(), before)})
	}

	// Answers, each until its DM is settled (the last thing an answer does).
	for i, a := range []struct{ name, action string }{{"answer Yes", handlers.ActionYes}, {"answer No", handlers.ActionNo}} {
		if i >= len(dms) {
			break
		}
		before := w.calls()
		w.e.Click(dmUsers[i], dms[i], a.action)
		dm := dms[i]
		w.e.Eventually(a.name+" to be recorded", stackWait, func() bool { return w.e.Current(dm).Updated > 0 })
		rt.Types = append(rt.Types, callRow{Name: a.name, Per: 1, Calls: diff(w.calls(), before)})
	}

	// Click → ack while GitHub answers slowly: the rest of the DMs, clicked in quick succession.
	w.e.GitHub.SetLatency(s.ClickLatency)
	var envelopes []string
	for i := 2; i < len(dms); i++ {
		action := handlers.ActionYes
		if i%2 == 1 {
			action = handlers.ActionNo
		}
		id, err := w.e.Slack.ClickButton(dmUsers[i], dms[i].Channel, dms[i].TS, action)
		if err != nil {
			tb.Fatalf("click: %v", err)
		}
		envelopes = append(envelopes, id)
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range envelopes {
		ctx, cancel := context.WithTimeout(ctx, stackWait)
		ack, err := w.e.Slack.WaitAck(ctx, id)
		cancel()
		if err != nil {
			tb.Fatalf("no ack: %v", err)
		}
		rt.Acks = append(rt.Acks, ack.Latency)
	}
	slices.Sort(rt.Acks)
	return rt
}

// stackWait bounds a wait for one alarm or one answer.
const stackWait = 30 * time.Second

// waitDM waits for the DM of alarm id to user.
func (w *world) waitDM(userID, id string) fakeslack.Message {
	w.tb.Helper()
	var got fakeslack.Message
	w.e.Eventually("the DM of "+id, stackWait, func() bool {
		for _, m := range w.e.Slack.DMs(userID) {
			if dmKey(m) == id {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// earliest returns when each of n requests can be sent at the earliest under sliding windows, the
// first at t0: request k waits for request k-Limit to leave each window.
func earliest(n int, windows []pace.Window, t0 time.Duration) []time.Duration {
	ts := make([]time.Duration, n)
	for k := range ts {
		t := t0
		for _, w := range windows {
			if k >= w.Limit {
				t = max(t, ts[k-w.Limit]+w.Span)
			}
		}
		ts[k] = t
	}
	return ts
}

// calls snapshots every service's call counters, keyed "service call". SQS counts only the calls
// dispatch makes while it works (the benchmark's own publishes and depth checks are left out).
func (w *world) calls() counts {
	out := counts{}
	for m, n := range w.e.Slack.CallCounts() {
		out["slack "+m] = n
	}
	for route, n := range w.e.GitHub.Calls() {
		out["github "+strings.ReplaceAll(strings.Replace(route, "/repos/{owner}/{repo}", "", 1), "{issue_number}", "{n}")] = n
	}
	out["pagerduty enqueue"] = w.e.PD.Requests()
	// New TCP connections, by service: keep-alive at work (or not).
	out["tcp slack"], out["tcp github"] = w.e.Slack.TCPConnections(), w.e.GitHub.TCPConnections()
	out["tcp pagerduty"], out["tcp sqs"] = w.e.PD.TCPConnections(), w.e.AWS.TCPConnections()
	for action, n := range w.e.AWS.Calls() {
		switch action {
		case "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
			"ChangeMessageVisibilityBatch", "SendMessage", "SendMessageBatch":
			out["sqs "+action] = n
		}
	}
	return out
}

// counts are call counters by "service call".
type counts map[string]int

func diff(after, before counts) counts {
	out := counts{}
	for k, n := range after {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// api counts the calls to Slack, GitHub and PagerDuty (not SQS, not connections).
func (c counts) api() int {
	n := 0
	for k, v := range c {
		if !strings.HasPrefix(k, "sqs ") && !strings.HasPrefix(k, "tcp ") {
			n += v
		}
	}
	return n
}
