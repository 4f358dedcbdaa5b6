package alerts_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/alerts"
)

func TestDecodeInvalid(t *testing.T) {
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	long := func(n int) string { return strings.Repeat("é", n) }
	selfServiceWithSlack := func(slack string) []byte {
		return fmt.Appendf(nil, `{"type":"self-service","users":[{"slack":"a"}],"body":{"github":{"title":"t"},"slack":%s}}`, slack)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		fields []string // the Field of every problem, in order: all of them are reported at once
	}{
		// Not one JSON object.
		{name: "empty", in: []byte(""), fields: []string{""}},
		{name: "blank", in: []byte(" \n\t"), fields: []string{""}},
		{name: "not JSON", in: []byte("type: high"), fields: []string{""}},
		{name: "truncated", in: []byte(`{"type":"high"`), fields: []string{""}},
		{name: "single quotes", in: []byte(`{'type':'high'}`), fields: []string{""}},
		{name: "raw NUL byte in a string", in: []byte("{\"type\":\"hi\x00gh\"}"), fields: []string{""}},
		{name: "array", in: []byte(`[` + highMsg + `]`), fields: []string{""}},
		{name: "string", in: []byte(`"{\"type\":\"high\"}"`), fields: []string{""}},
		{name: "number", in: []byte(`42`), fields: []string{""}},
		{name: "null", in: []byte(`null`), fields: []string{""}},
		{name: "boolean", in: []byte(`true`), fields: []string{""}},
		{name: "oversize", in: padded(highMsg, alerts.MaxMessageBytes+1), fields: []string{""}},
		{name: "invalid UTF-8", in: []byte("{\"type\":\"high\",\"body\":{\"pagerduty\":{\"title\":\"caf\xe9\"}}}"), fields: []string{""}},
		{name: "invalid UTF-8 in trailing characters", in: []byte(highMsg + "\xff"), fields: []string{""}},

		// type.
		{name: "no type", in: []byte(`{"body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "null type", in: []byte(`{"type":null,"body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "empty type", in: []byte(`{"type":"","body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "unknown type", in: []byte(`{"type":"medium","body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "type in another case", in: []byte(`{"type":"High","body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "SNS envelope key Type", in: []byte(`{"Type":"Notification","Message":"{}"}`), fields: []string{"type"}},
		{name: "type as number", in: []byte(`{"type":1,"body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},
		{name: "type with NUL", in: []byte(`{"type":"high\u0000","body":{"pagerduty":{"title":"p"}}}`), fields: []string{"type"}},

		// Missing required fields, per type.
		{name: "self-service without anything", in: []byte(`{"type":"self-service"}`),
			fields: []string{"users", "body.slack.message", "body.github.title"}},
		{name: "self-service without users", in: []byte(`{"type":"self-service","body":{"github":{"title":"t"},"slack":{"message":"m"}}}`),
			fields: []string{"users"}},
		{name: "self-service with no users", in: selfService("", "", `[]`), fields: []string{"users"}},
		{name: "self-service user without a Slack identity", in: selfService("", "", `[{"slack":"a"},{"github":"bob"},{"slack":"@"}]`),
			fields: []string{"users[1]", "users[2]"}},
		{name: "self-service without body.slack.message", in: selfServiceWithSlack(`{"prompt":"p"}`), fields: []string{"body.slack.message"}},
		{name: "self-service with a blank message", in: selfServiceWithSlack(`{"message":" \n "}`), fields: []string{"body.slack.message"}},
		{name: "self-service without body.github.title", in: selfService("", `{"body":"b"}`, ""), fields: []string{"body.github.title"}},
		{name: "self-service with a blank title", in: selfService("", `{"title":"   "}`, ""), fields: []string{"body.github.title"}},
		{name: "broadcast without users and message", in: []byte(`{"type":"broadcast","body":{"github":{"title":"t"}}}`),
			fields: []string{"users", "body.slack.message"}},
		{name: "nag without title", in: []byte(`{"type":"nag","users":[{"slack":"a"}],"body":{"slack":{"message":"m"}}}`),
			fields: []string{"body.github.title"}},
		{name: "high without body.pagerduty.title", in: []byte(`{"type":"high","body":{"pagerduty":{"body":"b"},"github":{"title":"t"}}}`),
			fields: []string{"body.pagerduty.title"}},
		{name: "high without body", in: []byte(`{"type":"high"}`), fields: []string{"body.pagerduty.title"}},
		{name: "low without title", in: []byte(`{"type":"low","users":[{"github":"a"}],"body":{"slack":{"message":"m"}}}`),
			fields: []string{"body.github.title"}},

		// Wrong types.
		{name: "body as string", in: []byte(`{"type":"high","body":"p"}`), fields: []string{"body", "body.pagerduty.title"}},
		{name: "body.github as array", in: selfService("", `["t"]`, ""), fields: []string{"body.github", "body.github.title"}},
		{name: "body.pagerduty as string", in: []byte(`{"type":"high","body":{"pagerduty":"p"}}`), fields: []string{"body.pagerduty", "body.pagerduty.title"}},
		{name: "body.slack as string", in: selfServiceWithSlack(`"m"`), fields: []string{"body.slack", "body.slack.message"}},
		{name: "body.slack.message as object", in: selfServiceWithSlack(`{"message":{"text":"m"}}`), fields: []string{"body.slack.message"}},
		{name: "body.github.title as number", in: selfService("", `{"title":5}`, ""), fields: []string{"body.github.title"}},
		{name: "body.pagerduty.title as boolean", in: []byte(`{"type":"high","body":{"pagerduty":{"title":true}}}`), fields: []string{"body.pagerduty.title"}},
		{name: "texts as other types", in: []byte(`{"type":"self-service","users":[{"slack":"a"}],"body":{` +
			`"github":{"title":"t","body":["b"]},"pagerduty":{"title":"p","body":{}},` +
			`"slack":{"message":"m","prompt":1,"actions":{"yes":true,"no":null,"yes_response":2,"no_response":[]}}}}`),
			fields: []string{"body.github.body", "body.slack.prompt", "body.slack.actions.yes",
				"body.slack.actions.yes_response", "body.slack.actions.no_response", "body.pagerduty.body"}},
		{name: "actions as string", in: selfServiceWithSlack(`{"message":"m","actions":"yes"}`), fields: []string{"body.slack.actions"}},
		{name: "users as object", in: selfService("", "", `{"slack":"a"}`), fields: []string{"users"}},
		{name: "users as object on low", in: []byte(`{"type":"low","users":{"slack":"a"},"body":{"github":{"title":"t"}}}`), fields: []string{"users"}},
		{name: "a user as string", in: selfService("", "", `[{"slack":"a"},"bob",null]`), fields: []string{"users[1]", "users[2]"}},
		{name: "user fields as other types", in: selfService("", "", `[{"slack":"a","slackId":1,"email":false,"github":["a"]}]`),
			fields: []string{"users[0].slackId", "users[0].email", "users[0].github"}},
		{name: "labels as string", in: selfService("", `{"title":"t","labels":"aws"}`, ""), fields: []string{"body.github.labels"}},
		{name: "labels with a number and an object", in: selfService("", `{"title":"t","labels":["aws",1,{}]}`, ""),
			fields: []string{"body.github.labels[1]", "body.github.labels[2]"}},
		{name: "retrigger as string", in: selfService(`"retrigger":"false"`, "", ""), fields: []string{"retrigger"}},
		{name: "retrigger as number", in: selfService(`"retrigger":0`, "", ""), fields: []string{"retrigger"}},
		{name: "ids as numbers", in: selfService(`"requestId":1,"githubRepo":2,"pagerDutyServiceId":3`, "", ""),
			fields: []string{"requestId", "githubRepo", "pagerDutyServiceId"}},
		{name: "durations as numbers", in: selfService(`"remindAfter":900,"escalateAfter":true`, "", ""),
			fields: []string{"remindAfter", "escalateAfter"}},

		// Values out of bounds.
		{name: "NUL in an optional string", in: selfServiceWithSlack(`{"message":"m","prompt":"ok\u0000?"}`), fields: []string{"body.slack.prompt"}},
		{name: "NUL in requestId and email", in: selfService(`"requestId":"a\u0000"`, "", `[{"slack":"a","email":"a@b\u0000"}]`),
			fields: []string{"requestId", "users[0].email"}},
		{name: "NUL in a title", in: selfService("", `{"title":"t\u0000"}`, ""), fields: []string{"body.github.title"}},
		{name: "NUL in a label", in: selfService("", `{"title":"t","labels":["a\u0000b"]}`, ""), fields: []string{"body.github.labels[0]"}},
		{name: "too many users", in: []byte(`{"type":"low","users":` + many(alerts.MaxUsers+1, `{"github":"a"}`) + `,"body":{"github":{"title":"t"}}}`),
			fields: []string{"users"}},
		{name: "too many users on self-service", in: selfService("", "", many(alerts.MaxUsers+1, `{"slack":"a"}`)), fields: []string{"users"}},
		{name: "too many labels", in: selfService("", `{"title":"t","labels":`+many(alerts.MaxLabels+1, `"l"`)+`}`, ""),
			fields: []string{"body.github.labels"}},
		{name: "bad labels", in: selfService("", `{"title":"t","labels":["ok","","  ","a,b","`+long(alerts.MaxLabelRunes+1)+`"]}`, ""),
			fields: []string{"body.github.labels[1]", "body.github.labels[2]", "body.github.labels[3]", "body.github.labels[4]"}},
		{name: "title too long", in: selfService("", `{"title":"`+long(alerts.MaxTitleRunes+1)+`"}`, ""), fields: []string{"body.github.title"}},
		{name: "texts too long", in: []byte(`{"type":"self-service","users":[{"slack":"a"}],"body":{` +
			`"github":{"title":"t","body":"` + strings.Repeat("b", alerts.MaxBodyRunes+1) + `"},` +
			`"pagerduty":{"title":"` + strings.Repeat("p", 1025) + `","body":"` + strings.Repeat("b", alerts.MaxBodyRunes+1) + `"},` +
			`"slack":{"message":"` + strings.Repeat("m", alerts.MaxBodyRunes+1) + `"}}}`),
			fields: []string{"body.github.body", "body.pagerduty.title", "body.pagerduty.body", "body.slack.message"}},
		{name: "bad GitHub logins", in: selfService("", "", `[{"slack":"a","github":"al ice"},{"slack":"b","github":"-bob"},`+
			`{"slack":"c","github":"`+strings.Repeat("c", 40)+`"},{"slack":"d","github":"org/team"}]`),
			fields: []string{"users[0].github", "users[1].github", "users[2].github", "users[3].github"}},
		{name: "bad durations", in: selfService(`"remindAfter":"soon","escalateAfter":"15"`, "", ""), fields: []string{"remindAfter", "escalateAfter"}},
		{name: "zero and negative durations", in: selfService(`"remindAfter":"0s","escalateAfter":"-5m"`, "", ""), fields: []string{"remindAfter", "escalateAfter"}},
		{name: "durations over a week", in: selfService(`"remindAfter":"169h","escalateAfter":"168h0m1s"`, "", ""), fields: []string{"remindAfter", "escalateAfter"}},
		{name: "bad duration on broadcast", in: []byte(`{"type":"broadcast","remindAfter":"1 hour","users":[{"slack":"a"}],"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`),
			fields: []string{"remindAfter"}},
		{name: "githubRepo with two slashes", in: selfService(`"githubRepo":"a/b/c"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo without name", in: selfService(`"githubRepo":"acme/"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo without owner", in: selfService(`"githubRepo":"/alarms"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo with a space", in: selfService(`"githubRepo":"acme/my alarms"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo owner starting with -", in: selfService(`"githubRepo":"-acme/alarms"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo as URL", in: selfService(`"githubRepo":"https://github.com/acme/alarms"`, "", ""), fields: []string{"githubRepo"}},
		{name: "githubRepo ..", in: selfService(`"githubRepo":".."`, "", ""), fields: []string{"githubRepo"}},
		{name: "pagerDutyServiceId too long", in: selfService(`"pagerDutyServiceId":"`+strings.Repeat("P", 1600)+`"`, "", ""),
			fields: []string{"pagerDutyServiceId"}},
		{name: "requestId too long", in: selfService(`"requestId":"`+strings.Repeat("r", alerts.MaxRequestID+1)+`"`, "", ""), fields: []string{"requestId"}},
		{name: "requestId with a space", in: selfService(`"requestId":"alarm 42"`, "", ""), fields: []string{"requestId"}},
		{name: "requestId not ASCII", in: selfService(`"requestId":"alarm-é"`, "", ""), fields: []string{"requestId"}},

		// Many problems at once.
		{name: "one of each", in: []byte(`{"type":"self-service","requestId":"a b","githubRepo":"a/b/c","retrigger":"yes",` +
			`"users":[{"slack":"a","github":"-x"},"b"],"remindAfter":"soon",` +
			`"body":{"github":{"title":"` + long(alerts.MaxTitleRunes+1) + `","labels":[1]},"slack":{"prompt":"p"}}}`),
			fields: []string{"requestId", "githubRepo", "retrigger", "users[0].github", "users[1]", "body.github.labels[0]",
				"remindAfter", "body.github.title", "body.slack.message"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := alerts.Decode(tc.in)
			if got := problemFields(t, err); !slices.Equal(got, tc.fields) {
				t.Errorf("problem fields = %q, want %q\nerror: %v", got, tc.fields, err)
			}
			if a.Type != "" || a.Users != nil {
				t.Errorf("an invalid message decoded to a non-zero alarm: %+v", a)
			}
		})
	}
}

func TestInvalidErrorFormatting(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        *alerts.InvalidError
		wantError  string
		wantReason string
	}{
		{"whole message", &alerts.InvalidError{Problems: []alerts.Problem{{Message: "message is empty"}}},
			"invalid alarm: message is empty", "message"},
		{"one field", &alerts.InvalidError{Problems: []alerts.Problem{{Field: "type", Message: "is required"}}},
			"invalid alarm: type: is required", "type"},
		{"nested fields", &alerts.InvalidError{Problems: []alerts.Problem{
			{Field: "body.github.title", Message: "is required for nag alarms"},
			{Field: "users[1]", Message: "must be an object"},
		}}, "invalid alarm: body.github.title: is required for nag alarms; users[1]: must be an object", "body"},
		{"indexed field", &alerts.InvalidError{Problems: []alerts.Problem{{Field: "users[0].github", Message: "bad"}}},
			"invalid alarm: users[0].github: bad", "users"},
		{"no problems", &alerts.InvalidError{}, "invalid alarm: ", "message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.wantError {
				t.Errorf("Error() = %q, want %q", got, tc.wantError)
			}
			if got := tc.err.Reason(); got != tc.wantReason {
				t.Errorf("Reason() = %q, want %q", got, tc.wantReason)
			}
		})
	}

	if got := (alerts.Problem{Field: "users", Message: "x"}).String(); got != "users: x" {
		t.Errorf("Problem.String() = %q", got)
	}
	if got := (alerts.Problem{Message: "x"}).String(); got != "x" {
		t.Errorf("Problem.String() without field = %q", got)
	}

	// What Decode returns is found through a wrapping error too, as callers find it.
	_, _, err := alerts.Decode([]byte(`{"type":"self-service"}`))
	var inv *alerts.InvalidError
	if !errors.As(fmt.Errorf("handle alarm: %w", err), &inv) {
		t.Fatalf("errors.As can't find the *InvalidError in %v", err)
	}
	want := "invalid alarm: users: self-service alarms need at least one user; " +
		"body.slack.message: is required for self-service alarms; body.github.title: is required for self-service alarms"
	if inv.Error() != want || inv.Reason() != "users" {
		t.Errorf("Error() = %q, Reason() = %q\nwant %q, users", inv.Error(), inv.Reason(), want)
	}
}

// TestSyntaxErrorsSayWhere: a message that isn't JSON is located by line and column, as an editor
// counts them (from 1, columns in characters), so a long alarm can be fixed without guessing.
func TestSyntaxErrorsSayWhere(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		line, column int
	}{
		{"a stray character", "{\n  \"type\": \"high\",\n  \"body\": {x}\n}", 3, 12},
		{"a missing comma, after accents", "{\"body\":{\"pagerduty\":{\"title\":\"café\"}}\n \"type\":\"high\"}", 2, 2},
		{"single quotes", "{'type':'high'}", 1, 2},
		{"cut short", "{\n\"type\":\"high\"", 2, 14},
		{"not JSON at all", "type: high", 1, 2}, // "t" may start true: "y" is the error
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := alerts.Decode([]byte(tc.in))
			var inv *alerts.InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) != 1 {
				t.Fatalf("err = %v, want one problem", err)
			}
			p := inv.Problems[0]
			where := fmt.Sprintf("line %d, column %d: ", tc.line, tc.column)
			if p.Line != tc.line || p.Column != tc.column || !strings.Contains(p.String(), where) {
				t.Errorf("problem %+v (%q), want %s", p, p.String(), where)
			}
		})
	}
}
