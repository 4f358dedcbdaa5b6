package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakeduo"
	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
)

// TestThePageRefusesOtherSites: the API publishes alarms and answers in anyone's name, so a
// request another site could make from the visitor's browser is refused before it does
// anything, and the page's own requests go through.
func TestThePageRefusesOtherSites(t *testing.T) {
	d := startDemo(t)
	base := strings.TrimSuffix(d.URL(), "/")
	host := strings.TrimPrefix(base, "http://")
	port := host[strings.LastIndex(host, ":"):]
	alarm := `{"alarm":"{\"type\":\"broadcast\"}"}`
	before := d.svc.AWS.Calls()["Publish"]
	for _, tc := range []struct {
		name, method, path, host, origin, ctype, body string
		want                                          int
	}{
		{"page's own state", "GET", "/api/state", host, "", "", "", http.StatusOK},
		{"localhost at the same port", "GET", "/api/state", "localhost" + port, "", "", "", http.StatusOK},
		{"rebound DNS name", "GET", "/api/state", "evil.example" + port, "", "", "", http.StatusMisdirectedRequest},
		{"another port", "GET", "/api/state", "127.0.0.1:1", "", "", "", http.StatusMisdirectedRequest},
		{"cross-site form post", "POST", "/api/publish", host, "", "text/plain", alarm, http.StatusUnsupportedMediaType},
		{"cross-origin JSON post", "POST", "/api/publish", host, "http://evil.example", "application/json", alarm, http.StatusForbidden},
		{"cross-origin click", "POST", "/api/click", host, "http://evil.example", "application/json", `{}`, http.StatusForbidden},
		{"cross-origin Duo approval", "POST", "/api/duo", host, "http://evil.example", "application/json", `{"id":"tx-0001-616c6963","answer":"approve"}`, http.StatusForbidden},
		{"Duo approval as a form", "POST", "/api/duo", host, "", "application/x-www-form-urlencoded", `id=tx-0001-616c6963&answer=approve`, http.StatusUnsupportedMediaType},
		{"empty alarm", "POST", "/api/publish", host, "http://" + host, "application/json", `{"alarm":"  "}`, http.StatusBadRequest},
		{"click on nothing", "POST", "/api/click", host, "", "application/json", `{"user":"U0ALICE","channel":"U0ALICE","ts":"1.2","actionId":"dispatch_no"}`, http.StatusBadRequest},
		{"page's own publish", "POST", "/api/publish", host, "http://" + host, "application/json", alarm, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
			}
		})
	}
	// Only the last request published: the refused ones did nothing.
	if n := d.svc.AWS.Calls()["Publish"] - before; n != 1 {
		t.Errorf("%d SNS publishes, want only the page's own", n)
	}
}

// TestExamplesAreServed: the form offers every alarm of docs/examples, as valid JSON.
func TestExamplesAreServed(t *testing.T) {
	ex, err := exampleAlarms()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"self-service.json", "high-priority.json", "low-priority.json", "broadcast.json", "seed-self-service.json"} {
		if !json.Valid([]byte(ex[name])) {
			t.Errorf("example %s missing or not JSON: %q", name, ex[name])
		}
	}
}

// TestATakenPortSaysToUseAddr: a second demo on the same port fails at once, before starting
// anything, and says how to pick another address.
func TestATakenPortSaysToUseAddr(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	d, err := Start(context.Background(), Options{Addr: taken.Addr().String(), Log: io.Discard, LogLevel: "warn"})
	if err == nil {
		_ = d.Close(context.Background())
		t.Fatal("the demo started on a taken port")
	}
	if !strings.Contains(err.Error(), "is taken") || !strings.Contains(err.Error(), "-addr 127.0.0.1:0") {
		t.Errorf("err = %v, want it to say the address is taken and suggest -addr", err)
	}
}

