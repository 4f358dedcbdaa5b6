package alerts_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
)

// mustDecode decodes a message that must be valid.
func mustDecode(tb testing.TB, data []byte) (alerts.Alarm, []string) {
	tb.Helper()
	a, warnings, err := alerts.Decode(data)
	if err != nil {
		tb.Fatalf("Decode(%.200q): %v", data, err)
	}
	return a, warnings
}

// problemFields returns the Field of every problem err lists, in order; nil when err is nil. Any
// other error than an *alerts.InvalidError with at least one problem fails the test.
func problemFields(tb testing.TB, err error) []string {
	tb.Helper()
	if err == nil {
		return nil
	}
	var inv *alerts.InvalidError
	if !errors.As(err, &inv) {
		tb.Fatalf("error %v (%T) is not an *alerts.InvalidError", err, err)
	}
	if len(inv.Problems) == 0 {
		tb.Fatalf("InvalidError with no problems")
	}
	fields := make([]string, len(inv.Problems))
	for i, p := range inv.Problems {
		if p.Message == "" {
			tb.Errorf("problem %d (field %q) has no message", i, p.Field)
		}
		fields[i] = p.Field
	}
	return fields
}

// checkValid asserts what Decode promises of every alarm it accepts.
func checkValid(tb testing.TB, a alerts.Alarm) {
	tb.Helper()
	if !slices.Contains(alerts.Types, a.Type) {
		tb.Errorf("type %q is not one of alerts.Types", a.Type)
	}
	if a.Type.NeedsUsers() {
		if len(a.Users) == 0 {
			tb.Errorf("%s alarm without users", a.Type)
		}
		for i, u := range a.Users {
			if u.SlackID == "" && u.Slack == "" && u.Email == "" {
				tb.Errorf("users[%d] can't be reached on Slack: %+v", i, u)
			}
		}
		if strings.TrimSpace(a.SlackMessage) == "" {
			tb.Errorf("%s alarm without a Slack message", a.Type)
		}
	}
	if a.Type.OpensIssue() && a.GitHubTitle == "" {
		tb.Errorf("%s alarm without a GitHub title", a.Type)
	}
	if a.Type == alerts.HighPriority && strings.TrimSpace(a.PagerDutyTitle) == "" {
		tb.Errorf("high-priority alarm without a PagerDuty title")
	}
	for name, v := range map[string]string{
		"SlackPrompt": a.SlackPrompt, "Actions.Yes": a.Actions.Yes, "Actions.No": a.Actions.No,
		"Actions.YesResponse": a.Actions.YesResponse, "Actions.NoResponse": a.Actions.NoResponse,
	} {
		if v == "" {
			tb.Errorf("%s is empty: defaults not applied", name)
		}
	}
	if a.Type != alerts.SelfService && (a.RemindAfter != 0 || a.EscalateAfter != 0) {
		tb.Errorf("%s alarm keeps remindAfter %v / escalateAfter %v", a.Type, a.RemindAfter, a.EscalateAfter)
	}
}

// Messages the tests below vary. Each is valid as it stands.
const (
	selfServiceMsg = `{"type":"self-service","users":[{"slack":"alice","github":"alice"}],` +
		`"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`
	highMsg = `{"type":"high-priority","body":{"pagerduty":{"title":"p"}}}`
	lowMsg  = `{"type":"low-priority","body":{"github":{"title":"t"}}}`
)

// selfService returns a self-service message with extra top-level members and the given body.github
// and users (JSON text; "" keeps the defaults of selfServiceMsg).
func selfService(extra, github, users string) []byte {
	if github == "" {
		github = `{"title":"t"}`
	}
	if users == "" {
		users = `[{"slack":"alice","github":"alice"}]`
	}
	if extra != "" {
		extra += ","
	}
	return fmt.Appendf(nil, `{%s"type":"self-service","users":%s,"body":{"github":%s,"slack":{"message":"m"}}}`,
		extra, users, github)
}

func TestDecodeTypes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want alerts.Type
	}{
		{selfServiceMsg, alerts.SelfService},
		{highMsg, alerts.HighPriority},
		{`{"type":"high","body":{"pagerduty":{"title":"p"}}}`, alerts.HighPriority},
		{lowMsg, alerts.LowPriority},
		{`{"type":"low","body":{"github":{"title":"t"}}}`, alerts.LowPriority},
		{strings.Replace(selfServiceMsg, "self-service", "broadcast", 1), alerts.Broadcast},
		{strings.Replace(selfServiceMsg, "self-service", "nag", 1), alerts.Nag},
	} {
		a, _ := mustDecode(t, []byte(tc.in))
		if a.Type != tc.want {
			t.Errorf("Decode(%s).Type = %q, want %q", tc.in, a.Type, tc.want)
		}
	}
}

func TestDecodeOptionalFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		check func(t *testing.T, a alerts.Alarm)
	}{
		{"requestId kept", selfService(`"requestId":"cw-alarm:prod/42@2026-11-27T09:14=+"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.RequestID != "cw-alarm:prod/42@2026-11-27T09:14=+" || a.ID("sns-1") != a.RequestID {
				t.Errorf("RequestID = %q, ID = %q", a.RequestID, a.ID("sns-1"))
			}
		}},
		{"no requestId", []byte(selfServiceMsg), func(t *testing.T, a alerts.Alarm) {
			if a.RequestID != "" || a.ID("sns-1") != "msg-sns-1" {
				t.Errorf("RequestID = %q, ID = %q, want \"\" and msg-sns-1", a.RequestID, a.ID("sns-1"))
			}
		}},
		{"requestId of 128 characters", selfService(`"requestId":"`+strings.Repeat("r", alerts.MaxRequestID)+`"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if len(a.RequestID) != alerts.MaxRequestID {
				t.Errorf("RequestID has %d characters", len(a.RequestID))
			}
		}},
		{"githubRepo name", selfService(`"githubRepo":"alarms"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.GitHubRepo != "alarms" || a.Repo("acme/security") != "acme/alarms" {
				t.Errorf("GitHubRepo = %q, Repo = %q", a.GitHubRepo, a.Repo("acme/security"))
			}
		}},
		{"githubRepo owner/name", selfService(`"githubRepo":"other-org/alarms.v2"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.Repo("acme/security") != "other-org/alarms.v2" {
				t.Errorf("Repo = %q", a.Repo("acme/security"))
			}
		}},
		{"no githubRepo", []byte(selfServiceMsg), func(t *testing.T, a alerts.Alarm) {
			if a.Repo("acme/security") != "acme/security" {
				t.Errorf("Repo = %q", a.Repo("acme/security"))
			}
		}},
		{"pagerDutyServiceId", selfService(`"pagerDutyServiceId":"PABC123"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.PagerDutyServiceID != "PABC123" {
				t.Errorf("PagerDutyServiceID = %q", a.PagerDutyServiceID)
			}
		}},
		{"retrigger absent", []byte(selfServiceMsg), func(t *testing.T, a alerts.Alarm) {
			if !a.Retrigger {
				t.Error("Retrigger = false, want the default true")
			}
		}},
		{"retrigger null", selfService(`"retrigger":null`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if !a.Retrigger {
				t.Error("Retrigger = false, want the default true")
			}
		}},
		{"retrigger false", selfService(`"retrigger":false`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.Retrigger {
				t.Error("Retrigger = true, want false")
			}
		}},
		{"the last of duplicate keys wins", []byte(`{"type":"nag","type":"low","body":{"github":{"title":"t"}}}`), func(t *testing.T, a alerts.Alarm) {
			if a.Type != alerts.LowPriority {
				t.Errorf("Type = %q", a.Type)
			}
		}},
		{"user fields trimmed, @ stripped", selfService("", "", `[{"slack":" @alice ","github":"@alice-w","email":" a@example.com "},{"slackId":" U024BE7LH "}]`), func(t *testing.T, a alerts.Alarm) {
			want := []alerts.User{{Slack: "alice", GitHub: "alice-w", Email: "a@example.com"}, {SlackID: "U024BE7LH"}}
			if !slices.Equal(a.Users, want) {
				t.Errorf("Users = %+v, want %+v", a.Users, want)
			}
		}},
		{"labels trimmed", selfService("", `{"title":"t","labels":[" aws ","prod"]}`, ""), func(t *testing.T, a alerts.Alarm) {
			if !slices.Equal(a.GitHubLabels, []string{"aws", "prod"}) {
				t.Errorf("GitHubLabels = %q", a.GitHubLabels)
			}
		}},
		{"title trimmed", selfService("", `{"title":"  disk full  "}`, ""), func(t *testing.T, a alerts.Alarm) {
			if a.GitHubTitle != "disk full" {
				t.Errorf("GitHubTitle = %q", a.GitHubTitle)
			}
		}},
		{"defaults", []byte(selfServiceMsg), func(t *testing.T, a alerts.Alarm) {
			want := alerts.Actions{Yes: alerts.DefaultYes, No: alerts.DefaultNo,
				YesResponse: alerts.DefaultYesResponse, NoResponse: alerts.DefaultNoResponse}
			if a.SlackPrompt != alerts.DefaultPrompt || a.Actions != want {
				t.Errorf("SlackPrompt = %q, Actions = %+v", a.SlackPrompt, a.Actions)
			}
		}},
		{"blank actions get defaults", []byte(`{"type":"self-service","users":[{"slack":"a"}],"body":{"github":{"title":"t"},` +
			`"slack":{"message":"m","actions":{"yes":" ","no":"","yes_response":null,"no_response":"Paged."}}}}`),
			func(t *testing.T, a alerts.Alarm) {
				want := alerts.Actions{Yes: alerts.DefaultYes, No: alerts.DefaultNo,
					YesResponse: alerts.DefaultYesResponse, NoResponse: "Paged."}
				if a.Actions != want {
					t.Errorf("Actions = %+v, want %+v", a.Actions, want)
				}
			}},
		{"durations", selfService(`"remindAfter":"1h30m","escalateAfter":"168h"`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.RemindAfter != 90*time.Minute || a.EscalateAfter != alerts.MaxDuration {
				t.Errorf("RemindAfter = %v, EscalateAfter = %v", a.RemindAfter, a.EscalateAfter)
			}
		}},
		{"empty durations are absent", selfService(`"remindAfter":"","escalateAfter":null`, "", ""), func(t *testing.T, a alerts.Alarm) {
			if a.RemindAfter != 0 || a.EscalateAfter != 0 {
				t.Errorf("RemindAfter = %v, EscalateAfter = %v", a.RemindAfter, a.EscalateAfter)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, warnings := mustDecode(t, tc.in)
			if len(warnings) != 0 {
				t.Errorf("warnings = %q, want none", warnings)
			}
			checkValid(t, a)
			tc.check(t, a)
		})
	}
}

func TestDecodeWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"trailing brace", highMsg + "}", []string{"ignored 1 trailing characters after the JSON object"}},
		{"trailing object", highMsg + ` {"type":"low"}`, []string{"a second JSON value (an object) follows the alarm and is ignored: publish one alarm per message"}},
		{"trailing array", highMsg + `[1]`, []string{"a second JSON value (an array) follows the alarm and is ignored: publish one alarm per message"}},
		{"trailing object, cut short", highMsg + ` {"type":`, []string{"ignored 8 trailing characters after the JSON object"}},
		{"trailing whitespace is not a warning", " \n" + highMsg + " \r\n\t", nil},
		{"durations on another type", `{"type":"high","remindAfter":"15m","escalateAfter":"1h","body":{"pagerduty":{"title":"p"}}}`,
			[]string{"remindAfter and escalateAfter apply to self-service alarms only; ignored"}},
		{"both", `{"type":"low","remindAfter":"15m","body":{"github":{"title":"t"}}}}`, []string{
			"ignored 1 trailing characters after the JSON object",
			"remindAfter and escalateAfter apply to self-service alarms only; ignored",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, warnings := mustDecode(t, []byte(tc.in))
			if !slices.Equal(warnings, tc.want) {
				t.Errorf("warnings = %q, want %q", warnings, tc.want)
			}
			checkValid(t, a)
		})
	}
}

func TestDecodeLimitsAccepted(t *testing.T) {
	users := strings.TrimSuffix(strings.Repeat(`{"slack":"u"},`, alerts.MaxUsers), ",")
	labels := strings.TrimSuffix(strings.Repeat(`"l",`, alerts.MaxLabels), ",")
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"MaxUsers users", selfService("", "", "["+users+"]")},
		{"MaxLabels labels", selfService("", `{"title":"t","labels":[`+labels+`]}`, "")},
		{"label of MaxLabelRunes", selfService("", `{"title":"t","labels":["`+strings.Repeat("é", alerts.MaxLabelRunes)+`"]}`, "")},
		{"title of MaxTitleRunes multi-byte characters", selfService("", `{"title":"`+strings.Repeat("é", alerts.MaxTitleRunes)+`"}`, "")},
		{"message of exactly MaxMessageBytes", padded(highMsg, alerts.MaxMessageBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := mustDecode(t, tc.in)
			checkValid(t, a)
		})
	}
}

// padded adds an unknown "padding" member to the JSON object msg so that it is exactly size bytes.
func padded(msg string, size int) []byte {
	head := strings.TrimSuffix(msg, "}") + `,"padding":"`
	return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
}
