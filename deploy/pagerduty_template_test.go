package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// pagerDutyEventsResources are the resources of the PagerDuty events option (WithPagerDutyEvents).
var pagerDutyEventsResources = map[string]string{
	"PagerDutyEventsQueue":                 "AWS::SQS::Queue",
	"PagerDutyEventsDeadLetterQueue":       "AWS::SQS::Queue",
	"PagerDutyEventsRule":                  "AWS::Events::Rule",
	"PagerDutyEventsQueuePolicy":           "AWS::SQS::QueuePolicy",
	"PagerDutyEventsDeadLetterQueuePolicy": "AWS::SQS::QueuePolicy",
	"PagerDutyEventsPolicy":                "AWS::IAM::ManagedPolicy",
}

// TestPagerDutyEventsOption: every resource of the option is conditional on it; the rule takes
// PagerDuty's events from the partner bus to the FIFO queue in one group; only that rule may send to
// the queue (events.amazonaws.com, aws:SourceArn = the rule); the bot may only consume it.
func TestPagerDutyEventsOption(t *testing.T) {
	tpl := loadTemplate(t)
	for name := range pagerDutyEventsResources {
		if c := tpl.Resources[name].Condition; c != "WithPagerDutyEvents" {
			t.Errorf("%s: condition %q, want WithPagerDutyEvents", name, c)
		}
	}
	q := tpl.Resources["PagerDutyEventsQueue"].Properties
	if q["FifoQueue"] != true || q["ContentBasedDeduplication"] != true || q["RedrivePolicy"] == nil {
		t.Errorf("events queue: FIFO %v, content-based deduplication %v, redrive %v", q["FifoQueue"], q["ContentBasedDeduplication"], q["RedrivePolicy"])
	}
	rule, _ := json.Marshal(tpl.Resources["PagerDutyEventsRule"].Properties)
	for _, want := range []string{`"prefix":"aws.partner/pagerduty.com"`, `"detail-type":["PagerDuty Webhook"]`, `"MessageGroupId":"pagerduty"`,
		`"EventBusName":{"Ref":"PagerDutyEventBusName"}`, `"Arn":{"Fn::GetAtt":["PagerDutyEventsQueue","Arn"]}`} {
		if !strings.Contains(string(rule), want) {
			t.Errorf("rule lacks %s: %s", want, rule)
		}
	}
	pol, _ := json.Marshal(tpl.Resources["PagerDutyEventsQueuePolicy"].Properties)
	for _, want := range []string{`"Service":"events.amazonaws.com"`, `"aws:SourceArn":{"Fn::GetAtt":["PagerDutyEventsRule","Arn"]}`, `"Effect":"Deny"`} {
		if !strings.Contains(string(pol), want) {
			t.Errorf("queue policy lacks %s: %s", want, pol)
		}
	}
	if strings.Count(string(pol), `"Effect":"Allow"`) != 1 {
		t.Errorf("the events queue policy allows more than the rule: %s", pol)
	}
	bot, _ := json.Marshal(tpl.Resources["PagerDutyEventsPolicy"].Properties)
	var doc struct {
		PolicyDocument struct {
			Statement []struct {
				Sid    string
				Action []string
			}
		}
	}
	if err := json.Unmarshal(bot, &doc); err != nil {
		t.Fatal(err)
	}
	for _, st := range doc.PolicyDocument.Statement {
		if st.Sid == "ConsumeEventsQueue" && slices.Contains(st.Action, "sqs:SendMessage") {
			t.Error("the bot may send to the events queue: only the rule may")
		}
	}
}
