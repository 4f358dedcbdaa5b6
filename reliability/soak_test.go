package reliability

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
)

// soakFor is how long BenchmarkSoak runs its faults and publishes alarms (then it waits for the
// backlog): `go test -run=^$ -bench=Soak ./reliability/ -soak=30m`. Not part of .ci/run.
var soakFor = flag.Duration("soak", 2*time.Minute, "how long BenchmarkSoak publishes alarms under faults (e.g. 30m)")

// soakAlarm is one alarm of the soak and what became of it.
type soakAlarm struct {
	id, kind  string
	answer    string // self-service: "yes", "no" or "" (the user never answers)
	published time.Time
}

// BenchmarkSoak runs two replicas of the binary for -soak while every service misbehaves, then
// counts what became of every alarm. 2,000 alarms per 30 minutes (at least 60), of every type,
// half of them self-service, answered Yes, No or not at all by their users; on every service the
// whole time 5% of calls fail with a 5xx, a 429 storm with Retry-After and a latency spike come in
// turn, and each service has one outage (2 minutes, or a sixth of a shorter run) in turn; a
// replica is SIGKILLed every minute and restarted; Slack refreshes the Socket Mode connections
// every 5 minutes. It ends with a table.
func BenchmarkSoak(b *testing.B) {
	for range b.N {
		runSoak(b, *soakFor)
	}
}

func runSoak(b *testing.B, length time.Duration) {
	began := time.Now()
	e := stack.New(b, stack.Options{Users: crowd, QueueVisibility: 5 * time.Second, Configure: func(c *bot.Config) {
		c.Visibility = 5 * time.Second
		c.LogLevel = "info"
		c.Replicas = 2
	}})
	// GitHub's budget is a deployment's choice, not dispatch's: the soak's 2,000 alarms in half an
	// hour take some 4 requests each (the table prints the count), about 8,000 in 35 minutes. One
	// token's 5,000 an hour can't carry that whatever dispatch does (its writes alone are 2 an
	// alarm); a GitHub App installation's 12,500 an hour can, so the soak runs with that. The stack
	// lifts the content-creating limits (80 a minute, 500 an hour) for the same reason: no credential
	// may file 2,000 issues in half an hour. The pacing tests prove dispatch keeps within them.
	e.GitHub.SetPrimaryLimit(12500, time.Hour)
	procs := []*stack.Process{e.StartProcess(), e.StartProcess()}

	n := max(60, int(2000*length/(30*time.Minute)))
	alarms := make([]soakAlarm, n)
	kinds := []string{"self-service", "self-service", "self-service", "self-service", "broadcast", "high", "low", "nag"}
	for i := range alarms {
		a := soakAlarm{id: fmt.Sprintf("soak-%d", i), kind: kinds[i%len(kinds)]}
		if a.kind == "self-service" {
			a.answer = []string{"yes", "no", ""}[(i/len(kinds))%3]
		}
		alarms[i] = a
	}
	byID := map[string]*soakAlarm{}
	for i := range alarms {
		byID[alarms[i].id] = &alarms[i]
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { soakFaults(e, length, stop) })
	clicks := startAnswering(e, byID, stop, &wg)

	// Publish evenly over the first four fifths, so the last alarms still meet faults.
	every := length * 4 / 5 / time.Duration(n)
	kills := time.NewTicker(time.Minute)
	refresh := time.NewTicker(5 * time.Minute)
	next := time.Now()
	killed := 0
	for i := 0; i < n || time.Since(began) < length; {
		select {
		case <-kills.C:
			p := procs[killed%2]
			p.Kill()
			procs[killed%2] = e.StartProcessUnwaited() // Slack may be down: it connects when it can
			killed++
		case <-refresh.C:
			e.Slack.Disconnect("")
		case <-time.After(time.Until(next)):
			if i < n {
				alarms[i].published = time.Now()
				sendAll(b, e, []string{soakBody(alarms[i], i)})
				i++
				next = next.Add(every)
			} else {
				next = began.Add(length)
			}
		}
	}
	kills.Stop()
	refresh.Stop()
	close(stop)
	wg.Wait()
	e.GitHub.SetHandlerHook(nil)

	ids := make([]string, n)
	for i, a := range alarms {
		ids[i] = a.id
	}
	deadline := time.Now().Add(10 * time.Minute)
	for soakCount(e, alarms, clicks).lost > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Second) // the backlog drains on its own clock
	}
	defer func() {
		if b.Failed() { // QueueEmpty gave up: what the fakes hold, to tell why
			r := soakCount(e, alarms, clicks)
			fmt.Println("the soak failed; what the fakes hold now:\n" + r.table(length, killed) + githubCost(e.GitHub.Calls(), n))
		}
	}()
	e.QueueEmpty(time.Until(deadline) + time.Minute)
	r := soakCount(e, alarms, clicks)
	r.deadLettered = deadLettered(b, e, ids)
	table := r.table(length, killed) + githubCost(e.GitHub.Calls(), n)
	b.Log("\n" + table)
	fmt.Println(table)
	b.ReportMetric(float64(r.lost), "lost")
	b.ReportMetric(float64(r.doubled), "doubled")
	b.ReportMetric(float64(r.deadLettered), "dead-lettered")
	if r.lost > 0 || r.doubled > 0 || r.deadLettered > 0 || r.answeredOnce != r.answered {
		b.Errorf("the soak lost, doubled or dead-lettered alarms, or recorded answers more or less than once:\n%s", table)
	}
}

