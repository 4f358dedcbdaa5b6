package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Preauth is Duo's answer to "may this user authenticate, and how?".
type Preauth struct {
	Result  string // auth, allow (bypass), deny or enroll
	CanPush bool   // some device of the user's takes a push
	Message string // Duo's status_msg
}

// PushInfo is what the push shows on the phone.
type PushInfo struct {
	Type   string      // shown as the request's type ("dispatch alarm")
	Fields [][2]string // key/value pairs, in order
}

// PushStatus is where an asynchronous push stands.
type PushStatus struct {
	Result  string // waiting, allow or deny
	Status  string // Duo's status: pushed, allow, deny, timeout, …
	Message string
	Code    string // a Verified Duo Push code the user must type into Duo Mobile, while waiting
}

// SecondFactor is Duo's Auth API v2 as the handlers need it. Errors are transient unless
// retry.IsPermanent says otherwise; either way the user may try again.
type SecondFactor interface {
	Preauth(ctx context.Context, username string) (Preauth, error)
	// Push sends an asynchronous push and returns its transaction id.
	Push(ctx context.Context, username string, info PushInfo) (string, error)
	Status(ctx context.Context, txid string) (PushStatus, error)
}

// UserEmails finds a Slack user's e-mail address (the Duo username is made from it).
type UserEmails interface {
	Email(ctx context.Context, userID string) (string, error)
}

// MFAConfig is how the Duo check behaves.
type MFAConfig struct {
	// Default: whether an alarm without "mfa" needs a push (DISPATCH_MFA).
	Default bool
	// ReuseWindow: a Yes within this long of the user's last approved push needs none; 0 always
	// pushes (DUO_REUSE_WINDOW).
	ReuseWindow time.Duration
	// EmailLocal: the Duo username is the part of the e-mail before "@" (DUO_USERNAME=email-local).
	EmailLocal bool
	// PushTimeout bounds the wait for the user's answer (Duo itself gives up after 60 s); Poll is the
	// pause between status checks. Zero: 75 s and 1 s.
	PushTimeout, Poll time.Duration
	// Observe, when set, counts each check's result (dispatch_mfa_total{result}).
	Observe func(result MFAResult)
}

// MFAResult is how a Duo check ended.
type MFAResult string

// The results of a Duo check.
const (
	MFAApproved    MFAResult = "approved"    // the user approved the push
	MFAReused      MFAResult = "reused"      // an approval within the reuse window stood in
	MFABypass      MFAResult = "bypass"      // Duo's policy lets this user in without a push
	MFADenied      MFAResult = "denied"      // the user denied the push
	MFATimedOut    MFAResult = "timeout"     // nobody answered the push
	MFAUnreachable MFAResult = "unreachable" // Duo (or the user's e-mail) couldn't be had
	MFANotEnrolled MFAResult = "not_enrolled"
	MFANoDevice    MFAResult = "no_push_device" // enrolled, but nothing can take a push
	MFARefused     MFAResult = "refused"        // Duo's policy denies the user (preauth "deny")
)

// MFAResults lists every MFAResult, so a metric can show each from the start.
var MFAResults = []MFAResult{MFAApproved, MFAReused, MFABypass, MFADenied, MFATimedOut, MFAUnreachable, MFANotEnrolled, MFANoDevice, MFARefused}

// MFAOutcome rides with an answer checked with Duo, for the issue and the page.
type MFAOutcome struct {
	Result MFAResult `json:"result"`
	At     time.Time `json:"at,omitempty"` // the approval reused
}

// Counts reports whether the Yes stands.
func (o MFAOutcome) Counts() bool {
	return o.Result == MFAApproved || o.Result == MFAReused || o.Result == MFABypass
}

type secondFactor struct {
	duo    SecondFactor
	emails UserEmails
	cfg    MFAConfig

	mu      sync.Mutex
	waiting map[string]string            // promptKey → the user whose push is out on this replica
	holds   lately[map[string]time.Time] // userID → the holds last read (heldPrompts)
}

