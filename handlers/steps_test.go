package handlers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/retry"
)

var (
	errSlackDown     = errors.New("slack: 503 service_unavailable")
	errPagerDutyDown = errors.New("pagerduty: 500")
)

// outage takes one service down (its fake failing every call, and the router told so, as the
// bot's outage gate tells it) or, with "", none; back ends it.
func (w *world) outage(service string) {
	down := map[string]bool{service: true}
	w.r.WatchHealth(func(s string) bool { return down[s] })
	switch service {
	case ServiceGitHub:
		w.issues.down = errGitHubDown
	case ServiceSlack:
		w.chat.down = errSlackDown
	case ServicePagerDuty:
		w.pager.down = errPagerDutyDown
	}
}

func (w *world) back() {
	w.r.WatchHealth(nil)
	w.issues.down, w.chat.down, w.pager.down = nil, nil, nil
}

// runSteps runs the deferred steps (and files, links) until none is left, as the queue would once
// their service is back, and returns how many ran.
func (w *world) runSteps(t *testing.T) int {
	t.Helper()
	n := 0
	for range 10 {
		var batch []Task
		for _, k := range []string{TaskFile, TaskPrompt, TaskLink, TaskPage, TaskRecord, TaskSettle} {
			batch = append(batch, w.tasks.Take(k)...)
		}
		if len(batch) == 0 {
			return n
		}
		for _, task := range batch {
			if err := w.r.RunTask(testCtx(t), task); err != nil {
				t.Fatalf("RunTask %s: %v", task.Kind, err)
			}
			n++
		}
	}
	t.Fatal("steps keep deferring themselves")
	return n
}

// runDeadline runs the alarm's escalation (or reminder) at its due time.
func (w *world) runDeadline(t *testing.T, kind string) {
	t.Helper()
	tasks := w.tasks.Take(kind)
	if len(tasks) != 1 {
		t.Fatalf("%s tasks: %d, want 1", kind, len(tasks))
	}
	w.now = tasks[0].Deadline.DueAt
	if err := w.r.RunTask(testCtx(t), tasks[0]); err != nil {
		t.Fatalf("RunTask %s: %v", kind, err)
	}
}

func (w *world) comments(n int) string {
	w.issues.mu.Lock()
	defer w.issues.mu.Unlock()
	var out []string
	for _, c := range w.issues.comments[w.issues.key(testRepo, n)] {
		out = append(out, c.Body)
	}
	return strings.Join(out, "\n---\n")
}

// stepRow is one row of the step table: act runs with the service down; during checks then;
// after checks once it is back and the deferred steps ran.
type stepRow struct {
	name, step, service, down string
	act                       func(t *testing.T, w *world)
	during, after             func(t *testing.T, w *world)
}

// tellAlarm is the JSON of a broadcast or nag to U1 and U2.
func tellAlarm(typ string) []byte {
	return []byte(`{"type":"` + typ + `","requestId":"req-9","users":[{"slackId":"U1"},{"slackId":"U2"}],"body":{"github":{"title":"deploy freeze","body":"no deploys today"},"slack":{"message":"no deploys today"}}}`)
}

