package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// template is dispatch.yaml with every intrinsic in its long form ({"Ref": …}, {"Fn::GetAtt": […]}),
// and numbers as float64, as after a JSON round trip.
type template struct {
	AWSTemplateFormatVersion string
	Description              string
	Metadata                 map[string]any
	Parameters               map[string]map[string]any
	Mappings                 map[string]any
	Conditions               map[string]any
	Rules                    map[string]any
	Resources                map[string]resource
	Outputs                  map[string]map[string]any
}

type resource struct {
	Type                string
	Condition           string
	Properties          map[string]any
	DependsOn           any
	DeletionPolicy      string
	UpdateReplacePolicy string
	Metadata            map[string]any
}

// statement is one IAM policy statement, with Action and Resource always lists.
type statement struct {
	Sid       string
	Effect    string
	Principal any
	Action    []string
	Resource  []any
	Condition map[string]map[string]any
	Other     []string // keys this test doesn't expect (NotAction, NotResource, …)
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	src, err := os.ReadFile("dispatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("dispatch.yaml: %v", err)
	}
	v, err := longForm(&doc)
	if err != nil {
		t.Fatalf("dispatch.yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields() // a misspelt section or resource attribute fails here
	if err := dec.Decode(&tpl); err != nil {
		t.Fatalf("dispatch.yaml: %v", err)
	}
	return tpl
}

// longForm turns a YAML node into plain values, rewriting CloudFormation's short-form tags
// (!Ref, !GetAtt, !Sub, !Equals, …) into their long form.
func longForm(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := longForm(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := longForm(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		plain := *n
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			plain.Tag = "" // let YAML resolve the value itself
		}
		if err := plain.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	switch fn := n.Tag[1:]; fn {
	case "Ref", "Condition":
		return map[string]any{fn: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + fn: v}, nil
	}
}

func ref(name string) any { return map[string]any{"Ref": name} }

func getAtt(res, attr string) any { return map[string]any{"Fn::GetAtt": []any{res, attr}} }

// resourceOf returns the named resource and fails unless it has the type.
func (tpl template) resourceOf(t *testing.T, name, typ string) resource {
	t.Helper()
	r, ok := tpl.Resources[name]
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	if r.Type != typ {
		t.Fatalf("%s is a %s, want %s", name, r.Type, typ)
	}
	return r
}

// statements reads the Statement list of a policy document property.
func statements(t *testing.T, doc any) []statement {
	t.Helper()
	d, ok := doc.(map[string]any)
	if !ok || d["Version"] != "2012-10-17" {
		t.Fatalf("policy document %v: want a map with Version 2012-10-17", doc)
	}
	raw, ok := d["Statement"].([]any)
	if !ok || len(raw) == 0 {
		t.Fatalf("policy document has no Statement list: %v", doc)
	}
	var out []statement
	for _, r := range raw {
		m := r.(map[string]any)
		s := statement{Principal: m["Principal"]}
		s.Sid, _ = m["Sid"].(string)
		s.Effect, _ = m["Effect"].(string)
		switch a := m["Action"].(type) {
		case string:
			s.Action = []string{a}
		case []any:
			for _, x := range a {
				s.Action = append(s.Action, fmt.Sprint(x))
			}
		}
		if l, ok := m["Resource"].([]any); ok {
			s.Resource = l
		} else if m["Resource"] != nil {
			s.Resource = []any{m["Resource"]}
		}
		if c, ok := m["Condition"].(map[string]any); ok {
			s.Condition = map[string]map[string]any{}
			for op, kv := range c {
				s.Condition[op], _ = kv.(map[string]any)
			}
		}
		for k := range m {
			if !slices.Contains([]string{"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}, k) {
				s.Other = append(s.Other, k)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestTemplateDeclaresTheResources(t *testing.T) {
	tpl := loadTemplate(t)
	if tpl.AWSTemplateFormatVersion != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %q", tpl.AWSTemplateFormatVersion)
	}
	// The properties CloudFormation documents for each type (the subset a queue stack may use): a
	// misspelt property is otherwise only found at deploy time.
	known := map[string][]string{
		"AWS::SNS::Topic": {"TopicName", "DisplayName", "KmsMasterKeyId", "Tags", "FifoTopic",
			"ContentBasedDeduplication", "SignatureVersion", "TracingConfig", "DataProtectionPolicy", "ArchivePolicy"},
		"AWS::SQS::Queue": {"QueueName", "VisibilityTimeout", "ReceiveMessageWaitTimeSeconds", "MessageRetentionPeriod",
			"SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "RedrivePolicy", "RedriveAllowPolicy",
			"DelaySeconds", "MaximumMessageSize", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
			"FifoThroughputLimit", "Tags"},
		"AWS::SNS::Subscription": {"TopicArn", "Protocol", "Endpoint", "RawMessageDelivery", "FilterPolicy",
			"FilterPolicyScope", "DeliveryPolicy", "RedrivePolicy", "Region", "ReplayPolicy", "SubscriptionRoleArn"},
		"AWS::SQS::QueuePolicy":   {"Queues", "PolicyDocument"},
		"AWS::Events::Rule":       {"Description", "EventBusName", "EventPattern", "Name", "RoleArn", "ScheduleExpression", "State", "Targets"},
		"AWS::IAM::ManagedPolicy": {"ManagedPolicyName", "Description", "Path", "PolicyDocument", "Roles", "Users", "Groups"},
		"AWS::CloudWatch::Alarm": {"AlarmName", "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
			"InsufficientDataActions", "MetricName", "Namespace", "Dimensions", "Statistic", "ExtendedStatistic", "Period",
			"EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ThresholdMetricId", "ComparisonOperator",
			"TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics", "Unit", "Tags"},
		"AWS::ECS::Cluster": {"ClusterName", "ClusterSettings", "CapacityProviders", "DefaultCapacityProviderStrategy",
			"Configuration", "ServiceConnectDefaults", "Tags"},
		"AWS::Logs::LogGroup": {"LogGroupName", "RetentionInDays", "KmsKeyId", "DataProtectionPolicy", "LogGroupClass", "Tags"},
		"AWS::IAM::Role": {"AssumeRolePolicyDocument", "Description", "ManagedPolicyArns", "MaxSessionDuration", "Path",
			"PermissionsBoundary", "Policies", "RoleName", "Tags"},
		"AWS::EC2::SecurityGroup": {"GroupDescription", "GroupName", "SecurityGroupEgress", "SecurityGroupIngress", "VpcId", "Tags"},
		"AWS::ECS::TaskDefinition": {"Family", "ContainerDefinitions", "Cpu", "Memory", "ExecutionRoleArn", "TaskRoleArn",
			"NetworkMode", "RequiresCompatibilities", "RuntimePlatform", "Volumes", "EphemeralStorage", "PidMode", "IpcMode",
			"PlacementConstraints", "ProxyConfiguration", "Tags"},
		"AWS::ECS::Service": {"ServiceName", "Cluster", "TaskDefinition", "LaunchType", "DesiredCount",
			"DeploymentConfiguration", "NetworkConfiguration", "PropagateTags", "EnableECSManagedTags",
			"EnableExecuteCommand", "HealthCheckGracePeriodSeconds", "LoadBalancers", "PlatformVersion",
			"SchedulingStrategy", "ServiceRegistries", "CapacityProviderStrategy", "DeploymentController",
			"PlacementConstraints", "PlacementStrategies", "Role", "ServiceConnectConfiguration", "VolumeConfigurations", "Tags"},
	}
	want := map[string]string{
		"Topic":           "AWS::SNS::Topic",
		"Queue":           "AWS::SQS::Queue",
		"DeadLetterQueue": "AWS::SQS::Queue",
		"Subscription":    "AWS::SNS::Subscription",
		"QueuePolicy":     "AWS::SQS::QueuePolicy",
		"BotPolicy":       "AWS::IAM::ManagedPolicy",
		"PublisherPolicy": "AWS::IAM::ManagedPolicy",

		"DeadLetterQueuePolicy": "AWS::SQS::QueuePolicy",
		"DeadLetterQueueAlarm":  "AWS::CloudWatch::Alarm",
		"OldestMessageAlarm":    "AWS::CloudWatch::Alarm",
	}
	for name, typ := range pagerDutyEventsResources {
		want[name] = typ
	}
	for name, typ := range ecsResources {
		want[name] = typ
	}
	for name, typ := range want {
		tpl.resourceOf(t, name, typ)
	}
	for name, r := range tpl.Resources {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected resource %s (%s): add it to this test", name, r.Type)
		}
		for p := range r.Properties {
			if !slices.Contains(known[r.Type], p) {
				t.Errorf("%s: %s has no property %q", name, r.Type, p)
			}
		}
		if r.Condition != "" && tpl.Conditions[r.Condition] == nil {
			t.Errorf("%s: unknown condition %q", name, r.Condition)
		}
	}
	if r := tpl.Resources["PublisherPolicy"]; r.Condition != "WithPublisherPolicy" {
		t.Errorf("PublisherPolicy is optional: want Condition WithPublisherPolicy, got %q", r.Condition)
	}
	checkReferences(t, tpl)
}

// checkReferences fails on any Ref, GetAtt, Sub variable or Condition that names nothing.
func checkReferences(t *testing.T, tpl template) {
	t.Helper()
	defined := func(name string) bool {
		_, isRes := tpl.Resources[name]
		_, isParam := tpl.Parameters[name]
		return isRes || isParam || strings.HasPrefix(name, "AWS::")
	}
	subVar := regexp.MustCompile(`\$\{([^!}][^}]*)\}`)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					if name, _ := x.(string); !defined(name) {
						t.Errorf("%s: Ref to undefined %v", where, x)
					}
				case "Fn::GetAtt":
					if l, _ := x.([]any); len(l) != 2 || tpl.Resources[fmt.Sprint(l[0])].Type == "" {
						t.Errorf("%s: GetAtt of undefined %v", where, x)
					}
				case "Fn::Sub":
					s, _ := x.(string)
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						if name, _, _ := strings.Cut(m[1], "."); !defined(name) {
							t.Errorf("%s: Sub of undefined ${%s}", where, m[1])
						}
					}
				case "Condition":
					if name, ok := x.(string); ok && tpl.Conditions[name] == nil {
						t.Errorf("%s: undefined condition %q", where, name)
					}
				case "Fn::If":
					if l, _ := x.([]any); len(l) != 3 || tpl.Conditions[fmt.Sprint(l[0])] == nil {
						t.Errorf("%s: Fn::If on an undefined condition: %v", where, x)
					}
				}
				walk(where, x)
			}
		case []any:
			for _, x := range v {
				walk(where, x)
			}
		}
	}
	for name, r := range tpl.Resources {
		walk(name, r.Properties)
	}
	for name, c := range tpl.Conditions {
		walk("condition "+name, c)
	}
	for name, r := range tpl.Rules {
		walk("rule "+name, r)
	}
	for name, o := range tpl.Outputs {
		walk("output "+name, o)
	}
}

func TestQueuesAndRedrive(t *testing.T) {
	tpl := loadTemplate(t)
	q := tpl.resourceOf(t, "Queue", "AWS::SQS::Queue").Properties
	dlq := tpl.resourceOf(t, "DeadLetterQueue", "AWS::SQS::Queue").Properties
	for _, c := range []struct {
		props    map[string]any
		name     string
		property string
		want     any
	}{
		{q, "Queue", "VisibilityTimeout", 60.0},
		{q, "Queue", "ReceiveMessageWaitTimeSeconds", 20.0},
		{q, "Queue", "MessageRetentionPeriod", float64(4 * 24 * 3600)},
		{q, "Queue", "SqsManagedSseEnabled", true},
		{dlq, "DeadLetterQueue", "MessageRetentionPeriod", float64(14 * 24 * 3600)},
		{dlq, "DeadLetterQueue", "SqsManagedSseEnabled", true},
	} {
		if got := c.props[c.property]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s.%s = %v, want %v", c.name, c.property, got, c.want)
		}
	}
	rp, _ := q["RedrivePolicy"].(map[string]any)
	if !reflect.DeepEqual(rp["deadLetterTargetArn"], getAtt("DeadLetterQueue", "Arn")) {
		t.Errorf("RedrivePolicy.deadLetterTargetArn = %v, want the dead-letter queue's ARN", rp["deadLetterTargetArn"])
	}
	if !reflect.DeepEqual(rp["maxReceiveCount"], ref("MaxReceiveCount")) {
		t.Errorf("RedrivePolicy.maxReceiveCount = %v, want the MaxReceiveCount parameter", rp["maxReceiveCount"])
	}
	if p := tpl.Parameters["MaxReceiveCount"]; p["Type"] != "Number" || p["Default"] != 5.0 {
		t.Errorf("parameter MaxReceiveCount = %v, want a Number defaulting to 5", p)
	}
}

