package handlers

import (
	"fmt"
	"strings"
	"testing"
)

// TestNotAboutMeCannotQuietADuoGuardedAlarm: with Duo guarding the Yes, whoever holds a stolen
// Slack session can't get a Yes counted, but "not about me" asks Duo nothing. It paged as a
// warning (low urgency on most services), so the thief quieted the page with one click instead:
// where a Yes needs a push, a "not about me" (and the reason that follows it) pages as critically
// as a No, and the issue says so. Without Duo, or for an alarm that asks for no push, a "not about
// me" is a misrouted alarm and stays a warning.
func TestNotAboutMeCannotQuietADuoGuardedAlarm(t *testing.T) {
	for _, tc := range []struct {
		name  string
		duo   *MFAConfig
		extra string
		want  string
	}{
		{name: "no Duo: a warning", want: "warning"},
		{name: "Duo guards the Yes: critical", duo: &MFAConfig{Default: true}, want: "critical"},
		{name: `Duo, but the alarm says "mfa": false: a warning`, duo: &MFAConfig{Default: true}, extra: `"mfa":false,`, want: "warning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "U1")
			mc := &modalChat{fakeChat: w.chat}
			w.r.chat = mc
			if tc.duo != nil {
				w.r.UseSecondFactor(newMemDuo(), memEmails{"U1": "u1@example.com"}, *tc.duo)
			}
			w.handle(t, []byte(fmt.Sprintf(`{"type":"self-service","requestId":"req-1",%s"users":[{"slackId":"U1"}],"body":{"github":{"title":"Console login from Lisbon","body":"b"},"slack":{"message":"was this you?","prompt":"Did you log in?","actions":{"wrong":"Not about me"}}}}`, tc.extra)))
			if err := w.r.Answer(testCtx(t), Click{UserID: "U1", ActionID: ActionWrong, Value: w.prompt(t, "U1"), Channel: "DU1", TriggerID: "tr-1"}); err != nil {
				t.Fatal(err)
			}
			if len(mc.opened) != 1 {
				t.Fatalf("%d reason modals opened, want 1", len(mc.opened))
			}
			if err := w.r.Reason(testCtx(t), Submission{UserID: "U1", Metadata: mc.opened[0].Metadata, Text: "not me, honest"}); err != nil {
				t.Fatal(err)
			}
			pages := w.pager.Pages()
			if len(pages) != 2 {
				t.Fatalf("%d pages, want the answer's and the reason's", len(pages))
			}
			for _, p := range pages {
				if p.Severity != tc.want || !strings.Contains(p.Summary, "says this alarm is not about them") {
					t.Errorf("paged %q as %q; want %q", p.Summary, p.Severity, tc.want)
				}
			}
			cs, _ := w.issues.Comments(testCtx(t), testRepo, 1)
			for _, c := range cs {
				if tc.want == "critical" && strings.Contains(c.Body, "warning") {
					t.Errorf("the issue says %q; it was paged as critical", c.Body)
				}
			}
		})
	}
}
