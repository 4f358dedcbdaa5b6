package conntrack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestTrackCountsConnectionsAndFirstRequests(t *testing.T) {
	var tr Tracker
	var firsts atomic.Int32 // the handler runs on the server's goroutines
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if First(r) {
			firsts.Add(1)
		}
	}))
	tr.Track(srv.Config)
	srv.Start()
	defer srv.Close()

	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	kept := &http.Client{Transport: &http.Transport{}}
	for range 3 {
		get(kept) // one connection, reused
	}
	get(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	get(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	if tr.Opened() != 3 || firsts.Load() != 3 {
		t.Errorf("opened %d, first requests %d; want 3 and 3", tr.Opened(), firsts.Load())
	}
}
