package fakepagerduty

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// ServicesPath is the REST API's list of services (api.pagerduty.com/services).
const ServicesPath = "/services"

// SetRESTToken sets the REST API key GET /services accepts ("Authorization: Token token=…"). Until
// it is set, every REST request is refused with 401, as for a wrong key.
func (s *Server) SetRESTToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restToken = token
}

// restServices answers GET /services as the REST API v2 does: classic pagination (limit up to 100,
// offset, more), and each routing key added as one service with one Events API v2 integration,
// whose integration_key is shown only with include[]=integrations (otherwise integrations are
// references).
func (s *Server) restServices(w http.ResponseWriter, r *http.Request) {
	if !s.restAdmit(w, r) {
		return
	}
	s.mu.Lock()
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	slices.Sort(keys)

	q := r.URL.Query()
	limit, offset, ok := pageOf(w, q)
	if !ok {
		return
	}
	full := slices.Contains(q["include[]"], "integrations")

	services := []map[string]any{}
	for i := offset; i < len(keys) && i < offset+limit; i++ {
		id := fmt.Sprintf("PSVC%03d", i+1)
		integration := map[string]any{"id": fmt.Sprintf("PINT%03d", i+1), "type": "events_api_v2_inbound_integration_reference", "summary": "Events API v2"}
		if full {
			integration["type"] = "events_api_v2_inbound_integration"
			integration["name"] = "Events API v2"
			integration["integration_key"] = keys[i]
		}
		services = append(services, map[string]any{
			"id": id, "type": "service", "name": fmt.Sprintf("Service %d", i+1), "status": "active",
			"integrations": []map[string]any{integration},
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"services": services, "limit": limit, "offset": offset, "more": offset+limit < len(keys), "total": nil,
	})
}

func restError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": message, "code": code}})
}

// pageOf reads classic pagination (limit 1 to 100, default 25; offset, with at most 10,000 records
// reachable), answering 400 itself when it returns false.
func pageOf(w http.ResponseWriter, q url.Values) (limit, offset int, ok bool) {
	limit = 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			restError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: limit must be 1 to 100")
			return 0, 0, false
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n+limit > 10000 {
			restError(w, http.StatusBadRequest, 2001, "Invalid Input Provided: offset")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}