func TestSubscriptionLinksTopicToQueue(t *testing.T) {
	tpl := loadTemplate(t)
	s := tpl.resourceOf(t, "Subscription", "AWS::SNS::Subscription").Properties
	want := map[string]any{
		"TopicArn":           ref("Topic"),
		"Protocol":           "sqs",
		"Endpoint":           getAtt("Queue", "Arn"),
		"RawMessageDelivery": ref("RawMessageDelivery"),
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Subscription properties = %v, want %v", s, want)
	}
	p := tpl.Parameters["RawMessageDelivery"]
	if p["Default"] != "true" || !reflect.DeepEqual(p["AllowedValues"], []any{"true", "false"}) {
		t.Errorf("parameter RawMessageDelivery = %v, want default \"true\", allowed true/false", p)
	}
}

func TestQueuePolicyAdmitsOnlyTheTopic(t *testing.T) {
	tpl := loadTemplate(t)
	p := tpl.resourceOf(t, "QueuePolicy", "AWS::SQS::QueuePolicy").Properties
	if !reflect.DeepEqual(p["Queues"], []any{ref("Queue")}) {
		t.Errorf("QueuePolicy.Queues = %v, want [the queue's URL]", p["Queues"])
	}
	for _, s := range statements(t, p["PolicyDocument"]) {
		if s.Sid == denyWithoutTLS {
			continue // TestQueuesRefusePlainHTTP
		}
		if s.Effect != "Allow" || len(s.Other) > 0 {
			t.Errorf("statement %q: Effect %q, extra keys %v: want a plain Allow", s.Sid, s.Effect, s.Other)
		}
		if !reflect.DeepEqual(s.Principal, map[string]any{"Service": "sns.amazonaws.com"}) {
			t.Errorf("statement %q: Principal = %v, want only the SNS service", s.Sid, s.Principal)
		}
		if !slices.Equal(s.Action, []string{"sqs:SendMessage"}) {
			t.Errorf("statement %q: Action = %v, want sqs:SendMessage only", s.Sid, s.Action)
		}
		if !reflect.DeepEqual(s.Resource, []any{getAtt("Queue", "Arn")}) {
			t.Errorf("statement %q: Resource = %v, want the queue's ARN", s.Sid, s.Resource)
		}
		want := map[string]map[string]any{"ArnEquals": {"aws:SourceArn": ref("Topic")}}
		if !reflect.DeepEqual(s.Condition, want) {
			t.Errorf("statement %q: Condition = %v, want aws:SourceArn equal to the topic", s.Sid, s.Condition)
		}
	}
}

