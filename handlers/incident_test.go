package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Escalated and Reopen make the fake GitHub an IncidentIssues.
func (f *fakeIssues) Escalated(context.Context, bool) ([]Issue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Issue
	for _, list := range f.issues {
		for _, is := range list {
			if is != nil && is.HasLabel(LabelEscalated) {
				out = append(out, *is)
			}
		}
	}
	return out, nil
}

func (f *fakeIssues) Reopen(_ context.Context, repo string, number int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, err := f.get(repo, number)
	if err != nil {
		return err
	}
	if err := f.write(fmt.Sprintf("reopen %s#%d", repo, number)); err != nil {
		return err
	}
	is.Open = true
	return nil
}

func (f *fakeIssues) DeleteComment(_ context.Context, repo string, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, list := range f.comments {
		for i, c := range list {
			if c.ID == id {
				f.comments[k] = slices.Delete(list, i, i+1)
				return f.write(fmt.Sprintf("delete comment %s %d", repo, id))
			}
		}
	}
	return nil
}

// barrierIssues holds the first Comments call of each of two callers, once it has read, until both
// have read: two replicas each read the comments before either writes.
type barrierIssues struct {
	*fakeIssues
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrierIssues) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	out, err := b.fakeIssues.Comments(ctx, repo, number) // read, then wait: both read before either writes
	b.mu.Lock()
	rel := b.release
	if rel != nil {
		b.waiting++
		if b.waiting == 2 {
			close(rel)
			b.release = nil
		}
	}
	b.mu.Unlock()
	if rel != nil {
		<-rel
	}
	return out, err
}

// TestTwoReplicasApplyAChangeOnce: two replicas polling PagerDuty see the same resolve at the same
// moment, and both read the issue's comments before either writes: the issue ends with one record
// of it, and the DM is updated by one of them.
func TestTwoReplicasApplyAChangeOnce(t *testing.T) {
	w, key := escalated(t)
	shared := &barrierIssues{fakeIssues: w.issues, release: make(chan struct{})}
	other := NewRouter(w.r.cfg, shared, w.pager, w.chat, w.tasks)
	w.r.issues = shared
	before := len(w.commentsOn(t))
	settled := len(w.chat.settled)
	var wg sync.WaitGroup
	outs := make([]IncidentOutcome, 2)
	for i, r := range []*Router{w.r, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := r.IncidentChanged(testCtx(t), change("L1", key, IncidentResolved, 0))
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if got := w.commentsOn(t)[before:]; len(got) != 1 {
		t.Errorf("%d comments recording the resolve, want 1: %q", len(got), got)
	}
	if !slices.Contains(outs, IncidentApplied) || !slices.Contains(outs, IncidentDuplicate) {
		t.Errorf("outcomes %v, want one applied and one duplicate", outs)
	}
	if n := len(w.chat.settled) - settled; n != 1 {
		t.Errorf("the DM was updated %d times, want 1: %q (outcomes %v)", n, w.chat.settled[settled:], outs)
	}
}

// fakeStates is the REST API's view of incidents, by incident key.
type fakeStates map[string]string

func (s fakeStates) Status(_ context.Context, key string) (IncidentStatus, error) {
	st, ok := s[key]
	return IncidentStatus{Found: ok, Status: st}, nil
}

// escalated makes a world with one self-service alarm to U1 answered No: issue #1 open and
// escalated, one page. It returns the page's dedup key.
func escalated(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t, "U1")
	w.handle(t, selfService("req-1", "Login from a new device", "details", []string{"U1"}, ""))
	w.click(t, "U1", ActionNo, w.prompt(t, "U1"))
	pages := w.pager.Pages()
	if len(pages) != 1 {
		t.Fatalf("pages = %d, want 1", len(pages))
	}
	return w, pages[0].DedupKey
}

func (w *world) commentsOn(t *testing.T) []string {
	t.Helper()
	cs, _ := w.issues.Comments(testCtx(t), testRepo, 1)
	var out []string
	for _, c := range cs {
		out = append(out, c.Body)
	}
	return out
}

var t0 = time.Date(2026, 12, 3, 6, 10, 0, 0, time.UTC)

func change(id, key, kind string, at time.Duration) IncidentChange {
	return IncidentChange{ID: id, Incident: "PINC001", Key: key, Kind: kind, By: "Alice Oncall", At: t0.Add(at), URL: "https://acme.pagerduty.com/incidents/PINC001"}
}