// tellRows are the rows of the broadcast's and the nag's DMs: they wait only for Slack, their issue
// follows once GitHub answers, once, and is linked in each DM's thread once, whatever is redelivered.
func tellRows() []stepRow {
	deliver := func(t *testing.T, w *world, typ, delivery string, redelivered bool) {
		t.Helper()
		if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: delivery, Body: tellAlarm(typ), Redelivered: redelivered}); err != nil {
			t.Fatalf("Handle %s %s: %v", typ, delivery, err)
		}
	}
	// dmsFirst: each user has want DMs, none with a link, each saying the issue follows; no issue yet.
	dmsFirst := func(want int) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			t.Helper()
			for _, u := range []string{"U1", "U2"} {
				dms := w.chat.DMs(u)
				if len(dms) != want {
					t.Fatalf("%s DMs %+v, want %d", u, dms, want)
				}
				for _, dm := range dms {
					if dm.Link != nil || !strings.Contains(dm.Note, "the audit issue follows in this thread") {
						t.Errorf("%s DM %+v, want no link, saying the issue follows", u, dm)
					}
				}
			}
			if got := w.issues.Writes(); len(got) != 0 {
				t.Errorf("GitHub writes %q, want none while it is down", got)
			}
		}
	}
	// linkedOnce: one issue was made (creates of them), and each DM's thread has its link, once.
	linkedOnce := func(creates, dmsEach int) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			t.Helper()
			if got := w.issues.Writes(); len(got) != creates {
				t.Errorf("GitHub writes %q, want %d create", got, creates)
			}
			links := map[string]int{}
			for _, th := range w.chat.Threads() {
				if th.Msg.Link == nil || !strings.Contains(th.Msg.Link.Text, "#1: deploy freeze") {
					t.Errorf("thread reply %+v, want the link of #1", th.Msg)
				}
				links[th.Parent.Channel+"/"+th.Parent.TS]++
			}
			for _, u := range []string{"U1", "U2"} {
				if n := len(w.chat.DMs(u)); n != dmsEach {
					t.Errorf("%s DMs %d, want %d", u, n, dmsEach)
				}
			}
			if len(links) != 2*dmsEach {
				t.Errorf("DM threads linked %v, want each of %d DMs once", links, 2*dmsEach)
			}
			for dm, n := range links {
				if n != 1 {
					t.Errorf("DM %s linked %d times, want once", dm, n)
				}
			}
		}
	}
	return []stepRow{
		{name: "a broadcast's DMs go out while GitHub is down (a redelivery sends none again); the issue is filed once after and linked in each DM once",
			step: "broadcast: DM", service: "Slack", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				deliver(t, w, "broadcast", "m-1", false)
				deliver(t, w, "broadcast", "m-1", true)
			},
			during: dmsFirst(1),
			after:  linkedOnce(1, 1)},
		{name: "a broadcast's DMs go out while GitHub fails (the gate not told yet); the issue follows",
			step: "broadcast: DM", service: "Slack", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				w.r.WatchHealth(nil)
				deliver(t, w, "broadcast", "m-1", false)
			},
			during: dmsFirst(1),
			after:  linkedOnce(1, 1)},
		{name: "a broadcast redelivered once GitHub is back, before its file task ran, files once and DMs nobody twice",
			step: "broadcast: file the issue", service: "GitHub", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				deliver(t, w, "broadcast", "m-1", false)
				w.back()
				deliver(t, w, "broadcast", "m-1", true)
				w.outage(ServiceGitHub)
			},
			during: func(t *testing.T, w *world) {},
			after:  linkedOnce(1, 1)},
		{name: "a broadcast's link waits for Slack when it is down once the issue is filed",
			step: "broadcast: link", service: "Slack", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				deliver(t, w, "broadcast", "m-1", false)
				w.back()
				w.outage(ServiceSlack)
				for _, f := range w.tasks.Take(TaskFile) {
					if err := w.r.RunTask(testCtx(t), f); err != nil {
						t.Fatalf("file: %v", err)
					}
				}
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.tasks.Of(TaskLink)); n != 2 {
					t.Errorf("link tasks %d, want one per DM", n)
				}
			},
			after: linkedOnce(1, 1)},
		{name: "two nags and a redelivery while GitHub is down: every DM goes out once; one issue is opened after, linked in each DM once",
			step: "nag: DM", service: "Slack", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				deliver(t, w, "nag", "m-1", false)
				deliver(t, w, "nag", "m-2", false)
				deliver(t, w, "nag", "m-1", true)
			},
			during: dmsFirst(2),
			after:  linkedOnce(1, 2)},
		{name: "a nag while GitHub is down finds the open nag issue after, and links it",
			step: "nag: find the issue", service: "GitHub", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				w.back()
				deliver(t, w, "nag", "m-0", false) // files #1, linked in the DMs themselves
				w.outage(ServiceGitHub)
				deliver(t, w, "nag", "m-1", false)
			},
			during: func(t *testing.T, w *world) {
				for _, u := range []string{"U1", "U2"} {
					if dms := w.chat.DMs(u); len(dms) != 2 || dms[1].Link != nil {
						t.Errorf("%s DMs %+v, want the second without a link", u, dms)
					}
				}
			},
			after: func(t *testing.T, w *world) {
				if got := w.issues.Writes(); len(got) != 1 {
					t.Errorf("GitHub writes %q, want only the first nag's issue", got)
				}
				if th := w.chat.Threads(); len(th) != 2 || th[0].Msg.Link == nil || !strings.Contains(th[0].Msg.Link.Text, "#1") {
					t.Errorf("thread replies %+v, want #1 linked in the second nag's two DMs", th)
				}
			}},
	}
}

