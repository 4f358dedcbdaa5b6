package deploy

import (
	"reflect"
	"slices"
	"testing"

	"github.com/dispatch-oss/dispatch/bot"
)

// ecsResources are what DeployECS=true adds; nothing else depends on the option.
var ecsResources = map[string]string{
	"Cluster":           "AWS::ECS::Cluster",
	"LogGroup":          "AWS::Logs::LogGroup",
	"ExecutionRole":     "AWS::IAM::Role",
	"TaskRole":          "AWS::IAM::Role",
	"TaskSecurityGroup": "AWS::EC2::SecurityGroup",
	"TaskDefinition":    "AWS::ECS::TaskDefinition",
	"Service":           "AWS::ECS::Service",
}

// denyWithoutTLS is the Sid of the statement that refuses plain-HTTP access to a queue.
const denyWithoutTLS = "DenyWithoutTLS"

// longest a retry or a deferred task waits on the queue by design (SQS's DelaySeconds maximum, and
// the cap of the bot's redelivery backoff).
const longestPlannedWait = 15 * 60

func TestQueuesRefusePlainHTTP(t *testing.T) {
	tpl := loadTemplate(t)
	for policy, queue := range map[string]string{"QueuePolicy": "Queue", "DeadLetterQueuePolicy": "DeadLetterQueue"} {
		p := tpl.resourceOf(t, policy, "AWS::SQS::QueuePolicy").Properties
		if !reflect.DeepEqual(p["Queues"], []any{ref(queue)}) {
			t.Errorf("%s.Queues = %v, want [%s]", policy, p["Queues"], queue)
		}
		found := false
		for _, s := range statements(t, p["PolicyDocument"]) {
			if s.Sid != denyWithoutTLS {
				continue
			}
			found = true
			want := map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}}
			if s.Effect != "Deny" || s.Principal != "*" || !slices.Equal(s.Action, []string{"sqs:*"}) ||
				!reflect.DeepEqual(s.Resource, []any{getAtt(queue, "Arn")}) || !reflect.DeepEqual(s.Condition, want) || len(s.Other) > 0 {
				t.Errorf("%s: %+v, want a Deny of sqs:* on %s to everyone when aws:SecureTransport is false", policy, s, queue)
			}
		}
		if !found {
			t.Errorf("%s has no %s statement", policy, denyWithoutTLS)
		}
	}
}

func TestTopicIsEncrypted(t *testing.T) {
	tpl := loadTemplate(t)
	topic := tpl.resourceOf(t, "Topic", "AWS::SNS::Topic").Properties
	if !reflect.DeepEqual(topic["KmsMasterKeyId"], ref("TopicKmsKeyId")) {
		t.Errorf("Topic.KmsMasterKeyId = %v, want the TopicKmsKeyId parameter", topic["KmsMasterKeyId"])
	}
	if d := tpl.Parameters["TopicKmsKeyId"]["Default"]; d != "alias/aws/sns" {
		t.Errorf("TopicKmsKeyId defaults to %v, want the AWS managed key alias/aws/sns", d)
	}
	for _, q := range []string{"Queue", "DeadLetterQueue"} {
		if p := tpl.Resources[q].Properties; p["SqsManagedSseEnabled"] != true && p["KmsMasterKeyId"] == nil {
			t.Errorf("%s is not encrypted", q)
		}
	}
}

func TestQueueAlarmsReachTheOperators(t *testing.T) {
	tpl := loadTemplate(t)
	p := tpl.Parameters["OperatorTopicArn"]
	if _, hasDefault := p["Default"]; hasDefault || p["AllowedPattern"] == nil {
		t.Errorf("OperatorTopicArn = %v: the operators' topic must be given (no default) and look like an ARN", p)
	}
	cases := []struct {
		alarm, queue, metric string
		threshold            any
	}{
		{"DeadLetterQueueAlarm", "DeadLetterQueue", "ApproximateNumberOfMessagesVisible", 0.0},
		{"OldestMessageAlarm", "Queue", "ApproximateAgeOfOldestMessage", ref("OldestMessageAgeThreshold")},
	}
	for _, c := range cases {
		r := tpl.resourceOf(t, c.alarm, "AWS::CloudWatch::Alarm")
		if r.Condition != "" {
			t.Errorf("%s must always exist, not only with %s", c.alarm, r.Condition)
		}
		a := r.Properties
		dims := []any{map[string]any{"Name": "QueueName", "Value": getAtt(c.queue, "QueueName")}}
		if a["Namespace"] != "AWS/SQS" || a["MetricName"] != c.metric || !reflect.DeepEqual(a["Dimensions"], dims) {
			t.Errorf("%s watches %v %v %v, want AWS/SQS %s of %s", c.alarm, a["Namespace"], a["MetricName"], a["Dimensions"], c.metric, c.queue)
		}
		if a["Statistic"] != "Maximum" || a["ComparisonOperator"] != "GreaterThanThreshold" || !reflect.DeepEqual(a["Threshold"], c.threshold) {
			t.Errorf("%s: %v %v %v, want Maximum > %v", c.alarm, a["Statistic"], a["ComparisonOperator"], a["Threshold"], c.threshold)
		}
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if !reflect.DeepEqual(a[actions], []any{ref("OperatorTopicArn")}) {
				t.Errorf("%s.%s = %v, want the operators' topic", c.alarm, actions, a[actions])
			}
		}
		if a["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: an idle queue publishes no metrics; that is not an alarm (TreatMissingData %v)", c.alarm, a["TreatMissingData"])
		}
	}
	if d, _ := tpl.Parameters["OldestMessageAgeThreshold"]["Default"].(float64); d <= longestPlannedWait {
		t.Errorf("OldestMessageAgeThreshold defaults to %v s: a planned retry waits up to %d s and must not page anyone", d, longestPlannedWait)
	}
}

