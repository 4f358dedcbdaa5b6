package bench

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
)

// pct is the q-quantile (0 < q <= 1) of sorted durations, by nearest rank.
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// dur prints a duration with three significant digits or so.
func dur(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < 2*time.Hour:
		return fmt.Sprintf("%.1fmin", d.Minutes())
	}
	return fmt.Sprintf("%.1fh", d.Hours())
}

// real turns a duration on a scaled clock back into real time.
func realTime(d time.Duration, scale float64) time.Duration { return time.Duration(float64(d) * scale) }

func mb(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}

func sortedCopy(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

// table renders the report as the one table the issue asks for.
func (r report) table() string {
	s := r.Settings
	var buf bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&buf, format, args...) }
	conc := fmt.Sprintf("DISPATCH_CONCURRENCY=%d (default)", bot.Defaults().Concurrency)
	if s.Concurrency > 0 {
		conc = fmt.Sprintf("DISPATCH_CONCURRENCY=%d (NOT the default %d)", s.Concurrency, bot.Defaults().Concurrency)
	}
	p("dispatch benchmark · %s · %s %s/%s · %d CPUs · the dispatch binary, %s, LOG_LEVEL=info\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), conc)
	p("Fakes: +%s per call, +%s more on a new connection (TCP and TLS handshakes), to Slack, GitHub and PagerDuty.\n",
		dur(s.Latency), dur(s.Connect))
	p("Limits enforced: Slack chat.postMessage %g/s per channel (bursts of %d), GitHub %d content-creating/min and %d/h,\n",
		slackPerSec, slackBurst, ghPerMinute, ghPerHour)
	p("GitHub %d requests/h, search %d/min (counted apart), %d points/min (read 1, write 5), %d requests in flight, 304s free,\n",
		ghPrimary, ghSearchPerMinute, ghPointsPerMinute, ghConcurrency)
	p("PagerDuty %d events/min per key. %d dispatch issues already in the repository. Alarms published through SNS (goaws,\n",
		pdPerMinute, s.Seed)
	p("enveloped), spread over %d Slack users found by handle.\n", s.Users)
	p("Time scale: single alarms, alarm types and clicks at 1x (real time).")
	var scales []float64
	for _, b := range r.Bursts {
		if b.Scale == 1 {
			p(" The %s.", b.name())
		} else if !slices.Contains(scales, b.Scale) {
			scales = append(scales, b.Scale)
		}
	}
	p("\nA prompts-only burst ends with its last prompt; its issues follow at GitHub's pace.")
	for _, sc := range scales {
		var names []string
		for _, b := range r.Bursts {
			if b.Scale == sc {
				names = append(names, fmt.Sprint(b.N))
			}
		}
		p("\nAt %gx (bursts of %s): every limit window and the added latency ÷%g (GitHub %d/%s + %d/%s, Slack %g/s per\n",
			sc, strings.Join(names, ", "), sc, ghPerMinute, dur(scaleDown(time.Minute, sc)), ghPerHour, dur(scaleDown(time.Hour, sc)),
			slackPerSec*sc)
		p("channel, PagerDuty %d/%s, %s per call, %s per new connection) and dispatch's GITHUB_CONTENT_LIMITS=%s;\n",
			pdPerMinute, dur(scaleDown(time.Minute, sc)), dur(scaleDown(s.Latency, sc)), dur(scaleDown(s.Connect, sc)), limitsEnv(sc, s.PaceMargin))
		p("\"≙ real\" multiplies the times that the limits set back by %g. Not scaled: CPU (so at %gx prompts wait on the CPU and\n", sc, sc)
		p("their latency is not ≙ real: see the 1x rows), dispatch's Slack (4 per 4 s per channel) and PagerDuty pacing, the 2 s\n")
		p("a prompt may wait for GitHub's pacing before it goes first (≙ %s), SQS delays and Retry-After in whole seconds (≙ %s).",
			dur(realTime(2*time.Second, sc)), dur(realTime(time.Second, sc)))
	}
	if s.PaceMargin > 0 {
		p("\nNOT dispatch's default: each of its GitHub pacing windows was lengthened by %s (real time).", s.PaceMargin)
	}
	p("\n\n")

	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	t := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	rt := r.RT
	row := func(name string, n int, ds []time.Duration, extra string) {
		t(name, fmt.Sprint(n), dur(pct(ds, .5)), dur(pct(ds, .95)), dur(pct(ds, .99)), dur(pct(ds, 1)), extra)
	}
	series := func(sgs []single, f func(single) time.Duration) []time.Duration {
		var out []time.Duration
		for _, sg := range sgs {
			out = append(out, f(sg))
		}
		return sortedCopy(out)
	}
	realNote := func(ds []time.Duration, scale float64, more string) string {
		if scale == 1 {
			return more
		}
		return strings.TrimSuffix(fmt.Sprintf("≙ real p50 %s, p99 %s; %s", dur(realTime(pct(ds, .5), scale)), dur(realTime(pct(ds, .99), scale)), more), "; ")
	}
	t("PUBLISH → DM LATENCY", "n", "p50", "p95", "p99", "max", "")
	if len(rt.Singles) > 0 {
		calls := 0
		for _, sg := range rt.Singles {
			calls += sg.Calls
		}
		row("single alarm (1x)", len(rt.Singles), series(rt.Singles, func(sg single) time.Duration { return sg.Latency }),
			fmt.Sprintf("%.1f API calls on the way; %d users, so %d DM channels opened", float64(calls)/float64(len(rt.Singles)),
				min(10, s.Users/2), min(10, s.Users/2)))
	}
	if len(rt.Bare) > 0 {
		row("  the same, services answering at once", len(rt.Bare), series(rt.Bare, func(sg single) time.Duration { return sg.Latency }),
			fmt.Sprintf("+0 per call; a new connection still costs %s", dur(s.Connect)))
		row("    of which SNS publish (goaws)", len(rt.Bare), series(rt.Bare, func(sg single) time.Duration { return sg.Publish }),
			"until Publish returned, in the benchmark's process")
		row("    of which the fakes' own work", len(rt.Bare), series(rt.Bare, func(sg single) time.Duration { return sg.Fakes }),
			"the fakes answering (encoding a page of issues…)")
		added := series(rt.Bare, single.added)
		row("    of which the bot (+ SQS delivery)", len(rt.Bare), added, "the rest: what dispatch adds to the services' latency")
		delivery := series(rt.Bare, func(sg single) time.Duration { return sg.added() - (sg.Handling - sg.Fakes) })
		row("      of which in its handler", len(rt.Bare), series(rt.Bare, func(sg single) time.Duration { return sg.Handling - sg.Fakes }),
			fmt.Sprintf("dispatch_alarm_handling_seconds − the fakes' work; SQS delivery ≤ %s", dur(max(pct(delivery, 1), 0))))
	}
	for _, b := range r.Bursts {
		row(b.name(), b.N, b.Latencies, fmt.Sprintf("%d prompts went before their issue", b.PromptFirst))
		row("  lower bound: Slack's limit alone", b.N, b.DMBounds, "each DM after a look-up and as soon as its channel's token bucket allows")
		if len(b.IssueLags) > 0 {
			row("  publish → its issue filed", len(b.IssueLags), b.IssueLags, realNote(b.IssueLags, b.Scale, "the audit trail, at GitHub's pace"))
		}
	}
	tw.Flush()
	p("\n")
	tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	t("DRAIN (first publish → last DM, link or issue)", "drain", "alarms/s", "lower bound", "ratio", "≙ real drain", "≙ real alarms/s", "publishing took")
	for _, b := range r.Bursts {
		name := b.name()
		if b.PromptsOnly {
			name += ": last prompt, bound by Slack"
		}
		t(name, dur(b.Drain), fmt.Sprintf("%.1f", float64(b.N)/b.Drain.Seconds()),
			dur(b.LowerBound), fmt.Sprintf("%.2f", b.Drain.Seconds()/b.LowerBound.Seconds()),
			dur(realTime(b.Drain, b.Scale)), fmt.Sprintf("%.2f", float64(b.N)/realTime(b.Drain, b.Scale).Seconds()), dur(b.PublishSpan))
	}
	tw.Flush()
	p("\n")
	tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	t("CLICK → ACK", "n", "p50", "p99", "max", "", "")
	t(fmt.Sprintf("GitHub answering in %s (1x)", dur(s.ClickLatency)), fmt.Sprint(len(rt.Acks)),
		dur(pct(rt.Acks, .5)), dur(pct(rt.Acks, .99)), dur(pct(rt.Acks, 1)), "", "")
	tw.Flush()

	p("\n")
	tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	t("API CALLS PER ALARM", "Slack", "GitHub", "PagerDuty", "SQS", "new TCP conns", "the calls")
	rows := append([]callRow(nil), rt.Types...)
	for _, b := range r.Bursts {
		rows = append(rows, b.Calls)
	}
	for _, cr := range rows {
		t(cr.Name, cr.service("slack"), cr.service("github"), cr.service("pagerduty"), cr.service("sqs"), cr.service("tcp"), cr.detail())
	}
	tw.Flush()

	p("\n")
	tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	t("THE DISPATCH PROCESS", "")
	t(fmt.Sprintf("start-up to ready (exec → /readyz 200, %s per call, 1x)", dur(s.Latency)), dur(rt.Startup))
	t("idle RSS (1 s after ready, 1x)", mb(rt.IdleRSS))
	for _, b := range r.Bursts {
		t(b.name()+": idle RSS before / peak RSS (VmHWM)", mb(b.IdleRSS)+" / "+mb(b.PeakRSS))
		t(b.name()+": CPU per 1,000 alarms (utime+stime)", fmt.Sprintf("%.2f s", b.CPU.Seconds()*1000/float64(b.N)))
		t(b.name()+": limit violations GitHub / Slack / PagerDuty", fmt.Sprintf("%d / %d / %d", b.Violations[0], b.Violations[1], b.Violations[2]))
		req, search := b.githubPerAlarm()
		what := "creating the issue included"
		if b.PromptsOnly {
			what = "until the last prompt: most issues not filed yet"
		}
		t(b.name()+": GitHub search calls per alarm (goal 0)", fmt.Sprintf("%.2f", search))
		t(b.name()+": GitHub requests per alarm (goal ≤ 1.2, "+what+")", fmt.Sprintf("%.2f (%d answered 304)", req, b.NotModified))
		t(b.name()+": GitHub points per minute at peak (limit 900)", fmt.Sprint(b.PeakPoints))
		t(b.name()+": files", strings.Join(b.Files, ", "))
	}
	tw.Flush()
	return buf.String()
}

