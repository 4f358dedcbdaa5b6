package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/retry"
)

// Labels dispatch puts on its issues.
const (
	LabelDispatch  = "dispatch"
	LabelEscalated = "dispatch:escalated"
	LabelTest      = "dispatch:test"
)

// Config is what the use cases need to know of the configuration.
type Config struct {
	DefaultRepo       string // owner/name
	DefaultGitHubUser string // login or org/team, mentioned when an alarm names no GitHub handle
	FallbackChannel   string // Slack channel ID; "" means none
	Source            string // names this deployment in PagerDuty incidents
	RemindAfter       time.Duration
	EscalateAfter     time.Duration
	// TaskKeys sign the tickets on buttons and in the App Home (HMAC-SHA256): the first signs, every
	// one verifies, so a key rotates without breaking the buttons already sent, for as long as the old
	// one stays (a button lives as long as its prompt waits). Empty: a random key of this process
	// only (buttons sent before a restart stop working).
	TaskKeys [][]byte
	// AllowedRepos are the repositories alarms may name, "owner/name" or "owner/*", matched
	// case-insensitively (GITHUB_ALLOWED_REPOS). Empty: OWNER/* of DefaultRepo.
	AllowedRepos []string
	// AnswerCopyAfter is how long an answer's durable copy waits on the queue before it comes round
	// (see Router.Take); 0: 30 s.
	AnswerCopyAfter time.Duration
}

// Router routes alarms and answers. It is safe for concurrent use.
type Router struct {
	cfg    Config
	issues Issues
	pager  Pager
	chat   Chat
	tasks  Tasks
	now    func() time.Time
	states IncidentStates            // confirms PagerDuty changes (SetIncidentStates); nil: none
	istate incidentCache             // IncidentStatus's cache
	down   func(service string) bool // see WatchHealth; nil: every service is tried

	locks   keyedMutex
	notices *notices
	home    homeCache
	mfa     *secondFactor // issue 19: nil without Duo
}

// NewRouter wires the use cases to their services. tasks may be nil, in which case failed answers
// are retried only in-process.
func NewRouter(cfg Config, issues Issues, pager Pager, chat Chat, tasks Tasks) *Router {
	if len(cfg.TaskKeys) == 0 {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		cfg.TaskKeys = [][]byte{key}
	}
	r := &Router{cfg: cfg, issues: issues, pager: pager, chat: chat, tasks: tasks, now: time.Now}
	r.home.init()
	r.notices = newNotices(func(ctx context.Context, m Message) error {
		_, err := r.chat.Post(ctx, r.cfg.FallbackChannel, m)
		return err
	})
	return r
}

// Flush waits, until ctx ends, for the operator notices still queued to be posted. Call it when
// stopping.
func (r *Router) Flush(ctx context.Context) { r.notices.flush(ctx) }

// Inbound is one message taken off the queue.
type Inbound struct {
	DeliveryID string // stays the same when the message is delivered again (SNS or SQS message id)
	Body       []byte
	// Redelivered: the queue says this message was received before (a crash, a timeout).
	Redelivered bool
	// PublishedAt is when the alarm was published (zero when unknown); a DM more than LateAfter
	// later says how late it is.
	PublishedAt time.Time
}

// Outcome says what handling an alarm did, for logs and metrics.
type Outcome struct {
	AlarmID   string
	Type      alerts.Type
	Duplicate bool     // de-duplicated against an existing issue: nothing new raised
	Warnings  []string // e.g. trailing characters ignored
}

// Handle decodes and routes one alarm. A nil error means the alarm's work is done and the message
// may be deleted. An error that retry.IsPermanent accepts (bad input included, as an
// *alerts.InvalidError) means retrying can't help; any other error is transient and the message
// should come round again. Handle is idempotent: delivering the same message twice raises nothing
// twice.
func (r *Router) Handle(ctx context.Context, in Inbound) (Outcome, error) {
	log := zerolog.Ctx(ctx)
	a, warnings, err := alerts.Decode(in.Body)
	for _, l := range a.GitHubLabels {
		if ownLabel(l) {
			warnings = append(warnings, fmt.Sprintf("body.github.labels: %q is dispatch's own label, which only dispatch sets: it is left off the issue", l))
		}
	}
	out := Outcome{Warnings: warnings}
	if err != nil {
		return out, err
	}
	out.AlarmID, out.Type = a.ID(in.DeliveryID), a.Type
	l := log.With().Str("alarm_id", out.AlarmID).Str("alarm_type", string(a.Type)).Logger()
	ctx = withPublished(l.WithContext(ctx), in.PublishedAt)
	for _, w := range warnings {
		l.Warn().Str("warning", w).Msg("alarm accepted with a warning")
	}

	switch a.Type {
	case alerts.HighPriority:
		err = r.page(ctx, &a, out.AlarmID)
	default:
		out.Duplicate, err = r.withIssue(ctx, &a, out.AlarmID, in)
	}
	return out, err
}

