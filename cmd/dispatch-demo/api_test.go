package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
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
