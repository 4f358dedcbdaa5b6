package fakeslack

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWireProtocol checks the websocket frames themselves with a bare gorilla client: the
// hello, server PINGs, PONGs to client pings, the envelope shape, acks, and single-use tickets.
func TestWireProtocol(t *testing.T) {
	srv := newServer(t, Options{PingInterval: 20 * time.Millisecond})
	addAlice(srv)
	_, url, err := newAPI(srv).StartSocketModeContext(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Origin": {"https://api.slack.com"}} // what slack-go sends
	ws, _, err := websocket.DefaultDialer.DialContext(testCtx(t), url, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()

	pings := make(chan struct{}, 1)
	ws.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return nil
	})
	pongs := make(chan string, 1)
	ws.SetPongHandler(func(data string) error {
		pongs <- data
		return nil
	})
	frames := make(chan map[string]any, 8)
	go func() {
		defer close(frames)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				frames <- m
			}
		}
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-frames:
			if !ok {
				t.Fatal("connection closed")
			}
			return m
		case <-time.After(waitTimeout):
			t.Fatal("no frame")
		}
		return nil
	}

	hello := next()
	if hello["type"] != "hello" || hello["num_connections"] != 1.0 ||
		hello["connection_info"].(map[string]any)["app_id"] != "A0001" || hello["debug_info"].(map[string]any)["host"] != "fake" {
		t.Errorf("hello = %v", hello)
	}
	select {
	case <-pings:
	case <-time.After(waitTimeout):
		t.Fatal("no PING from the server")
	}
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-pongs:
		if data != "are you there" {
			t.Errorf("pong data = %q", data)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no PONG for our ping")
	}

	envID, err := srv.SlashCommand("U1", "/dispatch", "help")
	if err != nil {
		t.Fatal(err)
	}
	env := next()
	for key, want := range map[string]any{
		"envelope_id": envID, "type": "slash_commands", "accepts_response_payload": true, "retry_attempt": 0.0, "retry_reason": "",
	} {
		if env[key] != want {
			t.Errorf("envelope %s = %#v, want %#v", key, env[key], want)
		}
	}
	if p, ok := env["payload"].(map[string]any); !ok || p["is_enterprise_install"] != "false" || p["command"] != "/dispatch" {
		t.Errorf("payload = %#v", env["payload"])
	}
	if err := ws.WriteJSON(map[string]any{"envelope_id": envID, "payload": map[string]any{"text": "ok"}}); err != nil {
		t.Fatal(err)
	}
	if ack, err := srv.WaitAck(testCtx(t), envID); err != nil || string(ack.Payload) != `{"text":"ok"}` {
		t.Errorf("ack = %+v, %v", ack, err)
	}

	// A ticket is good for one connection only.
	_, resp, err := websocket.DefaultDialer.DialContext(testCtx(t), url, header)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second dial with the same ticket: err = %v, resp = %v", err, resp)
	}
}