// UseSecondFactor makes a Yes need a Duo push (for alarms that ask for one, see MFAConfig.Default).
// Call it before the router serves.
func (r *Router) UseSecondFactor(duo SecondFactor, emails UserEmails, cfg MFAConfig) {
	if cfg.PushTimeout <= 0 {
		cfg.PushTimeout = 75 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	r.mfa = &secondFactor{duo: duo, emails: emails, cfg: cfg, waiting: map[string]string{}}
}

// needsMFA reports whether a Yes to t needs a Duo push: Duo is configured, and the alarm said
// "mfa": true, or said nothing and the default is on.
func (r *Router) needsMFA(t Ticket) bool {
	if r.mfa == nil {
		return false
	}
	switch t.MFA {
	case MFAOn:
		return true
	case MFAOff:
		return false
	}
	return r.mfa.cfg.Default
}

// Ticket.MFA values: the alarm's own "mfa", when it gave one.
const (
	MFAOn  = "on"
	MFAOff = "off"
)

// promptKey is the Message.Key of the DM that asks a user about an alarm (alarm/user key).
func promptKey(alarm, userKey string) string { return alarm + "/" + userKey }

// holdMargin is how much longer than the push itself a held prompt stays held: if the replica
// waiting for the push dies, the hold runs out and another replica may push again.
const holdMargin = 30 * time.Second

// pushesWaiting returns the prompt keys (promptKey) of userID's alarms that wait for a Duo push: the
// ones this replica waits for, and the ones whose DM any replica holds (Chat.Holds), so the App
// Home and /dispatch list say so on every replica. A failed lookup shows only this replica's.
func (r *Router) pushesWaiting(ctx context.Context, userID string) map[string]bool {
	if r.mfa == nil {
		return nil
	}
	out := map[string]bool{}
	r.mfa.mu.Lock()
	for k, u := range r.mfa.waiting {
		if u == userID {
			out[k] = true
		}
	}
	r.mfa.mu.Unlock()
	for k, until := range r.heldPrompts(ctx, userID) {
		if r.now().Before(until) {
			out[k] = true
		}
	}
	return out
}

// heldPrompts is Chat.Holds for userID as read at most once per homeTTL on this replica: each read
// is a conversations.history, of which Slack allows 50 a minute for the whole workspace, and a user
// may open the App Home as often as they like. Another replica's push shows, or its end does, on
// this replica's App Home and /dispatch list within homeTTL; the Yes itself reads the holds afresh
// (confirmWithDuo), so a stale view never sends a second push. A failed read is not kept.
func (r *Router) heldPrompts(ctx context.Context, userID string) map[string]time.Time {
	if holds, ok := r.mfa.holds.get(userID, r.now()); ok {
		return holds
	}
	holds, err := r.chat.Holds(ctx, userID)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not read which prompts wait for a Duo push")
		return nil
	}
	r.mfa.holds.put(userID, holds, r.now())
	return holds
}

// DuoPushesWaiting returns the alarm IDs of userID's alarms that wait for a Duo push, on any
// replica (for /dispatch list). issues are the user's alarms, as AlarmsFor lists them.
func (r *Router) DuoPushesWaiting(ctx context.Context, userID string, issues []Issue) map[string]bool {
	waiting := r.pushesWaiting(ctx, userID)
	if len(waiting) == 0 {
		return nil
	}
	out := map[string]bool{}
	for _, is := range issues {
		if mk, ok := findMarker(is.Body); ok && mk.Slack == userID && waiting[promptKey(mk.Alarm, mk.User)] {
			out[mk.Alarm] = true
		}
	}
	return out
}

// approvalKey keys the DM that records a user's approved push. Slack stamps it with its own ts,
// and only the bot can post as the bot, so every replica can trust it, and no member can forge one.
func approvalKey(userID string) string { return "mfa-approved/" + userID }

