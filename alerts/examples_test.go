package alerts_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/alerts"
)

// examplesDir holds one JSON message per file; docs/MESSAGE-SPEC.md shows each of them inline.
const examplesDir = "../docs/examples"

// exampleFiles returns the name and content of every .json file in examplesDir, sorted by name, so a
// new example is tested without touching this file.
func exampleFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		tb.Fatalf("read examples: %v", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(examplesDir, e.Name()))
		if err != nil {
			tb.Fatalf("read example: %v", err)
		}
		files[e.Name()] = data
	}
	return files
}

// withDefaults fills the optional texts Decode defaults, as a decoded alarm holds them.
func withDefaults(a alerts.Alarm) alerts.Alarm {
	if a.SlackPrompt == "" {
		a.SlackPrompt = alerts.DefaultPrompt
	}
	for _, d := range []struct {
		field *string
		value string
	}{
		{&a.Actions.Yes, alerts.DefaultYes},
		{&a.Actions.No, alerts.DefaultNo},
		{&a.Actions.YesResponse, alerts.DefaultYesResponse},
		{&a.Actions.NoResponse, alerts.DefaultNoResponse},
	} {
		if *d.field == "" {
			*d.field = d.value
		}
	}
	return a
}

func TestExamplesDecode(t *testing.T) {
	files := exampleFiles(t)
	for _, name := range []string{
		"self-service.json", "broadcast.json", "high-priority.json", "low-priority.json", "nag.json",
		"seed-self-service.json", "seed-high.json", "seed-broadcast.json",
	} {
		if _, ok := files[name]; !ok {
			t.Errorf("%s/%s is missing", examplesDir, name)
		}
	}
	// Only the seed's high-priority example is expected to warn: it ends in an extra "}".
	wantWarnings := map[string]string{"seed-high.json": "ignored 1 trailing characters after the JSON object"}

	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			a, warnings := mustDecode(t, data)
			if want, ok := wantWarnings[name]; ok {
				if len(warnings) != 1 || warnings[0] != want {
					t.Errorf("warnings = %q, want exactly [%q]", warnings, want)
				}
			} else if len(warnings) != 0 {
				t.Errorf("warnings = %q, want none", warnings)
			}
			checkValid(t, a)
		})
	}
}

