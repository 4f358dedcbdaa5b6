package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// deadLetterActions are the calls sqsqueue makes on the dead-letter queue: GetQueueUrl to find it
// from the redrive policy, SendMessage to move a message there, GetQueueAttributes for its depth.
var deadLetterActions = []string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"}

// botSQSActions scans package sqsqueue for calls on its SQS client (`q.sqs.Method(`) and returns
// "sqs:Method" for each, sorted, with where each is first called.
func botSQSActions(t *testing.T) (actions []string, where map[string]string) {
	t.Helper()
	files, err := filepath.Glob("../sqsqueue/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in ../sqsqueue (%v)", err)
	}
	where = map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			method, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if client, ok := method.X.(*ast.SelectorExpr); ok && client.Sel.Name == "sqs" {
				action := "sqs:" + method.Sel.Name
				if _, seen := where[action]; !seen {
					where[action] = fset.Position(call.Pos()).String()
				}
			}
			return true
		})
	}
	if len(where) == 0 {
		t.Fatal("found no q.sqs.<Method>( calls in ../sqsqueue: has the client field been renamed? Update botSQSActions")
	}
	return slices.Sorted(maps.Keys(where)), where
}

func TestBotPolicyAllowsExactlyTheCallsTheBotMakes(t *testing.T) {
	tpl := loadTemplate(t)
	called, where := botSQSActions(t)
	p := tpl.resourceOf(t, "BotPolicy", "AWS::IAM::ManagedPolicy").Properties

	queue, dlq := getAtt("Queue", "Arn"), getAtt("DeadLetterQueue", "Arn")
	granted := map[string][]string{} // resource → actions
	for _, s := range statements(t, p["PolicyDocument"]) {
		if s.Effect != "Allow" || s.Principal != nil || s.Condition != nil || len(s.Other) > 0 {
			t.Errorf("statement %q: want a plain Allow with Action and Resource only (extra: %v)", s.Sid, s.Other)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") || !strings.HasPrefix(a, "sqs:") {
				t.Errorf("statement %q: action %q: want a single sqs: action, no wildcard", s.Sid, a)
			}
		}
		for _, r := range s.Resource {
			switch {
			case reflect.DeepEqual(r, queue):
				granted["queue"] = append(granted["queue"], s.Action...)
			case reflect.DeepEqual(r, dlq):
				granted["dead-letter queue"] = append(granted["dead-letter queue"], s.Action...)
			default:
				t.Errorf("statement %q: resource %v: want only the queue's and the dead-letter queue's ARNs", s.Sid, r)
			}
		}
	}
	for r, actions := range granted {
		slices.Sort(actions)
		granted[r] = slices.Compact(actions)
	}

	// The queue: every call the bot makes (it sends deferred tasks to its own queue, too).
	for _, a := range called {
		if !slices.Contains(granted["queue"], a) {
			t.Errorf("%s calls %s, which BotPolicy does not allow on the queue", where[a], a)
		}
	}
	for _, a := range granted["queue"] {
		if !slices.Contains(called, a) {
			t.Errorf("BotPolicy allows %s on the queue, which sqsqueue never calls: remove it", a)
		}
	}
	// The dead-letter queue: only what dispatch does there.
	if !slices.Equal(granted["dead-letter queue"], deadLetterActions) {
		t.Errorf("BotPolicy allows %v on the dead-letter queue, want %v", granted["dead-letter queue"], deadLetterActions)
	}
	for _, a := range deadLetterActions {
		if !slices.Contains(called, a) {
			t.Errorf("deadLetterActions lists %s, which sqsqueue no longer calls: update it and the template", a)
		}
	}
}