func TestPublisherPolicyPublishesToTheTopicOnly(t *testing.T) {
	tpl := loadTemplate(t)
	p := tpl.resourceOf(t, "PublisherPolicy", "AWS::IAM::ManagedPolicy").Properties
	for _, s := range statements(t, p["PolicyDocument"]) {
		if s.Effect != "Allow" || len(s.Other) > 0 || s.Principal != nil {
			t.Errorf("statement %q: want a plain Allow", s.Sid)
		}
		if !slices.Equal(s.Action, []string{"sns:Publish"}) || !reflect.DeepEqual(s.Resource, []any{ref("Topic")}) {
			t.Errorf("statement %q: %v on %v, want sns:Publish on the topic", s.Sid, s.Action, s.Resource)
		}
	}
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string]any{
		"QueueUrl":           ref("Queue"),
		"QueueArn":           getAtt("Queue", "Arn"),
		"DeadLetterQueueUrl": ref("DeadLetterQueue"),
		"TopicArn":           ref("Topic"),
		"BotPolicyArn":       ref("BotPolicy"),
		"PublisherPolicyArn": ref("PublisherPolicy"),
	}
	for name, v := range want {
		if got := tpl.Outputs[name]["Value"]; !reflect.DeepEqual(got, v) {
			t.Errorf("output %s = %v, want %v", name, got, v)
		}
	}
	if c := tpl.Outputs["PublisherPolicyArn"]["Condition"]; c != tpl.Resources["PublisherPolicy"].Condition {
		t.Errorf("output PublisherPolicyArn has condition %v, its resource %q", c, tpl.Resources["PublisherPolicy"].Condition)
	}
}
