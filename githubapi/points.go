package githubapi

import (
	"net/http"
	"time"

	"github.com/dispatch-oss/dispatch/pace"
)

// PointLimits is GitHub's documented secondary limit on all REST requests of a credential: 900
// points a minute, where a GET, HEAD or OPTIONS costs 1 point and a POST, PATCH, PUT or DELETE 5.
// A conditional request answered 304 costs its points too: the limit counts requests, not answers.
var PointLimits = []pace.Window{{Limit: 900, Span: time.Minute}}

// pointsOf is what a request of method costs in GitHub's secondary-limit points.
func pointsOf(method string) int {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return 5
	}
	return 1
}

// pacePoints holds every request the client makes, reads and writes, the index refresh and the
// watch polls included, within the points windows. It sits in the transport so that nothing that
// reaches GitHub (pages of a listing, the identity lookup) goes around it. A write waits for its
// five places in one sliding window with the reads: no queue in front of it, so with reads far
// below the limit it is never held back by them for long.
type pacePoints struct {
	p    *pace.Pacer
	next http.RoundTripper
}

func (t pacePoints) RoundTrip(r *http.Request) (*http.Response, error) {
	done, err := t.p.WaitN(r.Context(), pointsOf(r.Method))
	if err != nil {
		if r.Body != nil {
			r.Body.Close() // the RoundTripper contract, even on errors
		}
		return nil, err
	}
	// GitHub counts the request when it arrives, before its answer: once the answer is here it has
	// been counted, and the window runs from no earlier than that.
	defer done()
	return t.next.RoundTrip(r)
}
