package fakeslack

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func reasonView(title, metadata string) slack.ModalViewRequest {
	return slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, title, false, false),
		PrivateMetadata: metadata, Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("b", slack.NewTextBlockObject(slack.PlainTextType, "x", false, false), nil, slack.NewPlainTextInputBlockElement(nil, "a"))}}}
}

// TestTriggerIDWorksOnceWithinThreeSeconds: views.open takes a trigger_id once, within 3 s, as Slack
// does, and holds a view to Slack's limits.
func TestTriggerIDWorksOnceWithinThreeSeconds(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	api := newAPI(srv)
	srv.mu.Lock()
	srv.rememberTriggerLocked("T-fresh", "U1", time.Now())
	srv.rememberTriggerLocked("T-old", "U1", time.Now().Add(-triggerLife-time.Millisecond))
	srv.rememberTriggerLocked("T-big", "U1", time.Now())
	srv.mu.Unlock()
	ctx := testCtx(t)
	if _, err := api.OpenViewContext(ctx, "T-fresh", reasonView("What happened?", "m")); err != nil {
		t.Fatalf("first use: %v", err)
	}
	for trig, want := range map[string]string{"T-fresh": "exchanged_trigger_id", "T-old": "expired_trigger_id", "T-none": "invalid_trigger_id"} {
		if _, err := api.OpenViewContext(ctx, trig, reasonView("What happened?", "m")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %s", trig, err, want)
		}
	}
	if _, err := api.OpenViewContext(ctx, "T-big", reasonView(strings.Repeat("x", 25), strings.Repeat("m", 3001))); err == nil || !strings.Contains(err.Error(), "invalid_arguments") {
		t.Errorf("a 25-character title and 3,001 characters of metadata: err %v", err)
	}
	if ms := srv.Modals("U1"); len(ms) != 1 || ms[0].Closed {
		t.Fatalf("modals %+v", ms)
	}
}

// TestViewSubmissionAckDecidesTheModal: no response_action closes the modal, "errors" keeps it open.
func TestViewSubmissionAckDecidesTheModal(t *testing.T) {
	srv := newServer(t, Options{})
	addAlice(srv)
	srv.mu.Lock()
	srv.rememberTriggerLocked("T1", "U1", time.Now())
	srv.mu.Unlock()
	v, err := newAPI(srv).OpenViewContext(testCtx(t), "T1", reasonView("What happened?", "meta"))
	if err != nil {
		t.Fatal(err)
	}
	sc := startSocket(t, srv)
	sc.next(t, "hello")
	id, err := srv.SubmitView("U1", v.ID, map[string]map[string]string{"b": {"a": "words"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := sc.next(t, "interactive")
	cb := ev.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.PrivateMetadata != "meta" || cb.View.State.Values["b"]["a"].Value != "words" {
		t.Fatalf("submission %+v", cb.View)
	}
	sc.client.Ack(*ev.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"b": "too short"}))
	if _, err := srv.WaitAck(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if srv.Modals("U1")[0].Closed {
		t.Fatal("an errors response closed the modal")
	}
	id, _ = srv.SubmitView("U1", v.ID, map[string]map[string]string{"b": {"a": "more words"}})
	ev = sc.next(t, "interactive")
	sc.client.Ack(*ev.Request)
	if _, err := srv.WaitAck(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if !srv.Modals("U1")[0].Closed {
		t.Fatal("a plain ack left the modal open")
	}
}
