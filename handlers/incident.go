package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/retry"
)

// What happened to a PagerDuty incident (IncidentChange.Kind).
const (
	IncidentTriggered    = "triggered" // opened, or opened again after a resolve
	IncidentAcknowledged = "acknowledged"
	IncidentResolved     = "resolved"
	IncidentReassigned   = "reassigned"
	IncidentEscalated    = "escalated"
)

// IncidentChange is one change of a PagerDuty incident, read from the events queue (EventBridge) or
// found by polling the REST API. It is input: nothing in it is trusted beyond what it names.
type IncidentChange struct {
	// ID is the change's own id (the log entry's, or the webhook event's): what makes it once.
	ID       string
	Incident string    // the incident's id, "PXXXXXX"
	Key      string    // its incident_key: the dedup key dispatch paged with
	Kind     string    // one of the Incident* kinds
	By       string    // who did it (the agent's name), "" when PagerDuty itself did
	To       string    // a reassignment's or escalation's new assignee
	Note     string    // a resolution's note
	At       time.Time // when it happened in PagerDuty: orders changes delivered out of order
	URL      string    // the incident's page
}

// IncidentOutcome says what IncidentChanged did with a change, for logs and metrics.
type IncidentOutcome string

// The outcomes of IncidentChanged.
const (
	IncidentApplied     IncidentOutcome = "applied"     // written to the issue and the DM
	IncidentDuplicate   IncidentOutcome = "duplicate"   // seen before (a redelivery, a replay, another replica)
	IncidentStale       IncidentOutcome = "stale"       // older than a change already recorded
	IncidentForeign     IncidentOutcome = "foreign"     // not an incident dispatch raised
	IncidentNoIssue     IncidentOutcome = "no_issue"    // dispatch's, but a high-priority alarm's: no issue to follow
	IncidentUnconfirmed IncidentOutcome = "unconfirmed" // the REST API does not show the incident in that state
	IncidentIgnored     IncidentOutcome = "ignored"     // nothing to do (the opening trigger dispatch made itself)
	IncidentDeferred    IncidentOutcome = "deferred"    // GitHub is down or failing: the issue follows as a record task
)

// IncidentStatus is an incident's state as PagerDuty's REST API reports it.
type IncidentStatus struct {
	Found  bool
	Status string // triggered, acknowledged or resolved
}

// IncidentStates reads incidents from PagerDuty's REST API (PAGERDUTY_API_TOKEN): IncidentChanged asks
// it before acting, so that a forged or stale event closes nothing.
type IncidentStates interface {
	// Status returns the newest incident whose incident_key is key.
	Status(ctx context.Context, key string) (IncidentStatus, error)
}

// IncidentIssues is what following incidents needs of GitHub beyond Issues; githubapi implements it
// from its index of dispatch's issues.
type IncidentIssues interface {
	// Escalated lists dispatch's issues that carry LabelEscalated, open and closed (their Body may
	// hold only dispatch's marker). fresh asks for GitHub's state now, not as of the last refresh:
	// another replica may have escalated an issue a moment ago.
	Escalated(ctx context.Context, fresh bool) ([]Issue, error)
	// Reopen opens a closed issue again.
	Reopen(ctx context.Context, repo string, number int) error
	// DeleteComment deletes one of dispatch's own comments; one already gone is no error.
	DeleteComment(ctx context.Context, repo string, id int64) error
}

// SetIncidentStates makes IncidentChanged confirm each change with the REST API before writing.
func (r *Router) SetIncidentStates(s IncidentStates) { r.states = s }

// IncidentKey is the dedup key dispatch paged with for an issue's escalation: the one function that
// ties an incident to its issue, read from the marker dispatch wrote on its own issue.
func IncidentKey(is Issue) (string, bool) {
	mk, ok := findMarker(is.Body)
	if !ok || mk.Slack == "" {
		return "", false
	}
	return escalationKey(Ticket{Alarm: mk.Alarm, User: mk.Slack, Key: mk.User, Repo: is.Repo, Title: is.Title}), true
}