func TestExampleFields(t *testing.T) {
	files := exampleFiles(t)
	for _, tc := range []struct {
		file string
		want alerts.Alarm
	}{
		{"seed-self-service.json", withDefaults(alerts.Alarm{
			Type: alerts.SelfService, Retrigger: true,
			Users:       []alerts.User{{Slack: "alice", GitHub: "alice"}},
			GitHubTitle: "self-service title", GitHubBody: "self-service body",
			SlackMessage: "testSlackMessage", SlackPrompt: "testSlackPrompt",
			// The seed names only two of the four actions; the replies get their defaults.
			Actions: alerts.Actions{Yes: "testYesAction", No: "testNoAction"},
		})},
		{"seed-high.json", withDefaults(alerts.Alarm{
			Type: alerts.HighPriority, Retrigger: true, PagerDutyTitle: "pagerduty title",
		})},
		{"seed-broadcast.json", withDefaults(alerts.Alarm{
			Type: alerts.Broadcast, Retrigger: true,
			Users:       []alerts.User{{Slack: "alice", GitHub: "alice"}, {Slack: "bob", GitHub: "bob"}},
			GitHubTitle: "broadcast title", GitHubBody: "broadcast body",
			SlackMessage: "testSlackMessage", SlackPrompt: "testSlackPrompt",
			Actions: alerts.Actions{Yes: "testYesAction", No: "testNoAction"},
		})},
		{"self-service.json", alerts.Alarm{
			Type: alerts.SelfService, RequestID: "guardduty-7f3a2c91", GitHubRepo: "security-alarms",
			PagerDutyServiceID: "PSEC042", Retrigger: true,
			Users:        []alerts.User{{Slack: "alice@example.com", GitHub: "alice-w"}}, // an email, as the README advises
			GitHubTitle:  "Console sign-in without MFA for alice in prod-main",
			GitHubBody:   "AWS CloudTrail recorded a console sign-in for `alice` in account 123456789012 (prod-main) at 2026-11-27T09:14:03Z from 203.0.113.45 without MFA.\n\nSource: GuardDuty finding 7f3a2c91.",
			GitHubLabels: []string{"aws", "mfa", "prod"},
			SlackMessage: "Hi! Someone signed in to the AWS console of *prod-main* as `alice` from 203.0.113.45 (Lisbon, PT) at 09:14 UTC, without MFA.",
			SlackPrompt:  "Was this you signing in from Lisbon?",
			Actions: alerts.Actions{
				Yes: "Yes, that was me", No: "No, that wasn't me",
				YesResponse: "Thanks! Please turn MFA back on for your account. This alarm is closed.",
				NoResponse:  "Thanks for telling us. The security on-call has been paged and will contact you shortly.",
			},
			RemindAfter: 15 * time.Minute, EscalateAfter: time.Hour,
		}},
		{"low-priority.json", withDefaults(alerts.Alarm{
			Type: alerts.LowPriority, GitHubRepo: "acme-infra/security-alarms", Retrigger: false,
			Users:        []alerts.User{{Slack: "carol", GitHub: "carol-ops"}},
			GitHubTitle:  "S3 bucket acme-build-logs has no server-side encryption by default",
			GitHubBody:   "AWS Config rule `s3-bucket-server-side-encryption-enabled` reports bucket `acme-build-logs` (us-east-1) as NON_COMPLIANT. Enable default encryption (SSE-S3 or SSE-KMS) when convenient.",
			GitHubLabels: []string{"aws-config", "s3"},
		})},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, ok := files[tc.file]
			if !ok {
				t.Fatalf("%s/%s is missing", examplesDir, tc.file)
			}
			got, _ := mustDecode(t, data)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestSelfServiceExamplesNameUsersByIDOrEmail: the README tells publishers to name a self-service
// alarm's users by Slack ID or email (a display name can be copied by anyone); the examples people
// copy do so. The seed-* files are the original project's fixtures, kept as they were.
func TestSelfServiceExamplesNameUsersByIDOrEmail(t *testing.T) {
	id := regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	for name, data := range exampleFiles(t) {
		a, _ := mustDecode(t, data)
		if a.Type != alerts.SelfService || strings.HasPrefix(name, "seed-") {
			continue
		}
		for _, u := range a.Users {
			if u.SlackID == "" && u.Email == "" && !strings.Contains(u.Slack, "@") && !id.MatchString(u.Slack) {
				t.Errorf("%s names %q by handle: use a Slack ID or an email, as the README advises", name, u.Slack)
			}
		}
	}
}

// TestSpecShowsExamples keeps docs/MESSAGE-SPEC.md and docs/examples in step: the spec shows every
// example file's text verbatim.
func TestSpecShowsExamples(t *testing.T) {
	spec, err := os.ReadFile("../docs/MESSAGE-SPEC.md")
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	files := exampleFiles(t)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		block := "```json\n" + strings.TrimRight(string(files[name]), "\n") + "\n```"
		if !strings.Contains(string(spec), block) {
			t.Errorf("MESSAGE-SPEC.md does not show %s verbatim in a ```json block", name)
		}
	}
}

// TestSpecErrorExample keeps the error shown in docs/MESSAGE-SPEC.md true to Decode.
func TestSpecErrorExample(t *testing.T) {
	spec, err := os.ReadFile("../docs/MESSAGE-SPEC.md")
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	const in = `{"type":"self-service","requestId":"disk alarm","users":[{"slack":"alice"},"bob"],"body":{"slack":{"message":"Disk full"}}}`
	_, _, err = alerts.Decode([]byte(in))
	if got := problemFields(t, err); !slices.Equal(got, []string{"requestId", "users[1]", "body.github.title"}) {
		t.Fatalf("problem fields = %q", got)
	}
	for _, want := range []string{"```json\n" + in + "\n```", "```\n" + err.Error() + "\n```"} {
		if !strings.Contains(string(spec), want) {
			t.Errorf("MESSAGE-SPEC.md does not show\n%s", want)
		}
	}
}