func TestECSOption(t *testing.T) {
	tpl := loadTemplate(t)
	if p := tpl.Parameters["DeployECS"]; p["Default"] != "false" || !reflect.DeepEqual(p["AllowedValues"], []any{"true", "false"}) {
		t.Errorf("DeployECS = %v, want an opt-in true/false defaulting to false", p)
	}
	if !reflect.DeepEqual(tpl.Conditions["WithECS"], map[string]any{"Fn::Equals": []any{ref("DeployECS"), "true"}}) {
		t.Errorf("condition WithECS = %v", tpl.Conditions["WithECS"])
	}
	for name, typ := range ecsResources {
		if r := tpl.resourceOf(t, name, typ); r.Condition != "WithECS" {
			t.Errorf("%s must exist only with DeployECS (Condition %q)", name, r.Condition)
		}
	}

	td := tpl.resourceOf(t, "TaskDefinition", "AWS::ECS::TaskDefinition").Properties
	if !reflect.DeepEqual(td["RequiresCompatibilities"], []any{"FARGATE"}) || td["NetworkMode"] != "awsvpc" ||
		!reflect.DeepEqual(td["ExecutionRoleArn"], getAtt("ExecutionRole", "Arn")) || !reflect.DeepEqual(td["TaskRoleArn"], getAtt("TaskRole", "Arn")) {
		t.Errorf("task definition: %v", td)
	}
	containers, _ := td["ContainerDefinitions"].([]any)
	if len(containers) != 1 {
		t.Fatalf("containers: %v", containers)
	}
	c := containers[0].(map[string]any)
	if !reflect.DeepEqual(c["Image"], ref("Image")) || c["ReadonlyRootFilesystem"] != true || c["Essential"] != true {
		t.Errorf("container: image %v, read-only %v, essential %v", c["Image"], c["ReadonlyRootFilesystem"], c["Essential"])
	}
	if hc, _ := c["HealthCheck"].(map[string]any); !reflect.DeepEqual(hc["Command"], []any{"CMD", "/dispatch", "healthcheck"}) {
		t.Errorf("health check %v, want dispatch healthcheck (the image has no shell)", hc)
	}
	logs, _ := c["LogConfiguration"].(map[string]any)
	if opts, _ := logs["Options"].(map[string]any); logs["LogDriver"] != "awslogs" || !reflect.DeepEqual(opts["awslogs-group"], ref("LogGroup")) {
		t.Errorf("logs: %v, want awslogs to the LogGroup", logs)
	}

	// What the task really gets, with the extra lists in use: no secret in plain environment, every
	// secret from Secrets Manager or SSM, and the execution role reading exactly those, from either
	// store.
	secretNames := bot.SecretNames()
	params := ecsBase()
	params["ExtraSecrets"] = "PAGERDUTY_SERVICE_KEYS=arn:aws:ssm:us-east-1:123456789012:parameter/dispatch/pd-keys"
	params["ExtraEnvironment"] = "LOG_LEVEL=debug"
	params["DesiredCount"] = "3"
	got := ecsTask(t, params)
	for name := range got.env {
		if slices.Contains(secretNames, name) {
			t.Errorf("%s is a plain environment value; it must be a secret", name)
		}
	}
	// The tasks share the services' limits: each is told how many there are.
	if got.env["DISPATCH_REPLICAS"] != "3" {
		t.Errorf("DISPATCH_REPLICAS = %v, want DesiredCount: the tasks together would pass the services' limits", got.env["DISPATCH_REPLICAS"])
	}
	if got.env["DISPATCH_QUEUE_URL"] != "ref:Queue" {
		t.Errorf("DISPATCH_QUEUE_URL = %v, want the queue", got.env["DISPATCH_QUEUE_URL"])
	}
	var sources []string
	for name, from := range got.secrets {
		if !slices.Contains(secretNames, name) {
			t.Errorf("secret %s is not a setting the bot reads as a secret", name)
		}
		sources = append(sources, from)
	}
	for _, required := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GITHUB_TOKEN", "PAGERDUTY_ROUTING_KEY", "DISPATCH_TASK_KEYS", "PAGERDUTY_SERVICE_KEYS"} {
		if _, ok := got.secrets[required]; !ok {
			t.Errorf("the task gets no %s", required)
		}
	}
	slices.Sort(sources)
	readable := slices.Sorted(slices.Values(got.readable))
	if !slices.Equal(readable, sources) {
		t.Errorf("the execution role reads %v, want exactly the task's secrets %v", readable, sources)
	}
	exec := tpl.resourceOf(t, "ExecutionRole", "AWS::IAM::Role").Properties
	policies, _ := exec["Policies"].([]any)
	if len(policies) != 1 {
		t.Fatalf("execution role policies: %v", policies)
	}
	read := statements(t, policies[0].(map[string]any)["PolicyDocument"])
	if len(read) != 1 || read[0].Effect != "Allow" || !slices.Equal(read[0].Action, []string{"secretsmanager:GetSecretValue", "ssm:GetParameters"}) {
		t.Errorf("the execution role's policy %+v, want one Allow of GetSecretValue/GetParameters", read)
	}
	task := tpl.resourceOf(t, "TaskRole", "AWS::IAM::Role").Properties
	if !reflect.DeepEqual(task["ManagedPolicyArns"], []any{ref("BotPolicy")}) {
		t.Errorf("task role policies %v, want the bot policy only", task["ManagedPolicyArns"])
	}
	for _, role := range []map[string]any{exec, task} {
		trust := statements(t, role["AssumeRolePolicyDocument"])
		if len(trust) != 1 || !reflect.DeepEqual(trust[0].Principal, map[string]any{"Service": "ecs-tasks.amazonaws.com"}) ||
			!reflect.DeepEqual(trust[0].Condition, map[string]map[string]any{"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}) {
			t.Errorf("trust policy %+v: want ECS tasks of this account only", trust)
		}
	}

	svc := tpl.resourceOf(t, "Service", "AWS::ECS::Service").Properties
	if svc["LaunchType"] != "FARGATE" || !reflect.DeepEqual(svc["DesiredCount"], ref("DesiredCount")) || tpl.Parameters["DesiredCount"]["Default"] != 2.0 {
		t.Errorf("service: launch type %v, desired %v (default %v), want FARGATE and 2 tasks", svc["LaunchType"], svc["DesiredCount"], tpl.Parameters["DesiredCount"]["Default"])
	}
	dc, _ := svc["DeploymentConfiguration"].(map[string]any)
	if dc["MinimumHealthyPercent"] != 100.0 {
		t.Errorf("a deployment must start new tasks before stopping old ones: %v", dc)
	}
	sg := tpl.resourceOf(t, "TaskSecurityGroup", "AWS::EC2::SecurityGroup").Properties
	if sg["SecurityGroupIngress"] != nil {
		t.Errorf("dispatch takes no inbound traffic: ingress %v", sg["SecurityGroupIngress"])
	}

	// DeployECS=true without what it needs is refused before anything is created.
	asserted := map[string]bool{}
	for _, r := range tpl.Rules {
		rule, _ := r.(map[string]any)
		if !reflect.DeepEqual(rule["RuleCondition"], map[string]any{"Fn::Equals": []any{ref("DeployECS"), "true"}}) {
			continue
		}
		as, _ := rule["Assertions"].([]any)
		for _, a := range as {
			var refs func(v any)
			refs = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if name, ok := v["Ref"].(string); ok {
						asserted[name] = true
					}
					for _, x := range v {
						refs(x)
					}
				case []any:
					for _, x := range v {
						refs(x)
					}
				}
			}
			refs(a.(map[string]any)["Assert"])
		}
	}
	for _, p := range []string{"Image", "VpcId", "Subnets", "GitHubRepo", "SlackBotTokenSecret", "SlackAppTokenSecret", "GitHubTokenSecret", "PagerDutyRoutingKeySecret", "TaskKeysSecret"} { // GitHubTokenSecret or ExtraSecrets
		if !asserted[p] {
			t.Errorf("no rule requires %s when DeployECS is true", p)
		}
	}
}