// incidentIssue finds the dispatch issue whose escalation paged with key, among dispatch's own
// escalated issues.
// An escalation key missing from what this replica knew is looked for again in GitHub's state
// now: another replica may have escalated the issue since the last refresh.
func (r *Router) incidentIssue(ctx context.Context, key string) (Issue, bool, error) {
	ii, ok := r.issues.(IncidentIssues)
	if !ok {
		return Issue{}, false, nil
	}
	for _, fresh := range []bool{false, true} {
		if fresh && !strings.HasPrefix(key, "dispatch:"+keyEscalation+":") {
			break
		}
		list, err := ii.Escalated(ctx, fresh)
		if err != nil {
			return Issue{}, false, fmt.Errorf("list escalated issues: %w", err)
		}
		list, err = r.ownIssues(ctx, list)
		if err != nil {
			return Issue{}, false, err
		}
		for _, is := range list {
			if k, ok := IncidentKey(is); ok && k == key && is.HasLabel(LabelDispatch) {
				return is, true, nil
			}
		}
	}
	return Issue{}, false, nil
}

// OpenEscalations lists the dedup keys of dispatch's escalated issues still open: the incidents
// polling follows. It looks at GitHub's state now (a conditional listing per repository, usually a
// 304), so an escalation another replica made is polled from the next round.
func (r *Router) OpenEscalations(ctx context.Context) ([]string, error) {
	ii, ok := r.issues.(IncidentIssues)
	if !ok {
		return nil, nil
	}
	list, err := ii.Escalated(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("list escalated issues: %w", err)
	}
	list, err = r.ownIssues(ctx, list)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, is := range list {
		if k, ok := IncidentKey(is); ok && is.Open {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// incidentMarker records a change on the issue: its id makes it once, its status and time order
// later changes against it.
type incidentMarker struct {
	Change, Incident, Status string
	At                       time.Time
	Writer                   string // a random id of the write: which of two replicas' copies survived
}

var incidentMarkerPattern = regexp.MustCompile(`<!-- dispatch pagerduty change=(\S+) incident=(\S*) status=(\S*) at=(\S+)(?: by=(\S+))? -->`)

func (m incidentMarker) String() string {
	return "<!-- dispatch pagerduty change=" + url.QueryEscape(m.Change) + " incident=" + url.QueryEscape(m.Incident) +
		" status=" + m.Status + " at=" + m.At.UTC().Format(time.RFC3339Nano) + " by=" + m.Writer + " -->"
}

// recordedChanges reads the incident markers of dispatch's own comments, oldest first.
func recordedChanges(comments []string) []incidentMarker {
	var out []incidentMarker
	for _, c := range comments {
		for _, m := range incidentMarkerPattern.FindAllStringSubmatch(c, -1) {
			id, err := url.QueryUnescape(m[1])
			inc, ierr := url.QueryUnescape(m[2])
			at, terr := time.Parse(time.RFC3339Nano, m[4])
			if err == nil && ierr == nil && terr == nil {
				out = append(out, incidentMarker{Change: id, Incident: inc, Status: m[3], At: at, Writer: m[5]})
			}
		}
	}
	return out
}

// statusOf is the incident status a change leaves behind, "" for one that leaves it as it was.
func statusOf(kind string) string {
	switch kind {
	case IncidentTriggered, IncidentAcknowledged, IncidentResolved:
		return kind
	}
	return ""
}

// IncidentChanged carries a change of a PagerDuty incident to the audit trail and the DM, once, as
// two steps that each wait only for their own service (docs/RELIABILITY.md, section 0): a comment
// on the alarm's issue (closing it on resolve, reopening it on a trigger after a resolve: record,
// GitHub), then the DM's live state (settle, Slack). Only incidents dispatch raised are followed,
// found by the dedup key dispatch wrote on its own issue; a change seen before, or older than one
// already recorded, is dropped. With IncidentStates set, a change that would close or reopen the
// issue is first confirmed with the REST API. A step whose service is down or failing goes on the
// alarm queue as its own task; while GitHub can't be written, an acknowledgement or a resolve
// (confirmed first, when IncidentStates is set) is shown in the DM at once. A nil error means the
// change is done with or deferred; an error is transient (the message comes round again) unless
// retry.IsPermanent.
func (r *Router) IncidentChanged(ctx context.Context, ch IncidentChange) (IncidentOutcome, error) {
	log := zerolog.Ctx(ctx).With().Str("incident", ch.Incident).Str("change", ch.ID).Str("kind", ch.Kind).Logger()
	ctx = log.WithContext(ctx)
	if ch.ID == "" || ch.Key == "" || ch.At.IsZero() {
		return "", retry.Permanent(errors.New("incident change without an id, an incident key or a time"))
	}
	if !strings.HasPrefix(ch.Key, "dispatch:") {
		return IncidentForeign, nil
	}
	is, found, err := r.incidentIssue(ctx, ch.Key)
	if err != nil {
		return "", err
	}
	if !found {
		if strings.HasPrefix(ch.Key, "dispatch:"+keyHighPriority+":") || strings.HasPrefix(ch.Key, "dispatch:"+keyHighTitle+":") {
			return IncidentNoIssue, nil
		}
		return IncidentForeign, nil
	}
	mk, _ := findMarker(is.Body)
	t := Ticket{Alarm: mk.Alarm, User: mk.Slack, Key: mk.User, Repo: is.Repo, Issue: is.Number}
	log = log.With().Str("alarm_id", t.Alarm).Str("user", t.User).Int("issue", is.Number).Logger()
	ctx = log.WithContext(ctx)
	unlock := r.locks.Lock(answerLock(t))
	defer unlock()

	var out IncidentOutcome
	var show, settle bool
	deferred, err := r.step(ctx, ServiceGitHub, Task{Kind: TaskRecord, Delay: stepRetryDelay, Record: &RecordTask{Ticket: t, At: ch.At, Change: &ch}},
		func(ctx context.Context) (err error) {
			out, show, settle, err = r.recordChange(ctx, is, t, ch)
			return err
		})
	switch {
	case err != nil:
		return "", err
	case deferred:
		// GitHub can't tell now whether the change is new, nor what went before it: an
		// acknowledgement or a resolve (the events queue hands them in order) is shown at once.
		// Its record task then shows the DM again (the same text) or leaves it.
		if ch.Kind != IncidentAcknowledged && ch.Kind != IncidentResolved {
			return IncidentDeferred, nil
		}
		if ok, err := r.confirmed(ctx, ch); err != nil || !ok {
			log.Info().Err(err).Msg("incident change not confirmed yet: the DM waits for its record")
			return IncidentDeferred, nil
		}
		show, settle, out = true, true, IncidentDeferred
	}
	if show {
		if err := r.incidentDM(ctx, t, ch, settle); err != nil {
			return "", err
		}
	}
	return out, nil
}

// confirmed reports whether the REST API bears the change out (true without IncidentStates).
func (r *Router) confirmed(ctx context.Context, ch IncidentChange) (bool, error) {
	status := statusOf(ch.Kind)
	if r.states == nil || status == "" {
		return true, nil
	}
	st, err := r.states.Status(ctx, ch.Key)
	if err != nil {
		return false, fmt.Errorf("confirm incident with the REST API: %w", err)
	}
	if !st.Found || !confirms(status, st.Status) {
		zerolog.Ctx(ctx).Warn().Str("rest_status", st.Status).Bool("found", st.Found).Msg("incident change not confirmed by the REST API: nothing written")
		return false, nil
	}
	return true, nil
}

// recordChange is a change's GitHub step: the comment whose marker names the change (after the
// close or the reopen it records), once. It says what it did, and whether the DM is to show the
// change (show) and replace its state with it (settle): a change seen before is shown again (Slack
// may have failed after the comment), unless a newer state has replaced it.
func (r *Router) recordChange(ctx context.Context, is Issue, t Ticket, ch IncidentChange) (out IncidentOutcome, show, settle bool, err error) {
	log := zerolog.Ctx(ctx)
	comments, err := r.ownComments(ctx, is.Repo, is.Number)
	if err != nil {
		return "", false, false, err
	}
	recorded := recordedChanges(comments)
	last := newestStatus(recorded) // the newest recorded status change
	if slices.ContainsFunc(recorded, func(m incidentMarker) bool { return m.Change == ch.ID }) {
		return IncidentDuplicate, true, last.Change == ch.ID, nil
	}
	status := statusOf(ch.Kind)
	// PagerDuty's times are whole seconds, so changes within one second are told apart by what can
	// follow what: nothing acknowledges a resolved incident (it is triggered first), and the trigger
	// of the very incident that was resolved is its opening one.
	sameSecond := !last.At.IsZero() && !ch.At.After(last.At) && last.Status == IncidentResolved &&
		(ch.Kind == IncidentAcknowledged || (ch.Kind == IncidentTriggered && ch.Incident == last.Incident))
	if status != "" && !last.At.IsZero() && (ch.At.Before(last.At) || sameSecond) {
		log.Info().Str("recorded", last.Status).Msg("incident change older than the state already recorded: dropped")
		return IncidentStale, false, false, nil
	}
	if ch.Kind == IncidentTriggered && last.Status != IncidentResolved {
		return IncidentIgnored, false, false, nil // the incident dispatch opened itself, or a trigger joining it
	}
	if ok, err := r.confirmed(ctx, ch); err != nil {
		return "", false, false, err
	} else if !ok {
		return IncidentUnconfirmed, false, false, nil
	}

	ii := r.issues.(IncidentIssues) // incidentIssue found it through this
	switch ch.Kind {
	case IncidentResolved:
		if is.Open {
			if err := r.issues.Close(ctx, is.Repo, is.Number); err != nil {
				return "", false, false, fmt.Errorf("close issue: %w", err)
			}
		}
	case IncidentTriggered:
		if !is.Open {
			if err := ii.Reopen(ctx, is.Repo, is.Number); err != nil {
				return "", false, false, fmt.Errorf("reopen issue: %w", err)
			}
		}
	}
	mark := incidentMarker{Change: ch.ID, Incident: ch.Incident, Status: status, At: ch.At, Writer: writerID()}
	if err := r.issues.Comment(ctx, is.Repo, is.Number, incidentComment(ch)+"\n\n"+mark.String()); err != nil {
		return "", false, false, fmt.Errorf("comment: %w", err)
	}
	if kept, err := r.keepOne(ctx, ii, is, ch.ID); err != nil {
		return "", false, false, err
	} else if kept != mark.Writer {
		// Another replica wrote the same change at the same moment (polling): its copy stays,
		// and so does its DM update.
		log.Info().Msg("incident change recorded by another replica at the same time: its comment kept")
		return IncidentDuplicate, false, false, nil
	}
	log.Info().Msg("incident change recorded on the issue")
	r.noteIncidentStatus(is, status)
	r.home.forget(t.User)
	return IncidentApplied, true, status != "" || last.Status != IncidentResolved, nil
}

// runChange is the deferred form of a change's GitHub step (a record task), then its DM step.
func (r *Router) runChange(ctx context.Context, rec *RecordTask) error {
	ch, t := *rec.Change, rec.Ticket
	log := zerolog.Ctx(ctx).With().Str("incident", ch.Incident).Str("change", ch.ID).Str("kind", ch.Kind).Int("issue", t.Issue).Logger()
	ctx = log.WithContext(ctx)
	is, err := r.issues.Get(ctx, t.Repo, t.Issue)
	if err != nil {
		return fmt.Errorf("get issue: %w", err)
	}
	out, show, settle, err := r.recordChange(ctx, is, t, ch)
	if err != nil {
		return err
	}
	log.Info().Str("outcome", string(out)).Msg("incident change recorded after GitHub answered again")
	if !show {
		return nil
	}
	return r.incidentDM(ctx, t, ch, settle)
}

// newestStatus is the newest of recorded that changed the incident's status (zero: none).
func newestStatus(recorded []incidentMarker) incidentMarker {
	var last incidentMarker
	for _, m := range recorded {
		if m.Status != "" && !m.At.Before(last.At) {
			last = m
		}
	}
	return last
}

// keepOne makes a change recorded once on the issue when two replicas wrote it at the same moment
// (each read the comments before the other wrote): of dispatch's comments recording the change, the
// first (lowest id) is kept and the others are deleted, whichever replica looks. It returns the
// writer of the one kept.
func (r *Router) keepOne(ctx context.Context, ii IncidentIssues, is Issue, change string) (string, error) {
	comments, err := r.issues.Comments(ctx, is.Repo, is.Number)
	if err != nil {
		return "", fmt.Errorf("list comments: %w", err)
	}
	var copies []Comment
	var writers []string
	for _, c := range comments {
		for _, m := range recordedChanges([]string{c.Body}) {
			if m.Change != change {
				continue
			}
			if ok, err := r.ours(ctx, c.Author); err != nil {
				return "", err
			} else if ok {
				copies = append(copies, c)
				writers = append(writers, m.Writer)
			}
		}
	}
	if len(copies) == 0 {
		return "", nil
	}
	first := 0
	for i, c := range copies {
		if c.ID < copies[first].ID {
			first = i
		}
	}
	for i, c := range copies {
		if i != first {
			if err := ii.DeleteComment(ctx, is.Repo, c.ID); err != nil {
				return "", fmt.Errorf("delete a duplicate comment: %w", err)
			}
		}
	}
	return writers[first], nil
}

// writerID names one write of a change's comment.
func writerID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// confirms reports whether the REST API's status of an incident bears out a change to status: a
// resolve needs it resolved, a re-trigger open, an acknowledgement acknowledged or since resolved.
func confirms(status, rest string) bool {
	switch status {
	case IncidentResolved:
		return rest == IncidentResolved
	case IncidentTriggered:
		return rest == IncidentTriggered || rest == IncidentAcknowledged
	case IncidentAcknowledged:
		return rest == IncidentAcknowledged || rest == IncidentResolved
	}
	return true
}

// incidentDM is a change's DM step: an acknowledgement as a line in the DM's thread, and, when
// settle, the incident's live state in place (chat.update). Both are idempotent (the same text; the
// reply's key), so a change seen again repairs a DM an earlier try could not update. While Slack
// is down or failing it waits on the queue as a settle task.
func (r *Router) incidentDM(ctx context.Context, t Ticket, ch IncidentChange, settle bool) error {
	state := incidentState(ch)
	if state == "" {
		return nil
	}
	s := SettleTask{Ticket: t, At: ch.At, Change: ch.ID}
	if ch.Kind == IncidentAcknowledged {
		s.ReplyKey, s.Reply = "pagerduty/"+ch.ID, state
	}
	if settle {
		s.Text = state
	} else if s.Reply == "" {
		return nil // a newer state is shown: this one must not replace it
	}
	_, err := r.step(ctx, ServiceSlack, Task{Kind: TaskSettle, Delay: stepRetryDelay, Settle: &s}, func(ctx context.Context) error {
		return r.settle(ctx, &s)
	})
	return err
}

// runIncidentSettle is the deferred form of a change's DM step. The queue does not keep the order
// of changes, so when the issue records a newer state by then, the DM is left showing that one.
func (r *Router) runIncidentSettle(ctx context.Context, s *SettleTask) error {
	if s.Text != "" && !r.isDown(ServiceGitHub) {
		comments, err := r.ownComments(ctx, s.Ticket.Repo, s.Ticket.Issue)
		if last := newestStatus(recordedChanges(comments)); err == nil && last.Change != s.Change && last.At.After(s.At) {
			zerolog.Ctx(ctx).Info().Str("recorded", last.Status).Msg("a newer incident state is recorded: the DM keeps it")
			s.Text = ""
		}
	}
	return r.settle(ctx, s)
}

// incidentState is the DM's line for the incident's state after ch.
func incidentState(ch IncidentChange) string {
	by := ch.By
	if by == "" {
		by = "PagerDuty"
	}
	switch ch.Kind {
	case IncidentAcknowledged:
		return fmt.Sprintf("Escalated: acknowledged in PagerDuty by %s.", by)
	case IncidentResolved:
		return fmt.Sprintf("Resolved in PagerDuty by %s.", by)
	case IncidentTriggered:
		return "Escalated: the PagerDuty incident was triggered again."
	case IncidentReassigned, IncidentEscalated:
		if ch.To != "" {
			return fmt.Sprintf("Escalated: %s in PagerDuty to %s.", ch.Kind, ch.To)
		}
	}
	return ""
}

// incidentComment is the issue comment for ch. PagerDuty's names and notes are text from outside:
// made inert like alarm text.
func incidentComment(ch IncidentChange) string {
	by := "PagerDuty"
	if ch.By != "" {
		by = inert(ch.By)
	}
	at := ch.At.UTC().Format(time.RFC3339)
	link := ""
	if ch.URL != "" {
		link = fmt.Sprintf(" ([incident %s](%s))", inert(ch.Incident), ch.URL)
	}
	var b strings.Builder
	switch ch.Kind {
	case IncidentAcknowledged:
		fmt.Fprintf(&b, "**Acknowledged** in PagerDuty by %s at %s%s.", by, at, link)
	case IncidentResolved:
		fmt.Fprintf(&b, "**Resolved** in PagerDuty by %s at %s%s; closing.", by, at, link)
		if ch.Note != "" {
			fmt.Fprintf(&b, "\n\nResolution note: %s", inert(ch.Note))
		}
	case IncidentTriggered:
		fmt.Fprintf(&b, "**Re-triggered** in PagerDuty at %s%s; reopening.", at, link)
	case IncidentReassigned, IncidentEscalated:
		fmt.Fprintf(&b, "**%s** in PagerDuty", strings.ToUpper(ch.Kind[:1])+ch.Kind[1:])
		if ch.To != "" {
			fmt.Fprintf(&b, " to %s", inert(ch.To))
		}
		if ch.By != "" {
			fmt.Fprintf(&b, " by %s", by)
		}
		fmt.Fprintf(&b, " at %s%s.", at, link)
	default:
		fmt.Fprintf(&b, "PagerDuty: %s at %s%s.", inert(ch.Kind), at, link)
	}
	return b.String()
}

// IncidentStatus is the live state of an escalated issue's incident as dispatch recorded it on the
// issue ("acknowledged in PagerDuty", …), "" when no change is recorded. It reads the issue's
// comments at most once per homeTTL per issue (replicas apart), for the App Home and /dispatch list.
func (r *Router) IncidentStatus(ctx context.Context, is Issue) string {
	if status, ok := r.cachedIncidentStatus(is); ok {
		return status
	}
	key := statusKey(is.Repo, is.Number)
	comments, err := r.ownComments(ctx, is.Repo, is.Number)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Int("issue", is.Number).Msg("could not read the incident's state")
		return ""
	}
	last := newestStatus(recordedChanges(comments))
	status := ""
	if last.Status != "" {
		status = last.Status + " in PagerDuty"
	}
	r.istate.put(key, status, r.now())
	return status
}

// cachedIncidentStatus is IncidentStatus as this replica last read or wrote it within homeTTL,
// without reading GitHub; ok false when it has none that fresh.
func (r *Router) cachedIncidentStatus(is Issue) (status string, ok bool) {
	r.istate.mu.Lock()
	e, found := r.istate.byIssue[statusKey(is.Repo, is.Number)]
	r.istate.mu.Unlock()
	if found && r.now().Sub(e.at) < homeTTL {
		return e.status, true
	}
	return "", false
}

// put keeps status as the incident state of the issue key (repo#number) as of at.
func (c *incidentCache) put(key, status string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byIssue == nil || len(c.byIssue) > 10_000 {
		c.byIssue = map[string]statusEntry{}
	}
	c.byIssue[key] = statusEntry{status: status, at: at}
}

// statusKey is an issue's key in the incidentCache.
func statusKey(repo string, number int) string {
	return strings.ToLower(repo) + "#" + fmt.Sprint(number)
}

// incidentCache keeps IncidentStatus's answers, by repo#number.
type incidentCache struct {
	mu      sync.Mutex
	byIssue map[string]statusEntry
}

// statusEntry is a cached IncidentStatus.
type statusEntry struct {
	status string
	at     time.Time
}

// noteIncidentStatus keeps the status a change just recorded, so the App Home shows it at once.
func (r *Router) noteIncidentStatus(is Issue, status string) {
	if status == "" {
		return
	}
	r.istate.put(statusKey(is.Repo, is.Number), status+" in PagerDuty", r.now())
}
