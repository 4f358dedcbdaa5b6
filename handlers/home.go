package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// homeLimit bounds each list of the App Home tab.
const homeLimit = 10

// homeStatusReads bounds the incident states one render of the App Home reads from GitHub (an
// issue's comments each); the others show what this replica last knew, or none, until a later
// render. Every answer renders the tab: a user with ten escalated alarms would otherwise cost ten
// reads of GitHub's hourly budget per answer, which spent a 30-minute soak's budget.
const homeStatusReads = 2

// HomeEntry is one alarm on a user's App Home tab.
type HomeEntry struct {
	Title   string
	Link    *Link
	Status  string
	Buttons []Button // the same buttons as the DM, for a pending alarm
}

// HomeView is a user's App Home tab: what waits for their answer, and what they answered lately.
type HomeView struct {
	UserID  string
	Pending []HomeEntry
	Recent  []HomeEntry
}

// HomeOpened publishes a user's App Home tab: their pending confirmations, with the same buttons as
// the DM, and their recent answers. It is also called after every answer, so the tab follows. A
// burst of opens costs at most one GitHub lookup per user per homeTTL (an answer refreshes it), and
// at most homeRenders run at once, so Home traffic never crowds out alarms. Buttons are shown only
// for dispatch's own issues whose ticket verifies and names this user.
func (r *Router) HomeOpened(ctx context.Context, userID string) error {
	open, closed, err := r.home.lookup(ctx, userID, r.now, func(ctx context.Context) ([]Issue, []Issue, error) {
		open, err := r.AlarmsFor(ctx, r.cfg.DefaultRepo, userID, true, homeLimit*2)
		if err != nil {
			return nil, nil, err
		}
		closed, err := r.AlarmsFor(ctx, r.cfg.DefaultRepo, userID, false, homeLimit)
		return open, closed, err
	})
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	v := HomeView{UserID: userID}
	var waiting map[string]bool
	if len(open) > 0 {
		waiting = r.pushesWaiting(ctx, userID)
	}
	reads := 0 // incident states read from GitHub for this render
	for _, is := range open {
		if is.HasLabel(LabelEscalated) {
			if len(v.Recent) >= homeLimit {
				continue // cut below anyway: no read for it
			}
			status := "You answered No: escalated to PagerDuty"
			st, ok := r.cachedIncidentStatus(is)
			if !ok && reads < homeStatusReads {
				reads++
				st = r.IncidentStatus(ctx, is)
			}
			if st != "" {
				status += "; " + st
			}
			v.Recent = append(v.Recent, HomeEntry{Title: is.Title, Link: issueLink(is), Status: status})
			continue
		}
		e := HomeEntry{Title: is.Title, Link: issueLink(is), Status: "Waiting for your answer"}
		if mk, ok := findMarker(is.Body); ok && mk.Ticket != "" { // whatever its labels: a triager may remove them
			t, err := DecodeTicket(mk.Ticket, r.cfg.TaskKeys)
			if err == nil && t.User == userID && mk.Slack == userID && t.Alarm == mk.Alarm && strings.EqualFold(t.Repo, is.Repo) {
				t.Issue = is.Number
				value := t.Encode(r.cfg.TaskKeys)
				e.Buttons = []Button{
					{ActionID: ActionYes, Label: DefaultYesShort, Value: value, Style: "primary"},
					{ActionID: ActionNo, Label: DefaultNoShort, Value: value, Style: "danger"},
				}
				if t.Wrong {
					e.Buttons = append(e.Buttons, Button{ActionID: ActionWrong, Label: DefaultWrongShort, Value: value})
				}
				if waiting[promptKey(mk.Alarm, mk.User)] {
					// As on the DM: no buttons while the push is out, so no click sends another.
					e.Status, e.Buttons = "Waiting for your Duo push", nil
				}
			} else {
				zerolog.Ctx(ctx).Warn().Err(err).Str("repo", is.Repo).Int("issue", is.Number).Msg("app home: the issue's ticket isn't this user's: no buttons")
				if errors.Is(err, ErrForgedTicket) {
					e.Status = "Waiting for your answer, but its buttons no longer work (signed with a key dispatch no longer has): give your answer to your security team on the issue"
				}
			}
		}
		if len(v.Pending) < homeLimit {
			v.Pending = append(v.Pending, e)
		}
	}
	for _, is := range closed {
		v.Recent = append(v.Recent, HomeEntry{Title: is.Title, Link: issueLink(is), Status: "Closed"})
	}
	if len(v.Recent) > homeLimit {
		v.Recent = v.Recent[:homeLimit]
	}
	if err := r.chat.PublishHome(ctx, v); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Int("pending", len(v.Pending)).Msg("app home published") // the caller's log context names the user
	return nil
}

// AlarmsFor lists a Slack user's self-service issues in repo (see Issues.AlarmsFor), keeping only
// the ones dispatch opened itself: an issue anyone else opened with a copied marker is nobody's
// alarm. It serves the App Home and /dispatch list (OpenAlarms).
func (r *Router) AlarmsFor(ctx context.Context, repo, slackUserID string, open bool, limit int) ([]Issue, error) {
	issues, err := r.issues.AlarmsFor(ctx, repo, slackUserID, open, limit)
	if err != nil {
		return nil, err
	}
	return r.ownIssues(ctx, issues)
}

// Labels of the App Home buttons (the DM's own labels are the alarm's; they aren't kept).
const (
	DefaultYesShort = "Yes, it was me"
	DefaultNoShort  = "No, it wasn't me"
)
