package bot

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprofSetting(t *testing.T) {
	for _, tc := range []struct {
		v       string
		on, bad bool
	}{
		{"", false, false}, {"true", true, false}, {" 1 ", true, false}, {"false", false, false},
		{"yes", false, true},
	} {
		m := valid()
		m[PprofEnv] = tc.v
		c, err := LoadConfig(env(m))
		if c.Pprof != tc.on || (err != nil) != tc.bad {
			t.Errorf("%s=%q: Pprof %v, err %v; want %v, error %v", PprofEnv, tc.v, c.Pprof, err, tc.on, tc.bad)
		}
	}
}

func TestMountPprofServesProfiles(t *testing.T) {
	mux := http.NewServeMux()
	mountPprof(mux)
	for path, want := range map[string]int{
		"/debug/pprof/":                  http.StatusOK,
		"/debug/pprof/heap":              http.StatusOK,
		"/debug/pprof/goroutine?debug=1": http.StatusOK,
		"/debug/pprof/cmdline":           http.StatusOK,
		"/debug/pprof/nosuchprofile":     http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}