// soakBody is alarm a's message, of a's type, for one of the crowd.
func soakBody(a soakAlarm, i int) string {
	u := crowd[i%len(crowd)]
	users := fmt.Sprintf(`[{"slackId":%q,"github":"%s"}]`, u.ID, u.Name)
	title := "soak " + a.id
	switch a.kind {
	case "high":
		return fmt.Sprintf(`{"type":"high","requestId":%q,"body":{"pagerduty":{"title":%q}}}`, a.id, "page "+a.id)
	case "low":
		return fmt.Sprintf(`{"type":"low","requestId":%q,"users":%s,"body":{"github":{"title":%q}}}`, a.id, users, title)
	case "self-service":
		return fmt.Sprintf(`{"type":"self-service","requestId":%q,"users":%s,"body":{"github":{"title":%q},"slack":{"message":"Was this you? (%s)"}}}`,
			a.id, users, title, a.id)
	default: // broadcast, nag
		return fmt.Sprintf(`{"type":%q,"requestId":%q,"users":%s,"body":{"github":{"title":%q},"slack":{"message":"Heads up (%s)"}}}`,
			a.kind, a.id, users, title, a.id)
	}
}

// soakFaults injects the faults until stop: 5% 5xx everywhere, a 429 storm and a latency spike on
// one service in turn every 20 s, and one outage of each service in turn.
func soakFaults(e *stack.Env, length time.Duration, stop <-chan struct{}) {
	e.GitHub.SetHandlerHook(func(*http.Request) (int, bool) {
		if rand.Float64() < 0.05 {
			return http.StatusBadGateway, true
		}
		return 0, false
	})
	outage := min(2*time.Minute, length/6)
	began := time.Now()
	services := []string{"github", "slack", "pagerduty"}
	lastSlack := e.Slack.Calls("")
	lastPD := len(e.PD.Events())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for sec := 0; ; sec++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		// 5% of Slack's and PagerDuty's calls of the last second fail the next second.
		if calls := e.Slack.Calls(""); calls > lastSlack {
			if k := (calls - lastSlack) / 20; k > 0 || rand.IntN(20) < calls-lastSlack {
				e.Slack.FailNext("", max(k, 1), http.StatusInternalServerError, 0)
			}
			lastSlack = calls
		}
		if ev := len(e.PD.Events()); ev > lastPD {
			if k := (ev - lastPD) / 20; k > 0 || rand.IntN(20) < ev-lastPD {
				e.PD.FailNext(max(k, 1), http.StatusInternalServerError)
			}
			lastPD = ev
		}
		if sec%20 == 0 {
			switch services[(sec/20)%3] {
			case "github":
				e.GitHub.FailNext(5, http.StatusTooManyRequests)
				e.GitHub.SetLatency(time.Second)
			case "slack":
				e.Slack.FailNext("", 10, http.StatusTooManyRequests, 2*time.Second)
				e.Slack.SetLatency("", time.Second)
			case "pagerduty":
				e.PD.FailNext(5, http.StatusTooManyRequests)
				e.PD.SetLatency(time.Second)
			}
		}
		if sec%20 == 5 { // the spike lasts 5 s
			e.GitHub.SetLatency(0)
			e.Slack.SetLatency("", 0)
			e.PD.SetLatency(0)
		}
		for i, s := range services {
			if time.Since(began) < length*time.Duration(i+1)/4 || time.Since(began) >= length*time.Duration(i+1)/4+time.Second {
				continue
			}
			switch s {
			case "github":
				e.GitHub.SetFailFor(outage, http.StatusBadGateway)
			case "slack":
				e.Slack.FailFor("", outage, http.StatusServiceUnavailable)
			case "pagerduty":
				e.PD.SetFailFor(outage, http.StatusInternalServerError)
			}
		}
	}
}