// limitsEnv is dispatch's GITHUB_CONTENT_LIMITS at a scale.
func limitsEnv(scale float64, margin time.Duration) string {
	var parts []string
	for _, w := range ghWindows(scale, margin) {
		parts = append(parts, fmt.Sprintf("%d/%s", w.Limit, w.Span))
	}
	return strings.Join(parts, ",")
}

// service totals a row's calls to one service, per alarm.
func (cr callRow) service(name string) string {
	n := 0
	for k, v := range cr.Calls {
		if strings.HasPrefix(k, name+" ") {
			n += v
		}
	}
	return cr.num(n)
}

func (cr callRow) num(n int) string {
	v := float64(n) / cr.Per
	if v == math.Trunc(v) {
		return fmt.Sprint(int(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// detail lists a row's calls by service, in a stable order.
func (cr callRow) detail() string {
	var parts []string
	for _, svc := range []string{"slack", "github", "pagerduty", "sqs", "tcp"} {
		var names []string
		for k := range cr.Calls {
			if strings.HasPrefix(k, svc+" ") {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		var calls []string
		for _, k := range names {
			calls = append(calls, strings.TrimPrefix(k, svc+" ")+" "+cr.num(cr.Calls[k]))
		}
		if len(calls) > 0 {
			label := svc
			if svc == "tcp" {
				label = "new TCP connections to"
			}
			parts = append(parts, label+": "+strings.Join(calls, ", "))
		}
	}
	return strings.Join(parts, "; ")
}