// lastApproval finds when userID last approved a push, from the newest approval DM.
func (r *Router) lastApproval(ctx context.Context, userID string) (time.Time, bool) {
	ref, found, err := r.chat.Sent(ctx, userID, approvalKey(userID))
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not look for an earlier Duo approval: pushing")
		return time.Time{}, false
	}
	if !found {
		return time.Time{}, false
	}
	sec, frac, _ := strings.Cut(ref.TS, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	return time.Unix(s, ns), true
}

// confirmWithDuo checks a Yes with a Duo push before it counts. It runs after the click's ack.
// An approved push (or one approved within the reuse window) records the Yes; a denied one, or a
// user who can't be pushed to, records a No that says why; a push nobody answered, or Duo
// unreachable, records nothing: the buttons stay live and the user may try again.
func (r *Router) confirmWithDuo(ctx context.Context, task AnswerTask) error {
	m := r.mfa
	log := zerolog.Ctx(ctx)
	to := Audience{UserID: task.UserID, Channel: task.Message.Channel, ResponseURL: task.ResponseURL}
	key := promptKey(task.Ticket.Alarm, task.Ticket.Key)
	const already = "A Duo push for this alarm is already waiting on your phone."
	m.mu.Lock()
	_, busy := m.waiting[key]
	m.waiting[key] = task.UserID
	m.mu.Unlock()
	if busy {
		return r.reply(ctx, to, already)
	}
	over := func() { // the push is no longer out on this replica
		m.mu.Lock()
		delete(m.waiting, key)
		m.mu.Unlock()
		m.holds.forget(task.UserID) // what heldPrompts read during it
	}
	defer over()
	if task.Message.TS == "" {
		// A click on the App Home tab: find the DM, whose hold says a push is out.
		if ref, found, err := r.chat.Sent(ctx, task.UserID, key); err == nil && found {
			task.Message = ref
		}
	}
	// Another replica's push: its hold on the DM is the only state every replica shares. (Two
	// clicks within one Slack round trip of each other on two replicas may still both push: Slack
	// has no compare-and-set.)
	if holds, err := r.chat.Holds(ctx, task.UserID); err != nil {
		log.Warn().Err(err).Msg("could not read whether a Duo push is already out")
	} else if until, ok := holds[key]; ok && r.now().Before(until) {
		log.Info().Msg("a Duo push for this alarm is already out (held DM): no second push")
		r.refreshHome(ctx, task.UserID)
		return r.reply(ctx, to, already)
	}

	h := &promptHold{}
	outcome, why := r.checkDuo(ctx, task, to, h)
	log.Info().Str("mfa", string(outcome.Result)).Msg("duo check done")
	if m.cfg.Observe != nil {
		m.cfg.Observe(outcome.Result)
	}
	switch outcome.Result {
	case MFATimedOut, MFAUnreachable:
		over() // before the tab is refreshed, so it shows the buttons back
		r.release(ctx, task, h)
		r.refreshHome(ctx, task.UserID)
		return r.reply(ctx, to, why+" Your Yes was not recorded; the buttons work again, so you can answer again.")
	case MFAApproved:
		if task.Ticket.Test {
			// Whoever holds the session can send /dispatch test and press Yes: the approval of its
			// harmless-looking push must not stand in for the real alarm's.
			break
		}
		at := r.now()
		if _, err := r.chat.DM(ctx, task.UserID, Message{Key: approvalKey(task.UserID),
			Body: fmt.Sprintf("Duo push approved at %s.%s", at.Format("15:04 MST"), reuseNote(m.cfg.ReuseWindow))}); err != nil {
			log.Warn().Err(err).Msg("could not record the Duo approval: the next Yes pushes again")
		}
	case MFANotEnrolled, MFANoDevice, MFARefused:
		if err := r.reply(ctx, to, why+" Your Yes can't count without a second factor, so the alarm is escalated."); err != nil {
			log.Warn().Err(err).Msg("could not tell the user why")
		}
	}
	// Otherwise the answer settles the DM, which replaces the hold.
	task.MFA = &outcome
	task.Yes = outcome.Counts()
	return r.record(ctx, task)
}