// soakClicks are the answers given, by alarm id.
type soakClicks struct {
	mu    sync.Mutex
	given map[string]string
}

// startAnswering clicks each self-service prompt's answer (Yes, No, or nothing) once it appears,
// until stop.
func startAnswering(e *stack.Env, byID map[string]*soakAlarm, stop <-chan struct{}, wg *sync.WaitGroup) *soakClicks {
	c := &soakClicks{given: map[string]string{}}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, u := range crowd {
				for _, m := range e.Prompts(u.ID) {
					a := byID[promptAlarm(m.Metadata)]
					if a == nil || a.answer == "" || !strings.Contains(string(m.Blocks), handlers.ActionYes) {
						continue
					}
					c.mu.Lock()
					done := c.given[a.id] != ""
					c.mu.Unlock()
					if done {
						continue
					}
					action := map[string]string{"yes": handlers.ActionYes, "no": handlers.ActionNo}[a.answer]
					if _, err := e.Slack.ClickButton(u.ID, m.Channel, m.TS, action); err == nil {
						c.mu.Lock()
						c.given[a.id] = a.answer
						c.mu.Unlock()
					}
				}
			}
		}
	})
	return c
}

// promptAlarm is the alarm id in a DM's metadata key ("ID/user").
func promptAlarm(metadata json.RawMessage) string {
	var md struct {
		Payload struct {
			Key string `json:"key"`
		} `json:"event_payload"`
	}
	if json.Unmarshal(metadata, &md) != nil {
		return ""
	}
	id, _, _ := strings.Cut(md.Payload.Key, "/")
	return id
}

// soakResult is the soak's table.
type soakResult struct {
	published, handledOnce, doubled, lost, deadLettered int
	answered, answeredOnce, nos, noPages                int
	toDM                                                []time.Duration
	misrecorded                                         []string // answers not recorded exactly once, and how
}

