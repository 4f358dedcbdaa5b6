// Package fakeslack is an in-memory fake of Slack's Web API and Socket Mode that speaks the
// real wire protocol, so the real slack-go client runs against it unchanged:
//
//	srv := fakeslack.New(fakeslack.Options{})
//	defer srv.Close()
//	o := srv.Options()
//	api := slack.New(o.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(o.AppToken))
//	smc := socketmode.New(api) // RunContext dials the fake's websocket
//
// Tests seed state (AddUser, AddChannel), drive Slack's side of the conversation (ClickButton,
// SlashCommand, SendEvent, Disconnect), inject faults (FailNext, SetError, SetLatency,
// SetPostRateLimit) and inspect what the client did (Messages, DMs, WaitAck, Calls).
//
// All state belongs to one Server and is guarded by its mutex; several servers can run in one
// test binary.
package fakeslack

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dispatch-oss/dispatch/fakes/internal/conntrack"
	"github.com/dispatch-oss/dispatch/fakes/internal/servicetime"
)

// Options configures a Server. The zero value is usable: every empty field gets the default
// named in its comment.
type Options struct {
	BotToken  string // default "xoxb-test-bot-token"
	AppToken  string // default "xapp-test-app-token"
	TeamID    string // default "T0001"
	AppID     string // default "A0001"
	BotUserID string // default "UBOT"

	// PingInterval is how often the server sends websocket PING frames. Default 5s. slack-go
	// reconnects when it sees no PING within its own OptionPingInterval (30s by default), so
	// keep this below the client's setting.
	PingInterval time.Duration

	// RedeliverAfter resends an envelope that is not acked within this long, with
	// retry_attempt+1 and retry_reason "timeout", at most maxRetries times. Default 0: never.
	RedeliverAfter time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.BotToken, "xoxb-test-bot-token")
	def(&o.AppToken, "xapp-test-app-token")
	def(&o.TeamID, "T0001")
	def(&o.AppID, "A0001")
	def(&o.BotUserID, "UBOT")
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.RedeliverAfter < 0 {
		o.RedeliverAfter = 0
	}
	return o
}

// Server is a running fake Slack. Create it with New and stop it with Close. All methods are
// safe for concurrent use.
type Server struct {
	opts     Options
	http     *httptest.Server
	apiURL   string
	linkURL  string
	baseURL  string
	upgrader websocket.Upgrader

	done chan struct{} // closed by Close; ends sleeps and background goroutines
	wg   sync.WaitGroup
	tcp  conntrack.Tracker // TCP connections, websockets included

	mu      sync.Mutex
	closed  bool
	changed chan struct{} // closed and replaced on every state change; see waitFor
	seq     int64         // source of timestamps and ids

	// Web API state (state.go).
	users         []*User
	channels      map[string]*channel
	ephemerals    map[string][]*storedMessage
	homes         map[string]*homeView
	lastTS        int64 // micros of the newest message ts
	triggers      map[string]*trigger
	modals        map[string]*modal
	submissions   map[string]string // envelope id → view id of a view_submission
	responseURLs  map[string]responseTarget
	responsePosts []ResponseURLPost
	usersPageSize int

	// Fault injection (faults.go).
	calls       map[string]int
	latency     map[string]time.Duration
	failures    map[string]*failure
	slackErrors map[string]*slackError
	postLimit   *postLimit
	limits      map[string]*methodLimit // ratelimit.go: Slack's tiers, on by default
	limited     map[string]int          // calls the limits refused, by method
	// postViolations counts posts postLimit refused (kept across SetPostRateLimit calls).
	postViolations int
	serviceTime    servicetime.Clock // spent answering Web API calls, delays excluded
	connectLatency time.Duration     // more for the first request on a connection

	// Socket Mode (socketmode.go, envelopes.go).
	opens      int
	extraApp   map[string]bool // app-level tokens besides Options.AppToken (AddAppToken)
	revokedApp map[string]bool // RevokeAppToken
	tickets    map[string]bool
	conns      []*wsConn
	nextConn   int
	flushMu    sync.Mutex // serialises flush; taken without s.mu held
	queue      []*envelope
	envelopes  map[string]*envelope
	acks       []Ack
}