// TestEachEffectWaitsOnlyForItsOwnService is the step table of docs/RELIABILITY.md (section 0), one
// row per effect: with one service down, the effect that needs another service happens at once,
// and the effect that needs the one down waits on the queue as its own task and happens, once,
// when it is back.
func TestEachEffectWaitsOnlyForItsOwnService(t *testing.T) {
	alarm := selfService("req-1", "login from a new place", "details", []string{"U1"}, `"escalateAfter":"10m",`)
	published := time.Date(2026, 12, 3, 5, 58, 0, 0, time.UTC) // two minutes before the world's now
	handle := func(t *testing.T, w *world) {
		t.Helper()
		if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: alarm, PublishedAt: published}); err != nil {
			t.Fatalf("Handle: %v", err)
		}
	}
	tests := []stepRow{
		{name: "the prompt goes out while GitHub is down; the issue and its link follow",
			step: "DM the prompt", service: "Slack", down: ServiceGitHub,
			act: handle,
			during: func(t *testing.T, w *world) {
				if dms := w.chat.DMs("U1"); len(dms) != 1 || len(dms[0].Buttons) != 2 || !strings.Contains(dms[0].Note, "GitHub is unavailable") {
					t.Errorf("DMs %+v, want the prompt, saying the issue follows", dms)
				}
				if n := len(w.tasks.Of(TaskEscalate)); n != 1 {
					t.Errorf("escalations scheduled: %d, want 1", n)
				}
			},
			after: func(t *testing.T, w *world) {
				if got := w.issues.Writes(); len(got) != 1 || !strings.HasPrefix(got[0], "create") {
					t.Errorf("GitHub writes %q, want the issue once", got)
				}
				if th := w.chat.Threads(); len(th) != 1 || th[0].Msg.Link == nil {
					t.Errorf("thread replies %+v, want the issue's link", th)
				}
			}},
		{name: "the issue is filed while Slack is down; the prompt follows",
			step: "file the issue", service: "GitHub", down: ServiceSlack,
			act: handle,
			during: func(t *testing.T, w *world) {
				if got := w.issues.Writes(); len(got) != 1 {
					t.Errorf("GitHub writes %q, want the issue", got)
				}
				if n := len(w.tasks.Of(TaskPrompt)); n != 1 {
					t.Errorf("prompt tasks: %d, want 1", n)
				}
			},
			after: func(t *testing.T, w *world) {
				if dms := w.chat.DMs("U1"); len(dms) != 1 || len(dms[0].Buttons) != 2 || dms[0].Link == nil {
					t.Errorf("DMs %+v, want one prompt with the issue's link", dms)
				}
			}},
		{name: "the deadlines count from the alarm's publish time, whatever is down",
			step: "schedule deadlines", service: "SQS", down: ServiceSlack,
			act: handle,
			during: func(t *testing.T, w *world) {
				esc := w.tasks.Of(TaskEscalate)
				if len(esc) != 1 || !esc[0].Deadline.DueAt.Equal(published.Add(10*time.Minute)) || esc[0].Delay != 8*time.Minute {
					t.Fatalf("escalations %+v, want one due 10 min after the publish time, in 8 min", esc)
				}
			},
			after: func(t *testing.T, w *world) {}},
		{name: "the deadline pages while Slack is down, saying the user could not be asked; the late DM says so",
			step: "escalate (deadline)", service: "PagerDuty", down: ServiceSlack,
			act: func(t *testing.T, w *world) {
				handle(t, w)
				w.runDeadline(t, TaskEscalate)
			},
			during: func(t *testing.T, w *world) {
				pages := w.pager.Pages()
				if len(pages) != 1 || !strings.Contains(pages[0].Summary, "Slack was unavailable: U1 could not be asked") {
					t.Errorf("pages %+v, want one saying U1 could not be asked", pages)
				}
				if c := w.comments(1); !strings.Contains(c, "**Escalated**") {
					t.Errorf("issue comments %q, want the escalation", c)
				}
			},
			after: func(t *testing.T, w *world) {
				dms := w.chat.DMs("U1")
				if len(dms) != 1 || len(dms[0].Buttons) != 0 || !strings.Contains(dms[0].Note, "already escalated") {
					t.Errorf("DMs %+v, want one without buttons saying it was already escalated", dms)
				}
				if n := len(w.pager.Pages()); n != 1 {
					t.Errorf("pages %d, want 1", n)
				}
			}},
		{name: "the deadline pages while GitHub is down; the issue records it after",
			step: "escalate (deadline)", service: "PagerDuty", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				handle(t, w)
				w.runDeadline(t, TaskEscalate)
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.pager.Pages()); n != 1 {
					t.Errorf("pages %d, want 1", n)
				}
				if s := w.chat.Settled(); len(s) != 1 || !strings.Contains(s[0], "escalated") {
					t.Errorf("DM settled %q, want escalated", s)
				}
			},
			after: func(t *testing.T, w *world) {
				if c := w.comments(1); strings.Count(c, "**Escalated**") != 1 {
					t.Errorf("issue comments %q, want the escalation once", c)
				}
			}},
		{name: "a reminder Slack can't take is skipped, not queued",
			step: "remind", service: "Slack", down: ServiceSlack,
			act: func(t *testing.T, w *world) {
				w.back()
				if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: "m-1", Body: selfService("req-1", "login", "x", []string{"U1"}, `"remindAfter":"5m","escalateAfter":"10m",`), PublishedAt: published}); err != nil {
					t.Fatal(err)
				}
				w.outage(ServiceSlack)
				w.runDeadline(t, TaskRemind)
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.tasks.Of(TaskRemind)); n != 0 {
					t.Errorf("reminders queued: %d, want 0", n)
				}
			},
			after: func(t *testing.T, w *world) {
				if th := w.chat.Threads(); len(th) != 0 {
					t.Errorf("thread replies %+v, want none: the reminder was skipped", th)
				}
			}},
		{name: "a No pages at once while GitHub is down; the label and comment follow once",
			step: "page (No)", service: "PagerDuty", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				handle(t, w)
				w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.pager.Pages()); n != 1 {
					t.Errorf("pages %d, want 1", n)
				}
				if s := w.chat.Settled(); len(s) != 1 || !strings.Contains(s[0], "You answered *No*") {
					t.Errorf("DM settled %q, want the No", s)
				}
			},
			after: func(t *testing.T, w *world) {
				is, _ := w.issues.Get(testCtx(t), testRepo, 1)
				if !is.HasLabel(LabelEscalated) || strings.Count(w.comments(1), "said this was **not** them") != 1 {
					t.Errorf("issue labels %v, comments %q: want escalated, the answer once", is.Labels, w.comments(1))
				}
			}},
		{name: "a No while PagerDuty is down: recorded, the DM says the page is on its way, the page follows once",
			step: "page (No)", service: "PagerDuty", down: ServicePagerDuty,
			act: func(t *testing.T, w *world) {
				handle(t, w)
				w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.tasks.Of(TaskPage)); n != 1 {
					t.Errorf("page tasks %d, want 1", n)
				}
				if s := w.chat.Settled(); len(s) != 1 || !strings.Contains(s[0], "page is on its way") {
					t.Errorf("DM settled %q, want the page on its way", s)
				}
				if !strings.Contains(w.comments(1), "said this was **not** them") {
					t.Errorf("comments %q, want the answer", w.comments(1))
				}
			},
			after: func(t *testing.T, w *world) {
				if n := len(w.pager.Pages()); n != 1 {
					t.Errorf("pages %d, want 1", n)
				}
				if s := w.chat.Settled(); len(s) != 2 || strings.Contains(s[1], "on its way") || !strings.Contains(s[1], "You answered *No*") {
					t.Errorf("DM settled %q, want it to drop \"on its way\" once paged", s)
				}
			}},
		{name: "a Yes settles the DM at once while GitHub is down; the issue is closed after",
			step: "record (Yes)", service: "GitHub", down: ServiceGitHub,
			act: func(t *testing.T, w *world) {
				w.back()
				handle(t, w) // the issue is filed
				w.outage(ServiceGitHub)
				w.click(t, "U1", ActionYes, w.prompt(t, "U1"))
			},
			during: func(t *testing.T, w *world) {
				if s := w.chat.Settled(); len(s) != 1 || !strings.Contains(s[0], "You answered *Yes*") {
					t.Errorf("DM settled %q, want the Yes", s)
				}
				if n := len(w.tasks.Of(TaskRecord)); n != 1 {
					t.Errorf("record tasks %d, want 1", n)
				}
			},
			after: func(t *testing.T, w *world) {
				if is, _ := w.issues.Get(testCtx(t), testRepo, 1); is.Open {
					t.Error("the issue is still open")
				}
			}},
		{name: "an answer while Slack's Web API is down is recorded; the DM is settled after",
			step: "settle the DM", service: "Slack", down: ServiceSlack,
			act: func(t *testing.T, w *world) {
				w.back()
				handle(t, w)
				w.outage(ServiceSlack)
				w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
			},
			during: func(t *testing.T, w *world) {
				if n := len(w.pager.Pages()); n != 1 || !strings.Contains(w.comments(1), "said this was **not** them") {
					t.Errorf("pages %d, comments %q: want the page and the answer", n, w.comments(1))
				}
			},
			after: func(t *testing.T, w *world) {
				if s := w.chat.Settled(); len(s) != 1 {
					t.Errorf("DM settled %q, want once", s)
				}
			}},
	}
	tests = append(tests, tellRows()...)
	for _, tc := range tests {
		t.Run(tc.step+" needs "+tc.service+": "+tc.name, func(t *testing.T) {
			w := newWorld(t, "U1", "U2")
			w.outage(tc.down)
			tc.act(t, w)
			tc.during(t, w)
			w.back()
			w.runSteps(t)
			tc.after(t, w)
			// The answer's durable copy, when it comes round, finds everything done.
			for _, c := range w.tasks.Take(TaskAnswer) {
				before, pages := len(w.issues.Writes()), len(w.pager.Pages())
				if err := w.r.RunTask(testCtx(t), c); err != nil {
					t.Fatalf("the answer's copy: %v", err)
				}
				if len(w.issues.Writes()) != before || len(w.pager.Pages()) != pages {
					t.Errorf("the answer's copy acted again: writes %q", w.issues.Writes()[before:])
				}
			}
		})
	}
}

