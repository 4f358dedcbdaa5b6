package handlers

import (
	"errors"
	"strings"
	"testing"
)

// TestRejectNoticeNeverEchoesATask: a rejected body that looks like a dispatch task is not shown at
// all, and any other body only as a short, quoted excerpt.
func TestRejectNoticeNeverEchoesATask(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, body string
		hidden     []string // must not appear in the notice
		shown      string   // must appear
	}{
		{"a task", `{"dispatchTask":{"kind":"answer"},"sig":"` + sig + `"}`, []string{sig, "dispatchTask"}, "looks like a dispatch task"},
		{"a task with an escaped key", `{"dispatch\u0054ask":{"kind":"answer"},"sig":"` + sig + `"}`, []string{sig}, "looks like a dispatch task"},
		{"a task inside an SNS envelope", `{"Type":"Notification","Message":"{\"dispatchTask\":{},\"sig\":\"` + sig + `\"}"}`, []string{sig}, "looks like a dispatch task"},
		{"a long body", `{"type":"low","x":"` + strings.Repeat("y", 1000) + `"}`, []string{strings.Repeat("y", 200)}, `"{\"type\":\"low\"`},
		{"newlines and quotes", "line one\n*bold* \"quoted\"\x00", []string{"line one\n"}, `"line one\n*bold* \"quoted\"\x00"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := rejectNotice(Inbound{DeliveryID: "d1", Body: []byte(tc.body)}, errors.New("not routable"))
			for _, h := range tc.hidden {
				if strings.Contains(m.Body, h) {
					t.Errorf("the notice shows %.20q…:\n%s", h, m.Body)
				}
			}
			if !strings.Contains(m.Body, tc.shown) || !strings.Contains(m.Body, "not routable") {
				t.Errorf("the notice lacks %q:\n%s", tc.shown, m.Body)
			}
			if len(m.Body) > len("not routable")+maxRejectExcerpt*6+100 {
				t.Errorf("the notice is %d bytes", len(m.Body))
			}
		})
	}
}

// TestRejectNoticeCutsTheReason: a reason quoting the publisher at length (an SNS envelope's "Type"
// of 30 KB) shows at most maxRejectExcerpt characters of it.
func TestRejectNoticeCutsTheReason(t *testing.T) {
	reason := errors.New("SNS envelope of type " + strings.Repeat("A", 30000))
	m := rejectNotice(Inbound{DeliveryID: "d1", Body: []byte(`{"Type":1}`)}, reason)
	got, _, _ := strings.Cut(m.Body, "\n\n")
	if n := len([]rune(got)); n > maxRejectExcerpt || !strings.HasPrefix(got, "SNS envelope of type AAA") {
		t.Errorf("the notice's reason is %d characters, want at most %d: %.80q", n, maxRejectExcerpt, got)
	}
}