// New starts a fake Slack listening on 127.0.0.1 with a random port.
func New(opts Options) *Server {
	s := &Server{
		opts:          opts.withDefaults(),
		done:          make(chan struct{}),
		changed:       make(chan struct{}),
		channels:      map[string]*channel{},
		ephemerals:    map[string][]*storedMessage{},
		homes:         map[string]*homeView{},
		responseURLs:  map[string]responseTarget{},
		usersPageSize: 2,
		calls:         map[string]int{},
		latency:       map[string]time.Duration{},
		failures:      map[string]*failure{},
		slackErrors:   map[string]*slackError{},
		tickets:       map[string]bool{},
		envelopes:     map[string]*envelope{},
		limits:        defaultMethodLimits(1),
		limited:       map[string]int{},
	}
	s.postLimit = newPostLimit(defaultPostPerSecond, defaultPostBurst)
	// Slack's users.list includes the app's own bot user.
	s.users = append(s.users, &User{ID: s.opts.BotUserID, Name: "bot", RealName: "Bot", IsBot: true})
	// slack-go sends Origin https://api.slack.com, which a same-origin check would refuse.
	s.upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveLink)
	mux.HandleFunc("/response/", s.serveResponseURL)
	s.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conntrack.First(r) && !s.connectDelay(r) {
			return
		}
		mux.ServeHTTP(w, r)
	}))
	s.tcp.Track(s.http.Config)
	s.http.Start()
	s.baseURL = s.http.URL + "/"
	s.apiURL = s.http.URL + "/api/"
	s.linkURL = "ws://" + strings.TrimPrefix(s.http.URL, "http://") + "/link/"
	return s
}

// TCPConnections reports how many TCP connections clients have opened to the server: with
// keep-alive working, a handful; one per request when clients cannot reuse them.
func (s *Server) TCPConnections() int { return s.tcp.Opened() }

// APIURL is the Web API base for slack.OptionAPIURL, e.g. "http://127.0.0.1:PORT/api/". It ends
// with "/" because slack-go appends the method name to it.
func (s *Server) APIURL() string { return s.apiURL }

// Options returns the options in effect, defaults filled in (tokens, team, app and bot ids).
func (s *Server) Options() Options { return s.opts }

// Close drops every websocket connection, stops the HTTP server and waits for the server's own
// goroutines to end. Calls after the first do nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	conns := s.conns
	s.conns = nil
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range conns {
		c.close()
	}
	s.http.Close()
	s.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for; it reports false (and does not run f) once
// the server is closed.
func (s *Server) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// notifyLocked wakes every waitFor caller so it re-checks its condition.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor blocks until cond, evaluated with s.mu held, is true or ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nextSeqLocked returns a server-wide increasing number.
func (s *Server) nextSeqLocked() int64 {
	s.seq++
	return s.seq
}

// newTSLocked returns a unique, increasing message timestamp in Slack's "seconds.micros" form. As
// on Slack, it is the time the message was posted (dispatch reads a Duo approval's time from it),
// nudged forward a microsecond when two posts share one.
func (s *Server) newTSLocked() string {
	s.nextSeqLocked()
	micros := max(time.Now().UnixMicro(), s.lastTS+1)
	s.lastTS = micros
	return fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
}

// newTriggerIDLocked returns an id shaped like Slack's trigger ids ("123.456.hex").
func (s *Server) newTriggerIDLocked() string {
	return fmt.Sprintf("%d.%d.%s", 1700000000+s.nextSeqLocked(), 1000+s.seq, randomHex(16))
}

// botID is the bot_id Slack reports for the app's bot user: "B" plus the app id's digits.
func (s *Server) botID() string {
	return "B" + strings.TrimPrefix(s.opts.AppID, "A")
}

// randomHex returns n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return fmt.Sprintf("%x", b)[:n]
}

// newEnvelopeID returns a random UUID-shaped id, as Slack uses for envelopes.
func newEnvelopeID() string {
	h := randomHex(32)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// actionTS formats now the way Slack formats action_ts and event_ts.
func actionTS(now time.Time) string {
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}