// post sends body to the page's API as the page does, returning the status and the decoded answer.
func post(t *testing.T, d *Demo, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(strings.TrimSuffix(d.URL(), "/")+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode, out
}

// eventually polls cond until it holds, failing the test with what after browserWait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(browserWait); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// pageState reads /api/state as the page does.
func pageState(t *testing.T, d *Demo) state {
	t.Helper()
	resp, err := http.Get(d.URL() + "api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s state
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDuoPanelAnswersPushes: a Yes through the page sends a Duo push that the state lists (whose,
// naming the alarm) until it is answered through /api/duo. Approved, the alarm closes; denied, it
// escalates as a No. A push Duo never sent, one already answered, or an answer other than approve
// or deny is refused with a 4xx that says why, and changes nothing.
func TestDuoPanelAnswersPushes(t *testing.T) {
	d := startDemo(t)
	yes := func(user, title string) duoPush {
		t.Helper()
		alarm := `{"type":"self-service","users":[{"slack":"` + user + `"}],"body":{"github":{"title":"` + title + `"},"slack":{"message":"Was this you?"}}}`
		b, _ := json.Marshal(map[string]string{"alarm": alarm})
		if code, out := post(t, d, "/api/publish", string(b)); code != http.StatusOK {
			t.Fatalf("publish: %d %v", code, out)
		}
		var prompt fakeslack.Message
		eventually(t, user+"'s DM with its buttons", func() bool {
			for _, m := range d.svc.Slack.DMs(user) {
				if strings.Contains(string(m.Blocks), handlers.ActionYes) {
					prompt = m
				}
			}
			return prompt.TS != ""
		})
		click, _ := json.Marshal(map[string]string{"user": user, "channel": prompt.Channel, "ts": prompt.TS, "actionId": handlers.ActionYes})
		if code, out := post(t, d, "/api/click", string(click)); code != http.StatusOK {
			t.Fatalf("click Yes: %d %v", code, out)
		}
		var push duoPush
		eventually(t, user+"'s push listed", func() bool {
			for _, p := range pageState(t, d).DuoPushes {
				if p.Details[0] == [2]string{"Alarm", title} {
					push = p
				}
			}
			return push.ID != ""
		})
		return push
	}

	alice := yes("U0ALICE", "approve me")
	if alice.Username != "alice@example.com" || alice.Person != "alice" || alice.Type != "dispatch alarm" ||
		!slices.Contains(alice.Details, [2]string{"Slack user", "U0ALICE"}) || !alice.Expires.Equal(alice.Sent.Add(duoPushLifetime)) {
		t.Errorf("alice's push reads %+v", alice)
	}
	for _, tc := range []struct {
		name, body string
		want       int
		says       string
	}{
		{"a push never sent", `{"id":"tx-9999-00000000","answer":"approve"}`, http.StatusNotFound, `no duo push "tx-9999-00000000"`},
		{"no id", `{"answer":"approve"}`, http.StatusNotFound, `no duo push ""`},
		{"an answer Duo Mobile has no button for", `{"id":"` + alice.ID + `","answer":"timeout"}`, http.StatusBadRequest, `answer "timeout" is neither "approve" nor "deny"`},
		{"not JSON", `approve`, http.StatusBadRequest, "invalid character"},
	} {
		if code, out := post(t, d, "/api/duo", tc.body); code != tc.want || !strings.Contains(fmt.Sprint(out["error"]), tc.says) {
			t.Errorf("%s: %d %v, want %d saying %q", tc.name, code, out, tc.want, tc.says)
		}
	}
	if p := d.duo.Pushes(); len(p) != 1 || p[0].Outcome != fakeduo.Wait {
		t.Fatalf("a refused answer changed the push: %+v", p)
	}

	if code, out := post(t, d, "/api/duo", `{"id":"`+alice.ID+`","answer":"approve"}`); code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, out)
	}
	if code, out := post(t, d, "/api/duo", `{"id":"`+alice.ID+`","answer":"deny"}`); code != http.StatusConflict || !strings.Contains(fmt.Sprint(out["error"]), "no longer waiting: it was approved") {
		t.Errorf("a second answer: %d %v, want 409 saying it was approved", code, out)
	}
	if n := len(pageState(t, d).DuoPushes); n != 0 {
		t.Errorf("%d pushes listed after the answer", n)
	}
	issue := func(title string) (out fakegithub.Issue) {
		for _, is := range d.svc.GitHub.Issues(stack.Repo) {
			if is.Title == title {
				out = is
			}
		}
		return out
	}
	eventually(t, "alice's alarm closed", func() bool { return issue("approve me").State == "closed" })

	bob := yes("U0BOB", "deny me")
	if code, out := post(t, d, "/api/duo", `{"id":"`+bob.ID+`","answer":"deny"}`); code != http.StatusOK {
		t.Fatalf("deny: %d %v", code, out)
	}
	eventually(t, "bob's denied push paged", func() bool {
		in := d.svc.PD.Incidents()
		return len(in) == 1 && strings.Contains(in[0].Summary, "(U0BOB) answered Yes but the Duo push was denied")
	})
	if is := issue("deny me"); is.State != "open" {
		t.Errorf("bob's issue is %s after a denied push", is.State)
	}
}

// TestDuoGivesUpOnAPushAfterAMinute: the panel offers a push only while Duo would wait for it.
func TestDuoGivesUpOnAPushAfterAMinute(t *testing.T) {
	at := time.Now()
	pushes := []fakeduo.Push{
		{Txid: "tx-old", At: at.Add(-duoPushLifetime), Outcome: fakeduo.Wait},
		{Txid: "tx-new", At: at.Add(-duoPushLifetime + time.Second), Outcome: fakeduo.Wait},
		{Txid: "tx-answered", At: at, Outcome: fakeduo.Approve},
	}
	waiting, expired := waitingPushes(pushes, at)
	if len(waiting) != 1 || waiting[0].Txid != "tx-new" || !slices.Equal(expired, []string{"tx-old"}) {
		t.Errorf("waiting %+v, expired %v; want tx-new waiting and tx-old expired", waiting, expired)
	}
}