// page raises a high-priority alarm. Without a requestId the dedup key comes from the title, so
// repeats of one alarm collapse into one incident while it is open.
func (r *Router) page(ctx context.Context, a *alerts.Alarm, id string) error {
	key := dedupKey(keyHighPriority, id)
	if a.RequestID == "" {
		key = dedupKey(keyHighTitle, a.PagerDutyServiceID, a.PagerDutyTitle)
	}
	return r.pager.Trigger(ctx, Page{
		ServiceID: a.PagerDutyServiceID,
		DedupKey:  key,
		Summary:   a.PagerDutyTitle,
		Details:   a.PagerDutyBody,
		Source:    r.cfg.Source,
		Severity:  "critical",
	})
}

// withIssue handles every type that keeps an audit issue. It reports whether the alarm was a
// duplicate of an existing one.
func (r *Router) withIssue(ctx context.Context, a *alerts.Alarm, id string, in Inbound) (bool, error) {
	repo := a.Repo(r.cfg.DefaultRepo)
	if err := r.checkRepo(repo); err != nil {
		return false, err
	}
	// Alarms with one title are handled one at a time here, so two of them can't both miss the
	// other's issue; one waiting gives up its worker slot meanwhile (see Slot). Across replicas,
	// converge closes the younger of two issues made at the same instant.
	unlock, err := r.locks.lockYielding(ctx, repo+"\x00"+a.GitHubTitle)
	if err != nil {
		return false, err
	}
	defer unlock()

	recipients, err := r.resolveAll(ctx, a)
	if err != nil {
		return false, err
	}
	var existing []Issue
	// An alarm with DMs (self-service, broadcast, nag) reaches its users while GitHub is down or
	// failing, and its issue follows: the title can't be de-duplicated against the open issues
	// until then.
	dmsFirst := a.Type.NeedsUsers()
	if dmsFirst && r.isDown(ServiceGitHub) {
		zerolog.Ctx(ctx).Info().Msg("GitHub is down: the DMs go first, without looking for an issue with this title")
	} else {
		existing, err = r.issues.FindByTitle(ctx, repo, a.GitHubTitle, !a.Retrigger && a.Type != alerts.Nag)
		if err == nil {
			existing, err = r.ownIssues(ctx, existing)
		}
		if err != nil && (!dmsFirst || retry.IsPermanent(err)) {
			return false, fmt.Errorf("look for existing issues: %w", err)
		}
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("GitHub is failing: the DMs go first, without looking for an issue with this title")
			existing, ctx = nil, context.WithValue(ctx, githubFailingKey{}, true)
		}
	}
	if a.Type == alerts.Nag {
		return false, r.nag(ctx, a, id, in.DeliveryID, repo, recipients, existing)
	}
	mine, others := splitByAlarm(existing, id)
	if len(others) > 0 {
		zerolog.Ctx(ctx).Info().Int("issue", others[0].Number).Str("repo", repo).
			Msg("an issue with this title exists: nothing new raised")
		return true, nil
	}
	switch a.Type {
	case alerts.LowPriority:
		_, _, err = r.ensureIssue(ctx, repo, marker{Alarm: id}, mine, r.lowPriorityIssue(a, id), false)
	case alerts.Broadcast:
		err = r.broadcast(ctx, a, id, repo, recipients, mine, in.Redelivered)
	case alerts.SelfService:
		err = r.selfService(ctx, a, id, repo, recipients, mine, in.Redelivered)
	}
	if _, ok := errors.AsType[*supersededError](err); ok {
		return true, nil
	}
	return false, err
}

// ensureIssue returns the issue this alarm made for mk.User among mine (dispatch's own issues),
// creating it (with mk hidden at the end of its body) if an earlier delivery didn't. resumed reports
// that it already existed. A body that already ends with a marker was composed by dispatch with it.
// afterPrompt says the user was already asked (the prompt went first): then only this very issue,
// filed by another replica, can be its twin (see converge).
func (r *Router) ensureIssue(ctx context.Context, repo string, mk marker, mine []Issue, ni NewIssue, afterPrompt bool) (is Issue, resumed bool, err error) {
	for _, m := range mine {
		if found, ok := findMarker(m.Body); ok && found.User == mk.User {
			return m, true, nil
		}
	}
	if _, ok := findMarker(ni.Body); !ok {
		ni.Body += "\n\n" + mk.String()
	}
	cctx := ctx
	if d, ok := ctx.Value(inlineCreateKey{}).(time.Duration); ok {
		cctx = pace.WithMaxWait(ctx, d) // the create only: what follows it may wait as it must
	}
	is, err = r.issues.Create(cctx, repo, ni)
	if err != nil {
		return Issue{}, false, fmt.Errorf("create issue in %s: %w", repo, err)
	}
	zerolog.Ctx(ctx).Info().Str("repo", repo).Int("issue", is.Number).Str("user", mk.User).Msg("issue opened")
	if err := r.converge(ctx, repo, is, mk, afterPrompt); err != nil {
		return Issue{}, false, err
	}
	return is, false, nil
}

