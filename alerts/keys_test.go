package alerts_test

import (
	"slices"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
)

// TestDecodeWarnsAboutUnknownKeys: unknown keys, at every level, are accepted and ignored as the
// spec says, and each gets a warning naming the nearest known key when there is a likely one.
func TestDecodeWarnsAboutUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  []string
		check func(t *testing.T, a alerts.Alarm)
	}{
		{"the issue's misspellings", `{"type":"self-service","remindafter":"15m","pagerDutyServiceID":"PSERVICE",` +
			`"users":[{"slack":"alice"}],"body":{"github":{"title":"t"},"slack":{"message":"m","promt":"p"}}}`,
			[]string{
				"pagerDutyServiceID: unknown key, ignored: did you mean `pagerDutyServiceId`?",
				"remindafter: unknown key, ignored: did you mean `remindAfter`?",
				"body.slack.promt: unknown key, ignored: did you mean `prompt`?",
			},
			func(t *testing.T, a alerts.Alarm) {
				if a.RemindAfter != 0 || a.PagerDutyServiceID != "" || a.SlackPrompt != alerts.DefaultPrompt {
					t.Errorf("a misspelt key was used: %+v", a)
				}
			}},
		{"every nested object", `{"type":"self-service","users":[{"slack":"alice"},{"slak":"bob","email":"bob@example.com"}],` +
			`"body":{"gihub":{},"github":{"title":"t","lables":["x"]},"slack":{"message":"m","actons":{},"actions":{"yess":"Y","no_respons":"n"}},` +
			`"pagerduty":{"titel":"p"}}}`,
			[]string{
				"users[1].slak: unknown key, ignored: did you mean `slack`?",
				"body.gihub: unknown key, ignored: did you mean `github`?",
				"body.github.lables: unknown key, ignored: did you mean `labels`?",
				"body.slack.actons: unknown key, ignored: did you mean `actions`?",
				"body.slack.actions.no_respons: unknown key, ignored: did you mean `no_response`?",
				"body.slack.actions.yess: unknown key, ignored: did you mean `yes`?",
				"body.pagerduty.titel: unknown key, ignored: did you mean `title`?",
			}, nil},
		{"a publisher's own keys, nothing near", `{"type":"self-service","Subject":"","severity":3,"tags":["x"],` +
			`"users":[{"slack":"alice","name":"Alice","id":7,"teams":{"a":1}}],` +
			`"body":{"github":{"title":"t","assignee":"bob"},"slack":{"message":"m","color":"red"},"html":"<b>"}}`,
			[]string{
				"Subject: unknown key, ignored", "severity: unknown key, ignored", "tags: unknown key, ignored",
				"users[0].id: unknown key, ignored", "users[0].name: unknown key, ignored", "users[0].teams: unknown key, ignored",
				"body.html: unknown key, ignored", "body.github.assignee: unknown key, ignored", "body.slack.color: unknown key, ignored",
			},
			func(t *testing.T, a alerts.Alarm) {
				if len(a.Users) != 1 || a.Users[0] != (alerts.User{Slack: "alice"}) {
					t.Errorf("Users = %+v", a.Users)
				}
			}},
		{"keys are case-sensitive", `{"type":"self-service","TYPE":"high","Users":5,"tpye":"x","users":[{"slack":"alice"}],` +
			`"body":{"github":{"title":"t"},"slack":{"message":"m"}},"escalateAfter":"1h"}`,
			[]string{
				"TYPE: unknown key, ignored: did you mean `type`?",
				"Users: unknown key, ignored: did you mean `users`?",
				"tpye: unknown key, ignored: did you mean `type`?",
			},
			func(t *testing.T, a alerts.Alarm) {
				if a.Type != alerts.SelfService || len(a.Users) != 1 || a.EscalateAfter != time.Hour {
					t.Errorf("Type = %q, Users = %+v", a.Type, a.Users)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, warnings := mustDecode(t, []byte(tc.in))
			if !slices.Equal(warnings, tc.want) {
				t.Errorf("warnings =\n%q\nwant\n%q", warnings, tc.want)
			}
			checkValid(t, a)
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// TestDecodeWarnsAboutUnknownKeysOfAnInvalidAlarm: the warnings come with the problems, so that
// a misspelt required key explains the "is required" it causes.
func TestDecodeWarnsAboutUnknownKeysOfAnInvalidAlarm(t *testing.T) {
	_, warnings, err := alerts.Decode([]byte(`{"type":"high","body":{"pagerduty":{"tittle":"p"}}}`))
	if err == nil {
		t.Fatal("a high-priority alarm without body.pagerduty.title was accepted")
	}
	if want := []string{"body.pagerduty.tittle: unknown key, ignored: did you mean `title`?"}; !slices.Equal(warnings, want) {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
}
