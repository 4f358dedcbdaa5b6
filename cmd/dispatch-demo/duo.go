package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
)

// The demo's Duo application. Nothing to sign up for: the keys only have to match between the bot
// and the fake, which checks every request's signature with them as Duo does.
const (
	demoDuoIKey = "DIDEMO00000000000001"
	demoDuoSKey = "demo-duo-secret-key-0123456789abcdefghij"
)

// duoPushLifetime is how long Duo waits for an answer to a push before it gives up ("timeout").
// The fake waits for Resolve however long it takes, so the demo ends a push nobody answered itself:
// the bot then reads Duo's timeout, as it would from Duo, and the panel stops offering a push
// whose answer would reach nobody.
const duoPushLifetime = 60 * time.Second

// startDuo starts the fake Duo with every person enrolled, each push waiting for an answer in the
// page's Duo Mobile panel, and writes its certificate to a temporary folder for DUO_CA_FILE. It
// returns the settings a deployment would give (DUO_API_HOST, DUO_IKEY, DUO_SKEY, DUO_CA_FILE,
// with the other DUO_* at their defaults) and the folder, which the caller removes.
func startDuo(people []fakeslack.User) (*fakeduo.Server, bot.DuoConfig, string, error) {
	dir, err := os.MkdirTemp("", "dispatch-demo-duo-")
	if err != nil {
		return nil, bot.DuoConfig{}, "", fmt.Errorf("duo: a folder for its certificate: %w", err)
	}
	duo := fakeduo.New(demoDuoIKey, demoDuoSKey)
	ca := filepath.Join(dir, "duo-ca.pem")
	if err := os.WriteFile(ca, duo.CertPEM(), 0o600); err != nil {
		duo.Close()
		return nil, bot.DuoConfig{}, "", errors.Join(fmt.Errorf("duo: write its certificate: %w", err), os.RemoveAll(dir))
	}
	for _, p := range people {
		duo.SetUser(fakeduo.User{Name: p.Email, Outcome: fakeduo.Wait})
	}
	cfg := bot.DuoConfig{APIHost: duo.Host(), IKey: demoDuoIKey, SKey: demoDuoSKey, CAFile: ca, CAPEM: duo.CertPEM(),
		ReuseWindow: time.Hour, MFADefault: true}
	return duo, cfg, dir, nil
}

// duoPush is a push waiting for an answer, as the Duo Mobile panel shows it. ID is Duo's txid.
type duoPush struct {
	ID       string      `json:"id"`
	Username string      `json:"username"`
	Person   string      `json:"person"` // the Slack name of the person whose e-mail is Username, if any
	Type     string      `json:"type"`
	Details  [][2]string `json:"details"` // the push's pushinfo, Alarm first
	Sent     time.Time   `json:"sent"`
	Expires  time.Time   `json:"expires"`
}

// waitingPushes splits pushes into those still waiting for an answer at now and the txids of those
// Duo would have given up on.
func waitingPushes(pushes []fakeduo.Push, now time.Time) (waiting []fakeduo.Push, expired []string) {
	for _, p := range pushes {
		if p.Outcome != fakeduo.Wait {
			continue
		}
		if now.Sub(p.At) >= duoPushLifetime {
			expired = append(expired, p.Txid)
			continue
		}
		waiting = append(waiting, p)
	}
	return waiting, expired
}

// duoPushesLocked returns the pushes waiting for an answer, oldest first, first timing out those Duo would
// have given up on. The caller holds d.duoMu.
func (d *Demo) duoPushesLocked() []duoPush {
	waiting, expired := waitingPushes(d.duo.Pushes(), time.Now())
	for _, txid := range expired {
		_ = d.duo.Resolve(txid, fakeduo.Timeout) // it exists: Pushes listed it
	}
	names := map[string]string{}
	for _, p := range d.people {
		names[p.Email] = p.Name
	}
	out := []duoPush{}
	for _, p := range waiting {
		out = append(out, duoPush{ID: p.Txid, Username: p.Username, Person: names[p.Username], Type: p.Type,
			Details: pushDetails(p), Sent: p.At, Expires: p.At.Add(duoPushLifetime)})
	}
	return out
}

// duoPushes is duoPushesLocked for callers not holding d.duoMu.
func (d *Demo) duoPushes() []duoPush {
	d.duoMu.Lock()
	defer d.duoMu.Unlock()
	return d.duoPushesLocked()
}

// pushDetails orders a push's pushinfo as Duo Mobile lists it: the alarm first, then the rest by key.
func pushDetails(p fakeduo.Push) [][2]string {
	keys := make([]string, 0, len(p.Pushinfo))
	for k := range p.Pushinfo {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] == "Alarm" || keys[j] != "Alarm" && keys[i] < keys[j] })
	out := [][2]string{}
	for _, k := range keys {
		for _, v := range p.Pushinfo[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// answered says what became of a push that no longer waits.
var answered = map[fakeduo.Outcome]string{fakeduo.Approve: "approved", fakeduo.Deny: "denied", fakeduo.Timeout: "not answered in time"}

// answerPush approves or denies a waiting push as its user would on their phone. It answers with
// the HTTP status of what went wrong: 400 for an answer other than approve or deny, 404 for a push
// Duo never sent, 409 for one no longer waiting (answered, or timed out).
func (d *Demo) answerPush(txid, answer string) (int, error) {
	o := fakeduo.Outcome(answer)
	if o != fakeduo.Approve && o != fakeduo.Deny {
		return http.StatusBadRequest, fmt.Errorf("answer %q is neither %q nor %q", answer, fakeduo.Approve, fakeduo.Deny)
	}
	d.duoMu.Lock()
	defer d.duoMu.Unlock()
	for _, p := range d.duoPushesLocked() {
		if p.ID == txid {
			if err := d.duo.Resolve(txid, o); err != nil {
				return http.StatusNotFound, err
			}
			return http.StatusOK, nil
		}
	}
	for _, p := range d.duo.Pushes() {
		if p.Txid == txid {
			return http.StatusConflict, fmt.Errorf("duo push %s is no longer waiting: it was %s", txid, answered[p.Outcome])
		}
	}
	return http.StatusNotFound, fmt.Errorf("no duo push %q: the Duo Mobile panel lists the pushes waiting", txid)
}