// promptHold is a DM held while its push is out: the message as it was, and until when.
type promptHold struct {
	before MessageRef
	until  time.Time
	text   string
}

// hold shows text on the DM in place of its buttons, and marks it held for every replica (the
// first call keeps the message as it was, for release). A DM that can't be held only loses the
// cross-replica guard: the push goes on.
func (r *Router) hold(ctx context.Context, task AnswerTask, h *promptHold, text string) {
	if task.Message.TS == "" || text == h.text {
		return
	}
	if h.until.IsZero() {
		h.until = r.now().Add(r.mfa.cfg.PushTimeout + holdMargin).Truncate(time.Second) // a hold keeps whole seconds
	}
	before, err := r.chat.Hold(ctx, task.Message, text, h.until)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("could not show the Duo push on the DM")
		return
	}
	if h.text == "" {
		h.before = before
	}
	h.text = text
}

// release puts the DM's buttons back after a push that decided nothing, unless something else
// (the alarm's deadline, its issue closed) settled the DM meanwhile.
func (r *Router) release(ctx context.Context, task AnswerTask, h *promptHold) {
	if h.text == "" {
		return
	}
	log := zerolog.Ctx(ctx)
	holds, err := r.chat.Holds(ctx, task.UserID)
	if err != nil {
		log.Warn().Err(err).Msg("could not check the DM before giving its buttons back")
		return
	}
	if until, ok := holds[promptKey(task.Ticket.Alarm, task.Ticket.Key)]; !ok || !until.Equal(h.until) {
		log.Info().Msg("the DM was settled while the push was out: its buttons stay gone")
		return
	}
	if err := r.chat.Release(ctx, h.before); err != nil {
		log.Warn().Err(err).Msg("could not give the DM its buttons back")
	}
}

func reuseNote(w time.Duration) string {
	if w <= 0 {
		return ""
	}
	return fmt.Sprintf(" A Yes within %s needs no new push.", w)
}