// TestIncidentChanges is one row per change of the incident an escalation raised: what it does to
// the issue and the DM, applied in order.
func TestIncidentChanges(t *testing.T) {
	tests := []struct {
		name    string
		changes func(key string) []IncidentChange
		states  fakeStates // nil: no REST token
		want    []IncidentOutcome
		open    bool     // the issue's state at the end
		comment []string // substrings of the comments dispatch wrote after the escalation, in order
		settled string   // the DM's last live state ("" for unchanged)
		thread  int      // thread replies about the incident
	}{
		{name: "acknowledged comments and adds a line to the DM's thread",
			changes: func(k string) []IncidentChange { return []IncidentChange{change("L1", k, IncidentAcknowledged, 0)} },
			want:    []IncidentOutcome{IncidentApplied}, open: true,
			comment: []string{"**Acknowledged** in PagerDuty by Alice Oncall"}, settled: "acknowledged in PagerDuty by Alice Oncall", thread: 1},
		{name: "resolved comments with the note, closes the issue and settles the DM",
			changes: func(k string) []IncidentChange {
				c := change("L2", k, IncidentResolved, 0)
				c.Note = "false alarm, new laptop"
				return []IncidentChange{c}
			},
			want: []IncidentOutcome{IncidentApplied}, open: false,
			comment: []string{"**Resolved** in PagerDuty by Alice Oncall at 2026-12-03T06:10:00Z ([incident PINC001](https://acme.pagerduty.com/incidents/PINC001)); closing.\n\nResolution note: false alarm, new laptop"}, settled: "Resolved in PagerDuty by Alice Oncall"},
		{name: "reassigned comments",
			changes: func(k string) []IncidentChange {
				c := change("L3", k, IncidentReassigned, 0)
				c.To = "Bob Backup"
				return []IncidentChange{c}
			},
			want: []IncidentOutcome{IncidentApplied}, open: true, comment: []string{"**Reassigned** in PagerDuty to Bob Backup"}, settled: "reassigned in PagerDuty to Bob Backup"},
		{name: "escalated comments",
			changes: func(k string) []IncidentChange {
				c := change("L4", k, IncidentEscalated, 0)
				c.To = "Level 2"
				return []IncidentChange{c}
			},
			want: []IncidentOutcome{IncidentApplied}, open: true, comment: []string{"**Escalated** in PagerDuty to Level 2"}, settled: "escalated in PagerDuty to Level 2"},
		{name: "re-triggered after resolve reopens the issue",
			changes: func(k string) []IncidentChange {
				return []IncidentChange{change("L5", k, IncidentResolved, 0), change("L6", k, IncidentTriggered, time.Minute)}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentApplied}, open: true,
			comment: []string{"**Resolved**", "**Re-triggered** in PagerDuty"}, settled: "triggered again"},
		{name: "the opening trigger (dispatch's own page) changes nothing",
			changes: func(k string) []IncidentChange { return []IncidentChange{change("L0", k, IncidentTriggered, 0)} },
			want:    []IncidentOutcome{IncidentIgnored}, open: true},
		{name: "a change seen twice is applied once",
			changes: func(k string) []IncidentChange {
				return []IncidentChange{change("L7", k, IncidentResolved, 0), change("L7", k, IncidentResolved, 0)}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentDuplicate}, open: false, comment: []string{"**Resolved**"}, settled: "Resolved in PagerDuty"},
		{name: "an acknowledgement arriving after the resolve is dropped: the issue stays closed",
			changes: func(k string) []IncidentChange {
				return []IncidentChange{change("L9", k, IncidentResolved, time.Minute), change("L8", k, IncidentAcknowledged, 0)}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentStale}, open: false, comment: []string{"**Resolved**"}, settled: "Resolved in PagerDuty"},
		{name: "a stale trigger after a resolve does not reopen",
			changes: func(k string) []IncidentChange {
				return []IncidentChange{change("L11", k, IncidentResolved, time.Minute), change("L10", k, IncidentTriggered, 0)}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentStale}, open: false, comment: []string{"**Resolved**"}, settled: "Resolved"},
		{name: "the opening trigger replayed after the resolve, in the same second, does not reopen",
			changes: func(k string) []IncidentChange {
				return []IncidentChange{change("L20", k, IncidentResolved, 0), change("L19", k, IncidentTriggered, 0)}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentStale}, open: false, comment: []string{"**Resolved**"}, settled: "Resolved"},
		{name: "a new incident with the key, in the same second as the resolve, reopens",
			changes: func(k string) []IncidentChange {
				again := change("L22", k, IncidentTriggered, 0)
				again.Incident = "PINC002"
				return []IncidentChange{change("L21", k, IncidentResolved, 0), again}
			},
			want: []IncidentOutcome{IncidentApplied, IncidentApplied}, open: true, comment: []string{"**Resolved**", "**Re-triggered**"}, settled: "triggered again"},
		{name: "an incident dispatch did not raise changes nothing",
			changes: func(string) []IncidentChange {
				return []IncidentChange{change("L12", "someone-elses-key", IncidentResolved, 0), change("L13", dedupKey(keyEscalation, "other", "U9"), IncidentResolved, 0)}
			},
			want: []IncidentOutcome{IncidentForeign, IncidentForeign}, open: true},
		{name: "a high-priority alarm's incident has no issue to follow",
			changes: func(string) []IncidentChange {
				return []IncidentChange{change("L14", dedupKey(keyHighPriority, "req-9"), IncidentResolved, 0)}
			},
			want: []IncidentOutcome{IncidentNoIssue}, open: true},
		{name: "with a REST token, a resolve PagerDuty does not confirm closes nothing",
			changes: func(k string) []IncidentChange { return []IncidentChange{change("L15", k, IncidentResolved, 0)} },
			states:  fakeStates{}, want: []IncidentOutcome{IncidentUnconfirmed}, open: true},
		{name: "with a REST token, a resolve PagerDuty shows open closes nothing",
			changes: func(k string) []IncidentChange { return []IncidentChange{change("L16", k, IncidentResolved, 0)} },
			states:  fakeStates{"KEY": IncidentAcknowledged}, want: []IncidentOutcome{IncidentUnconfirmed}, open: true},
		{name: "with a REST token, a confirmed resolve closes the issue",
			changes: func(k string) []IncidentChange { return []IncidentChange{change("L17", k, IncidentResolved, 0)} },
			states:  fakeStates{"KEY": IncidentResolved}, want: []IncidentOutcome{IncidentApplied}, open: false, comment: []string{"**Resolved**"}, settled: "Resolved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, key := escalated(t)
			if tt.states != nil {
				if st, ok := tt.states["KEY"]; ok {
					tt.states = fakeStates{key: st}
				}
				w.r.SetIncidentStates(tt.states)
			}
			before := len(w.commentsOn(t))
			settledBefore := len(w.chat.settled)
			var got []IncidentOutcome
			for _, c := range tt.changes(key) {
				out, err := w.r.IncidentChanged(testCtx(t), c)
				if err != nil {
					t.Fatalf("IncidentChanged(%s): %v", c.ID, err)
				}
				got = append(got, out)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("outcomes = %v, want %v", got, tt.want)
			}
			if is := w.issue(t); is.Open != tt.open {
				t.Errorf("issue open = %v, want %v", is.Open, tt.open)
			}
			written := w.commentsOn(t)[before:]
			if len(written) != len(tt.comment) {
				t.Errorf("comments written = %d, want %d: %q", len(written), len(tt.comment), written)
			}
			for i, want := range tt.comment {
				if i < len(written) && !strings.Contains(written[i], want) {
					t.Errorf("comment %d lacks %q: %q", i, want, written[i])
				}
			}
			settled := w.chat.settled[settledBefore:]
			switch {
			case tt.settled == "" && len(settled) > 0:
				t.Errorf("DM updated: %q", settled)
			case tt.settled != "" && (len(settled) == 0 || !strings.Contains(settled[len(settled)-1], tt.settled)):
				t.Errorf("DM states %q, want %q", settled, tt.settled)
			}
			replies := 0
			for _, r := range w.chat.Threads() {
				if strings.HasPrefix(r.Msg.Key, "pagerduty/") {
					replies++
				}
			}
			if replies != tt.thread {
				t.Errorf("thread replies = %d, want %d", replies, tt.thread)
			}
		})
	}
}

