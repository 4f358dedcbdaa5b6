package handlers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// dispatch reads two of its own labels as state: dispatch:test (a No never pages) and
// dispatch:escalated (the alarm counts as answered). A publisher who writes them into a real alarm
// must not silence its escalation; only /dispatch test's signed requestId makes a test.
func TestAlarmLabelsCannotSetDispatchsState(t *testing.T) {
	for _, label := range []string{LabelTest, LabelEscalated, "Dispatch:Test", LabelDispatch} {
		t.Run(label, func(t *testing.T) {
			body := strings.Replace(string(selfService("req-l", "Login from a new device", "a", []string{"UALICE"}, "")), `"body":"a"`, fmt.Sprintf(`"body":"a","labels":[%q,"aws"]`, label), 1)
			w := newWorld(t, "UALICE")
			w.handle(t, []byte(body))
			is, err := w.issues.Get(testCtx(t), testRepo, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(is.Labels, []string{LabelDispatch, "aws"}) {
				t.Errorf("issue labels %v, want [dispatch aws]: dispatch's own labels are its to set", is.Labels)
			}
			w.click(t, "UALICE", ActionNo, w.prompt(t, "UALICE"))
			if n := len(w.pager.Pages()); n != 1 {
				t.Errorf("a real alarm labelled %s by its publisher: its No made %d pages, want 1", label, n)
			}
		})
	}
}

// The /dispatch test alarm is a test because dispatch signed it, whole: its issue is labelled
// dispatch:test and a No never pages. The same requestId with a forged signature is a real alarm, and
// so is any other alarm carrying the signed requestId (the member reads it in the DM): a real alarm
// under it, or the sample itself with a field changed.
func TestOnlyASignedSampleIsATest(t *testing.T) {
	sample := SampleAlarm("UALICE", time.Unix(1_700_000_000, 0), [][]byte{testKey})
	var forged map[string]any
	if err := json.Unmarshal(sample, &forged); err != nil {
		t.Fatal(err)
	}
	id := forged["requestId"].(string)
	forged["requestId"] = id[:strings.LastIndex(id, ".")+1] + strings.Repeat("A", 22)
	forgedBody, _ := json.Marshal(forged)
	// A publisher reuses the signed requestId on a real alarm to the same user.
	reused := selfService(id, "Login from a new device", "details", []string{"UALICE"}, "")
	// Or keeps the sample whole and adds a deadline of its own.
	amended := []byte(strings.Replace(string(sample), `{`, `{"escalateAfter":"1m",`, 1))
	for _, tc := range []struct {
		name  string
		body  []byte
		test  bool
		pages int
	}{
		{"signed by dispatch", sample, true, 0},
		{"signature forged", forgedBody, false, 1},
		{"its requestId on a real alarm", reused, false, 1},
		{"the sample with a field added", amended, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "UALICE")
			w.handle(t, tc.body)
			is, err := w.issues.Get(testCtx(t), testRepo, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := is.HasLabel(LabelTest); got != tc.test {
				t.Errorf("labelled %s: %v, want %v (labels %v)", LabelTest, got, tc.test, is.Labels)
			}
			w.click(t, "UALICE", ActionNo, w.prompt(t, "UALICE"))
			if n := len(w.pager.Pages()); n != tc.pages {
				t.Errorf("the No made %d pages, want %d", n, tc.pages)
			}
		})
	}
}