// TestAStepFailingForDaysIsGivenUp: a deferred step goes round while its service is down, but not
// past maxRetryAge after its work began; then it is dead-lettered with the reason.
func TestAStepFailingForDaysIsGivenUp(t *testing.T) {
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "login", "x", []string{"U1"}, ""))
	w.outage(ServicePagerDuty)
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	page := w.tasks.Take(TaskPage)
	if len(page) != 1 {
		t.Fatalf("page tasks: %d", len(page))
	}
	if err := w.r.RunTask(testCtx(t), page[0]); err == nil || retry.IsPermanent(err) {
		t.Errorf("PagerDuty down: %v, want a transient error", err)
	}
	w.now = w.now.Add(maxRetryAge + time.Minute)
	if err := w.r.RunTask(testCtx(t), page[0]); !retry.IsPermanent(err) {
		t.Errorf("PagerDuty down for days: %v, want it given up", err)
	}
}

// TestTwoNagsFileOneIssueAfterAnOutage: two nags' file tasks running at once on one replica, once
// GitHub is back, make one issue between them (the second waits for the first, as the nags
// themselves do), not two with one closed as the other's duplicate.
func TestTwoNagsFileOneIssueAfterAnOutage(t *testing.T) {
	w := newWorld(t, "U1", "U2")
	w.outage(ServiceGitHub)
	for _, d := range []string{"m-1", "m-2"} {
		if _, err := w.r.Handle(testCtx(t), Inbound{DeliveryID: d, Body: tellAlarm("nag")}); err != nil {
			t.Fatal(err)
		}
	}
	w.back()
	files := w.tasks.Take(TaskFile)
	if len(files) != 2 {
		t.Fatalf("file tasks %d, want 2", len(files))
	}
	w.issues.creating, w.issues.release = make(chan string, 2), make(chan struct{})
	errs := make(chan error, 2)
	run := func(task Task) { errs <- w.r.RunTask(testCtx(t), task) }
	go run(files[0])
	<-w.issues.creating // the first is creating the issue
	go run(files[1])
	waiting := func() bool { // the second waits for the title's lock
		w.r.locks.mu.Lock()
		defer w.r.locks.mu.Unlock()
		e := w.r.locks.locks[testRepo+"\x00deploy freeze"]
		return e != nil && e.refs == 2
	}
	deadline := time.After(5 * time.Second)
	for !waiting() {
		select {
		case <-w.issues.creating:
			t.Fatal("the second nag's task creates an issue while the first is creating its own")
		case <-deadline:
			t.Fatal("the second nag's task neither waits for the first nor creates")
		case <-time.After(time.Millisecond):
		}
	}
	close(w.issues.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("RunTask: %v", err)
		}
	}
	if got := w.issues.Writes(); len(got) != 1 {
		t.Errorf("GitHub writes %q, want one create", got)
	}
}