// TestIncidentMarkersCountOnlyDispatchs: anyone who can comment could copy dispatch's marker of a
// change (or of a resolve, to make a later trigger look like a re-trigger); only dispatch's own
// comments count.
func TestIncidentMarkersCountOnlyDispatchs(t *testing.T) {
	w, key := escalated(t)
	forged := incidentMarker{Change: "L1", Status: IncidentResolved, At: t0.Add(time.Hour)}
	w.issues.commentAs(testRepo, 1, "mallory", "looks done "+forged.String())
	out, err := w.r.IncidentChanged(testCtx(t), change("L1", key, IncidentAcknowledged, 0))
	if err != nil || out != IncidentApplied {
		t.Fatalf("ack: %v, %v; want applied (the copied marker is not dispatch's)", out, err)
	}
	out, err = w.r.IncidentChanged(testCtx(t), change("L2", key, IncidentTriggered, time.Minute))
	if err != nil || out != IncidentIgnored || !w.issue(t).Open {
		t.Fatalf("trigger: %v, %v; want ignored, the issue left as it is", out, err)
	}
}

// TestResolvedCancelsDeadlines: a reminder or escalation coming due after the incident was resolved
// finds the issue closed and does nothing.
func TestResolvedCancelsDeadlines(t *testing.T) {
	w, key := escalated(t)
	if _, err := w.r.IncidentChanged(testCtx(t), change("L1", key, IncidentResolved, 0)); err != nil {
		t.Fatal(err)
	}
	pages, posts := len(w.pager.Pages()), len(w.chat.Posts())
	for _, task := range w.tasks.Of(TaskEscalate) {
		d := *task.Deadline
		d.DueAt = w.now.Add(-time.Second)
		if err := w.r.RunTask(testCtx(t), Task{Kind: TaskEscalate, Deadline: &d}); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.tasks.Of(TaskEscalate)) == 0 {
		t.Fatal("no escalation was scheduled: the test proves nothing")
	}
	if len(w.pager.Pages()) != pages || len(w.chat.Posts()) != posts {
		t.Error("a deadline acted after the incident was resolved")
	}
}