// soakCount looks at what the fakes hold for every alarm: an issue (all but pages) and a prompt
// (self-service) exactly once, a page's incident with one event; for every answer given, the issue
// with exactly one answer comment, closed for Yes and open for No, and a page for each No.
func soakCount(e *stack.Env, alarms []soakAlarm, clicks *soakClicks) soakResult {
	issues := map[string][]int{} // alarm id → the answer comments on each of its issues
	closed := map[string]bool{}
	said := map[string][]string{} // alarm id → the first line of each comment on its issues
	for _, is := range e.Issues(stack.Repo) {
		if m := markerAlarm.FindStringSubmatch(is.Body); m != nil {
			id, _ := url.QueryUnescape(m[1])
			answers := 0 // a deferred page's "Paged" follow-up is another comment, not another answer
			for _, c := range is.Comments {
				if strings.Contains(c.Body, "<!-- dispatch answer alarm=") {
					answers++
				}
				first, _, _ := strings.Cut(c.Body, "\n")
				said[id] = append(said[id], fmt.Sprintf("#%d %q", is.Number, first))
			}
			issues[id] = append(issues[id], answers)
			closed[id] = is.State == "closed"
		}
	}
	prompts := map[string][]time.Time{}
	for _, u := range crowd {
		for _, m := range e.Prompts(u.ID) {
			if id := promptAlarm(m.Metadata); id != "" { // an answered prompt has lost its buttons
				prompts[id] = append(prompts[id], m.Posted)
			}
		}
	}
	pages := map[string]int{}
	incidents := 0
	for _, in := range e.PD.Incidents() {
		incidents++
		pages[strings.TrimPrefix(in.Summary, "page ")] += in.Events
	}
	clicks.mu.Lock()
	given := maps.Clone(clicks.given)
	clicks.mu.Unlock()

	r := soakResult{published: len(alarms)}
	highs := 0
	for _, a := range alarms {
		var n int
		switch a.kind {
		case "high":
			highs++
			n = pages[a.id]
		case "self-service":
			n = min(len(issues[a.id]), len(prompts[a.id]))
			if len(issues[a.id]) > 1 || len(prompts[a.id]) > 1 {
				n = 2
			}
			if len(prompts[a.id]) > 0 {
				r.toDM = append(r.toDM, prompts[a.id][0].Sub(a.published))
			}
		default:
			n = len(issues[a.id])
		}
		switch {
		case n == 0:
			r.lost++
		case n == 1:
			r.handledOnce++
		default:
			r.doubled++
		}
		if ans := given[a.id]; ans != "" {
			r.answered++
			if len(issues[a.id]) == 1 && issues[a.id][0] == 1 && closed[a.id] == (ans == "yes") {
				r.answeredOnce++
			} else {
				r.misrecorded = append(r.misrecorded, fmt.Sprintf("%s answered %s: answer comments by issue %v, closed %v: %s", a.id, ans, issues[a.id], closed[a.id], strings.Join(said[a.id], "; ")))
			}
			if ans == "no" {
				r.nos++
			}
		}
	}
	r.noPages = incidents - highs
	return r
}

// table renders the result as the Markdown table docs/RELIABILITY.md carries.
func (r soakResult) table(length time.Duration, kills int) string {
	slices.Sort(r.toDM)
	pct := func(p float64) string {
		if len(r.toDM) == 0 {
			return "-"
		}
		return r.toDM[min(len(r.toDM)-1, int(p*float64(len(r.toDM))))].Round(100 * time.Millisecond).String()
	}
	perNo := "-"
	if r.nos > 0 {
		perNo = fmt.Sprintf("%.2f", float64(r.noPages)/float64(r.nos))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| soak %s, 2 replicas, %d SIGKILLs | |\n|---|---|\n", length, kills)
	for _, row := range [][2]string{
		{"published", fmt.Sprint(r.published)},
		{"handled once", fmt.Sprint(r.handledOnce)},
		{"doubled", fmt.Sprint(r.doubled)},
		{"lost", fmt.Sprint(r.lost)},
		{"dead-lettered", fmt.Sprint(r.deadLettered)},
		{"answers recorded once", fmt.Sprintf("%d of %d", r.answeredOnce, r.answered)},
		{"pages per No", perNo},
		{"publish to DM p50 / p99", pct(0.50) + " / " + pct(0.99)},
	} {
		fmt.Fprintf(&sb, "| %s | %s |\n", row[0], row[1])
	}
	for _, m := range r.misrecorded {
		fmt.Fprintf(&sb, "\n%s", m)
	}
	return sb.String()
}

// githubCost renders the GitHub requests the soak made, in all and by route, per alarm published:
// what decides whether a credential's primary limit (5,000 an hour per token) carries the load.
func githubCost(calls map[string]int, alarms int) string {
	total := 0
	for _, n := range calls {
		total += n
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nGitHub requests: %d, %.2f per alarm\n", total, float64(total)/float64(alarms))
	for _, route := range slices.Sorted(maps.Keys(calls)) {
		fmt.Fprintf(&sb, "  %-50s %6d  %.2f per alarm\n", route, calls[route], float64(calls[route])/float64(alarms))
	}
	return sb.String()
}