// githubFailingKey marks a ctx whose alarm found GitHub failing: its DMs go first without trying
// to create the issue (which would fail after the same retries).
type githubFailingKey struct{}

// githubOut reports whether GitHub is down, or failed for this alarm already: its DMs go first.
func (r *Router) githubOut(ctx context.Context) bool {
	return r.isDown(ServiceGitHub) || ctx.Value(githubFailingKey{}) != nil
}

// inlineCreateKey marks a ctx whose issue may be created only within the duration it holds (see
// selfService): past it, pace.ErrWouldWait, and the prompt goes first.
type inlineCreateKey struct{}

// supersededError: another replica made the same issue at the same instant, and its older one is
// the one kept; ours was closed as its duplicate before anyone was told of it.
type supersededError struct{ survivor Issue }

func (e *supersededError) Error() string {
	return fmt.Sprintf("a duplicate of #%d, made at the same instant", e.survivor.Number)
}

// converge makes replicas end as one would: a FIFO group per title is not needed on a standard
// queue. Alarms with one title are serialised within a replica, but two replicas may each miss the
// other's issue and create their own. Right after creating, look again (FindByTitle sees every
// issue older than ours): if an older open issue is the same (another alarm's with this title, or
// this alarm's for the same user), ours is closed as its duplicate, with a comment linking it, and
// a *supersededError stops the alarm before any DM. Once the user has been prompted (afterPrompt),
// their answer must land on an issue of their own alarm: only an older issue of this alarm for this
// user is a twin, never another alarm's with the same title.
func (r *Router) converge(ctx context.Context, repo string, is Issue, mk marker, afterPrompt bool) error {
	found, err := r.issues.FindByTitle(ctx, repo, is.Title, false)
	if err == nil {
		found, err = r.ownIssues(ctx, found) // an issue someone else opened is no twin
	}
	if err != nil {
		return fmt.Errorf("look again for issues made at the same instant: %w", err)
	}
	for _, o := range found {
		if o.Number >= is.Number {
			continue
		}
		om, ok := findMarker(o.Body)
		if ok && om.Alarm == mk.Alarm && om.User != mk.User {
			continue // the same alarm's issue for another user
		}
		if afterPrompt && !(ok && om.Alarm == mk.Alarm) {
			continue // another alarm's: this user was asked about this one
		}
		if err := r.issues.Comment(ctx, repo, is.Number, fmt.Sprintf("Duplicate of #%d, raised at the same instant by another dispatch replica: closed, nobody was told of this one.", o.Number)); err != nil {
			return fmt.Errorf("comment on a duplicate issue: %w", err)
		}
		if err := r.issues.Close(ctx, repo, is.Number); err != nil {
			return fmt.Errorf("close a duplicate issue: %w", err)
		}
		zerolog.Ctx(ctx).Info().Int("issue", is.Number).Int("survivor", o.Number).Msg("closed as the duplicate of an issue made at the same instant")
		return &supersededError{survivor: o}
	}
	return nil
}

// Reject announces an alarm that can't be routed in the fallback channel, if there is one, in the
// background (see notices). The caller has logged and counted it and moves it out of the queue's way.
func (r *Router) Reject(ctx context.Context, in Inbound, reason error) {
	if r.cfg.FallbackChannel != "" {
		r.notices.add(ctx, rejectNotice(in, reason))
	}
}

func splitByAlarm(issues []Issue, id string) (mine, others []Issue) {
	for _, is := range issues {
		if mk, ok := findMarker(is.Body); ok && mk.Alarm == id {
			mine = append(mine, is)
		} else {
			others = append(others, is)
		}
	}
	return mine, others
}

// keyedMutex serialises work per key; entries go away when unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// Lock locks key and returns its unlock.
func (k *keyedMutex) Lock(key string) (unlock func()) {
	e := k.entry(key)
	e.mu.Lock()
	return k.unlocker(key, e)
}

// entry returns key's entry, counting a reference to it.
func (k *keyedMutex) entry(key string) *keyedEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	return e
}

// unlocker unlocks e and drops the reference; the entry goes when unused.
func (k *keyedMutex) unlocker(key string, e *keyedEntry) func() {
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// errNoRecipients is returned when none of an alarm's users could be reached and there is no
// fallback channel to tell.
var errNoRecipients = errors.New("no user of the alarm could be reached on Slack and no fallback channel is configured")
