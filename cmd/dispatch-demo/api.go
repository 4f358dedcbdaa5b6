package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/docs/examples"
)

//go:embed web
var web embed.FS

// maxAlarm is SNS's limit on a message: 256 KiB.
const maxAlarm = 256 << 10

// handler serves the page and its small JSON API:
//
//	GET  /api/state     what Slack, GitHub and PagerDuty hold now (see state.go)
//	GET  /api/examples  the example alarms of docs/examples, by file name
//	POST /api/publish   {"alarm": "<any text>"} published to the SNS topic as is
//	POST /api/click     {"user","channel","ts","actionId"}: that person clicks that button
//	POST /api/duo       {"id","answer"}: the push's user answers it on their phone, "approve" or
//	                    "deny" (the pushes waiting are the state's duoPushes, id their txid)
//
// The page can publish alarms and answer in anyone's name, so it refuses requests that another
// site could make from the visitor's browser: a Host that is not the address it listens on
// (DNS rebinding), an Origin that is not its own, and a POST that is not application/json
// (which a cross-site form cannot send without a CORS preflight, which is never answered).
func (d *Demo) handler(log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(web, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.state())
	})
	mux.HandleFunc("GET /api/examples", func(w http.ResponseWriter, r *http.Request) {
		out, err := exampleAlarms()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/publish", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Alarm string `json:"alarm"`
		}
		if !decode(w, r, &req) {
			return
		}
		if strings.TrimSpace(req.Alarm) == "" {
			writeError(w, http.StatusBadRequest, errors.New("the alarm is empty"))
			return
		}
		if len(req.Alarm) > maxAlarm {
			writeError(w, http.StatusRequestEntityTooLarge, errors.New("an SNS message is at most 256 KiB"))
			return
		}
		id, err := d.svc.Publish(r.Context(), d.svc.SNSTopic, req.Alarm)
		if err != nil {
			log.Error().Err(err).Msg("demo: publish")
			writeError(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"messageId": id})
	})
	mux.HandleFunc("POST /api/click", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User     string `json:"user"`
			Channel  string `json:"channel"`
			TS       string `json:"ts"`
			ActionID string `json:"actionId"`
		}
		if !decode(w, r, &req) {
			return
		}
		id, err := d.svc.Slack.ClickButton(req.User, req.Channel, req.TS, req.ActionID)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if _, err := d.svc.Slack.WaitAck(ctx, id); err != nil {
			writeError(w, http.StatusGatewayTimeout, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"envelopeId": id})
	})
	mux.HandleFunc("POST /api/duo", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     string `json:"id"`
			Answer string `json:"answer"`
		}
		if !decode(w, r, &req) {
			return
		}
		if code, err := d.answerPush(req.ID, req.Answer); err != nil {
			writeError(w, code, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": req.ID, "answer": req.Answer})
	})
	return d.sameOrigin(mux)
}

// sameOrigin refuses requests not made by the page itself (see handler).
func (d *Demo) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.ownHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, errors.New("unknown host: open the URL dispatch-demo printed"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			writeError(w, http.StatusForbidden, errors.New("cross-origin request refused"))
			return
		}
		if r.Method == http.MethodPost {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, errors.New("send application/json"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ownHost tells whether host names the listener: its own address, or localhost at its port.
func (d *Demo) ownHost(host string) bool {
	addr := d.ln.Addr().(*net.TCPAddr)
	h, port, err := net.SplitHostPort(host)
	if err != nil || port != strconv.Itoa(addr.Port) {
		return false
	}
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && (ip.Equal(addr.IP) || addr.IP.IsUnspecified() && ip.IsLoopback()))
}

// exampleAlarms returns the examples' text by file name.
func exampleAlarms() (map[string]string, error) {
	names, err := fs.Glob(examples.FS, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make(map[string]string, len(names))
	for _, n := range names {
		b, err := examples.FS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[n] = string(b)
	}
	return out, nil
}

// decode reads a JSON request body of at most twice maxAlarm into v, answering 400 itself when
// it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 2*maxAlarm))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