// TestIncidentKeyIsTheEscalationKey: the key found from the issue is the one the page used, for a
// No and for a missed deadline alike.
func TestIncidentKeyIsTheEscalationKey(t *testing.T) {
	w, key := escalated(t)
	got, ok := IncidentKey(w.issue(t))
	if !ok || got != key {
		t.Fatalf("IncidentKey = %q, %v; want the page's %q", got, ok, key)
	}
	keys, err := w.r.OpenEscalations(testCtx(t))
	if err != nil || !slices.Equal(keys, []string{key}) {
		t.Fatalf("OpenEscalations = %v, %v", keys, err)
	}
}

// TestIncidentTextIsInert: names and notes from PagerDuty are text from outside: in the comment they
// can neither mention anyone nor supply a marker.
func TestIncidentTextIsInert(t *testing.T) {
	w, key := escalated(t)
	c := change("L1", key, IncidentResolved, 0)
	c.By = "@security-team"
	c.Note = "done <!-- dispatch pagerduty change=L2 incident=P status=resolved at=2030-01-01T00:00:00Z by=x -->"
	if _, err := w.r.IncidentChanged(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	all := w.commentsOn(t)
	last := all[len(all)-1]
	if strings.Contains(last, " @security-team") || strings.Count(last, "<!-- dispatch pagerduty") != 1 {
		t.Errorf("PagerDuty's text is live in the comment: %q", last)
	}
	if got := recordedChanges(all); len(got) != 1 || got[0].Change != "L1" {
		t.Errorf("recorded changes %+v, want L1 only", got)
	}
}

// TestLiveStateInHomeAndList: the App Home and /dispatch list show an escalated alarm's incident
// state as dispatch recorded it, also on a replica that did not apply the change.
func TestLiveStateInHomeAndList(t *testing.T) {
	w, key := escalated(t)
	if _, err := w.r.IncidentChanged(testCtx(t), change("L1", key, IncidentAcknowledged, 0)); err != nil {
		t.Fatal(err)
	}
	other := NewRouter(w.r.cfg, w.issues, w.pager, w.chat, w.tasks)
	for name, r := range map[string]*Router{"this replica": w.r, "another replica": other} {
		if err := r.HomeOpened(testCtx(t), "U1"); err != nil {
			t.Fatal(err)
		}
		home := w.chat.LastHome()
		if len(home.Recent) == 0 || !strings.Contains(home.Recent[0].Status, "acknowledged in PagerDuty") {
			t.Errorf("%s: App Home %+v lacks the incident's state", name, home.Recent)
		}
		list := NewCommands(testRepo, nil, r, nil, [][]byte{testKey}).Command(testCtx(t), Command{UserID: "U1", Text: "list"})
		if !strings.Contains(list.Text, "escalated to PagerDuty; acknowledged in PagerDuty") {
			t.Errorf("%s: /dispatch list lacks the incident's state:\n%s", name, list.Text)
		}
	}
}

// TestAnIncidentChangeWaitsOnlyForItsOwnService: a change's GitHub step (the comment, the close)
// and its Slack step (the DM) each wait only for their own service (docs/RELIABILITY.md, section
// 0), as tasks of their own, and happen once when it is back, a redelivery included.
func TestAnIncidentChangeWaitsOnlyForItsOwnService(t *testing.T) {
	resolvedDM := func(w *world) int {
		n := 0
		for _, s := range w.chat.Settled() {
			if strings.Contains(s, "Resolved in PagerDuty by Alice Oncall") {
				n++
			}
		}
		return n
	}
	acks := func(w *world) int {
		n := 0
		for _, r := range w.chat.Threads() {
			if strings.HasPrefix(r.Msg.Key, "pagerduty/") {
				n++
			}
		}
		return n
	}
	records := func(t *testing.T, w *world, s string) int {
		n := 0
		for _, c := range w.commentsOn(t) {
			if strings.Contains(c, s) {
				n++
			}
		}
		return n
	}
	redeliver := func(t *testing.T, w *world, tasks []Task) {
		t.Helper()
		for _, task := range tasks {
			if err := w.r.RunTask(testCtx(t), task); err != nil {
				t.Fatalf("redelivered %s: %v", task.Kind, err)
			}
		}
	}
	t.Run("Slack down: the issue is commented and closed at once, the DM follows once", func(t *testing.T) {
		w, key := escalated(t)
		w.outage(ServiceSlack)
		for _, c := range []IncidentChange{change("L1", key, IncidentAcknowledged, 0), change("L2", key, IncidentResolved, time.Minute)} {
			if out, err := w.r.IncidentChanged(testCtx(t), c); err != nil || out != IncidentApplied {
				t.Fatalf("IncidentChanged(%s) = %v, %v; want applied while Slack is down", c.ID, out, err)
			}
		}
		if w.issue(t).Open || records(t, w, "**Resolved**") != 1 || records(t, w, "**Acknowledged**") != 1 {
			t.Fatalf("with Slack down the issue is open=%v, comments %q: want it closed, both recorded", w.issue(t).Open, w.commentsOn(t))
		}
		settles := w.tasks.Of(TaskSettle)
		if len(settles) != 2 || resolvedDM(w) != 0 {
			t.Fatalf("settle tasks %d, want 2 (the DM waits for Slack)", len(settles))
		}
		w.back()
		// The queue keeps no order: the resolve's DM step comes round before the acknowledgement's.
		slices.Reverse(w.tasks.tasks)
		w.runSteps(t)
		slices.Reverse(settles)
		redeliver(t, w, settles) // and again, in the same order
		if s := w.chat.Settled(); len(s) == 0 || !strings.Contains(s[len(s)-1], "Resolved in PagerDuty") || acks(w) != 1 {
			t.Errorf("the DM shows %q with %d acknowledgement lines, want it resolved, with one", s, acks(w))
		}
		if records(t, w, "**Resolved**") != 1 {
			t.Error("the DM's steps wrote on the issue again")
		}
	})
	t.Run("GitHub down: the DM shows the state at once, the issue follows once", func(t *testing.T) {
		w, key := escalated(t)
		w.outage(ServiceGitHub)
		out, err := w.r.IncidentChanged(testCtx(t), change("L2", key, IncidentResolved, 0))
		if err != nil || out != IncidentDeferred {
			t.Fatalf("IncidentChanged = %v, %v; want deferred while GitHub is down", out, err)
		}
		if resolvedDM(w) != 1 {
			t.Errorf("with GitHub down the DM shows %q, want it resolved at once", w.chat.Settled())
		}
		recs := w.tasks.Of(TaskRecord)
		if len(recs) != 1 || recs[0].Service() != ServiceGitHub {
			t.Fatalf("record tasks %+v, want one, admitted by GitHub", recs)
		}
		w.back()
		if !w.issue(t).Open {
			t.Fatal("the issue closed while GitHub was down")
		}
		w.runSteps(t)
		redeliver(t, w, recs)
		if w.issue(t).Open || records(t, w, "**Resolved**") != 1 {
			t.Errorf("after GitHub is back the issue is open=%v, comments %q: want it closed, the resolve recorded once", w.issue(t).Open, w.commentsOn(t))
		}
	})
	t.Run("GitHub down: a resolve PagerDuty does not confirm shows nothing and closes nothing", func(t *testing.T) {
		w, key := escalated(t)
		w.r.SetIncidentStates(fakeStates{key: IncidentTriggered})
		w.outage(ServiceGitHub)
		if _, err := w.r.IncidentChanged(testCtx(t), change("L2", key, IncidentResolved, 0)); err != nil {
			t.Fatal(err)
		}
		w.back()
		w.runSteps(t)
		if resolvedDM(w) != 0 || !w.issue(t).Open || records(t, w, "**Resolved**") != 0 {
			t.Errorf("a forged resolve: DM %q, issue open=%v, comments %q", w.chat.Settled(), w.issue(t).Open, w.commentsOn(t))
		}
	})
}