// checkDuo runs the check and says what happened, in words for the user.
func (r *Router) checkDuo(ctx context.Context, task AnswerTask, to Audience, h *promptHold) (MFAOutcome, string) {
	m := r.mfa
	log := zerolog.Ctx(ctx)
	if w := m.cfg.ReuseWindow; w > 0 {
		if at, ok := r.lastApproval(ctx, task.UserID); ok && r.now().Sub(at) < w && !at.After(r.now().Add(time.Minute)) {
			return MFAOutcome{Result: MFAReused, At: at.UTC()}, ""
		}
	}
	email, err := m.emails.Email(ctx, task.UserID)
	if err != nil || !strings.Contains(email, "@") {
		log.Warn().Err(err).Msg("no e-mail for the user: no Duo username")
		return MFAOutcome{Result: MFAUnreachable}, "dispatch couldn't find your e-mail address on Slack to ask Duo."
	}
	username := email
	if m.cfg.EmailLocal {
		username, _, _ = strings.Cut(email, "@")
	}
	pre, err := m.duo.Preauth(ctx, username)
	if local, _, _ := strings.Cut(email, "@"); err == nil && pre.Result == "enroll" && username != local {
		// Many Duo accounts are named by the e-mail's local part (directory sync): before
		// concluding "not enrolled", ask once for that name, as Netflix Dispatch does.
		log.Info().Msg("duo doesn't know the e-mail: asking for its local part")
		if pre, err = m.duo.Preauth(ctx, local); err == nil && pre.Result != "enroll" {
			username = local
		}
	}
	if err != nil {
		log.Warn().Err(err).Msg("duo preauth failed")
		return MFAOutcome{Result: MFAUnreachable}, "Duo couldn't be reached."
	}
	switch {
	case pre.Result == "allow":
		return MFAOutcome{Result: MFABypass}, ""
	case pre.Result == "enroll":
		return MFAOutcome{Result: MFANotEnrolled}, "You aren't enrolled in Duo."
	case pre.Result == "deny":
		return MFAOutcome{Result: MFARefused}, "Duo refuses to authenticate you (" + shorten(pre.Message, 200) + ")."
	case pre.Result != "auth" || !pre.CanPush:
		return MFAOutcome{Result: MFANoDevice}, "None of your Duo devices can take a push."
	}
	title := task.Ticket.Subject
	if title == "" {
		title = "alarm " + task.Ticket.Alarm
	}
	const approve = "Approve the Duo push on your phone…"
	r.hold(ctx, task, h, approve) // before the push: no moment when it is out and the DM's buttons live
	txid, err := m.duo.Push(ctx, username, PushInfo{Type: "dispatch alarm", Fields: [][2]string{{"Alarm", shorten(title, 100)}, {"Slack user", task.UserID}}})
	if err != nil {
		log.Warn().Err(err).Msg("duo push failed")
		return MFAOutcome{Result: MFAUnreachable}, "Duo couldn't be reached."
	}
	r.refreshHome(ctx, task.UserID)
	deadline := time.Now().Add(m.cfg.PushTimeout) // real time: the push lives on a real phone
	told := ""
	for {
		st, err := m.duo.Status(ctx, txid)
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("duo auth_status failed")
		case st.Result == "allow":
			return MFAOutcome{Result: MFAApproved}, ""
		case st.Result == "deny" && st.Status == "timeout":
			return MFAOutcome{Result: MFATimedOut}, "The Duo push timed out."
		case st.Result == "deny":
			return MFAOutcome{Result: MFADenied}, "The Duo push was denied."
		case st.Result == "waiting":
			text := approve
			if st.Code != "" {
				text += " Verified Duo Push code: " + st.Code
			}
			r.hold(ctx, task, h, text)
			if text != told {
				told = text
				if err := r.reply(ctx, to, text); err != nil {
					log.Warn().Err(err).Msg("could not tell the user about the push")
				}
			}
		}
		if !time.Now().Before(deadline) {
			return MFAOutcome{Result: MFATimedOut}, "The Duo push timed out."
		}
		select {
		case <-ctx.Done():
			return MFAOutcome{Result: MFAUnreachable}, "dispatch stopped while waiting for Duo."
		case <-time.After(m.cfg.Poll):
		}
	}
}

// mfaShortfall says why a Yes checked with Duo did not count ("" when it counted or wasn't checked).
func mfaShortfall(task AnswerTask) string {
	if task.MFA == nil {
		return ""
	}
	switch task.MFA.Result {
	case MFADenied:
		return "the Duo push was denied"
	case MFANotEnrolled:
		return "they are not enrolled in Duo"
	case MFANoDevice:
		return "none of their Duo devices can take a push"
	case MFARefused:
		return "Duo refuses to authenticate them"
	}
	return ""
}

// mfaWhy is the page's reason for an answer that didn't pass the Duo check ("" when it isn't one).
func mfaWhy(task AnswerTask, who person) string {
	if s := mfaShortfall(task); s != "" {
		return who.String() + " answered Yes but " + s
	}
	return ""
}

// mfaNote is the issue's line on the Duo check ("" without one).
func mfaNote(task AnswerTask) string {
	if task.MFA == nil {
		return ""
	}
	switch task.MFA.Result {
	case MFAApproved:
		return "Confirmed with Duo push."
	case MFAReused:
		return "Duo push reused from " + task.MFA.At.Format("15:04 MST") + "."
	case MFABypass:
		return "Duo let this user through without a push (bypass policy)."
	}
	if s := mfaShortfall(task); s != "" {
		return "The Yes did not count: " + s + "."
	}
	return ""
}
