package deploy

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/bot"
)

// pinnedOnECS are the settings the template sets itself, each to the only value that fits the
// stack: the queue it creates, its region, the port its health check and port mapping use, and JSON
// lines for CloudWatch Logs. Nothing else may be pinned: every other setting is the operator's.
var pinnedOnECS = map[string]string{
	"DISPATCH_QUEUE_URL": "ref:Queue",
	"AWS_REGION":         "us-east-1",
	"DISPATCH_HTTP_ADDR": ":8080",
	"LOG_FORMAT":         "json",
}

// ecsBase is the least an ECS deployment gives (what the template's Rules require).
func ecsBase() map[string]string {
	arn := func(name string) string {
		return "arn:aws:secretsmanager:us-east-1:123456789012:secret:dispatch/" + name + "-AbCdEf"
	}
	return map[string]string{
		"OperatorTopicArn":          "arn:aws:sns:us-east-1:123456789012:ops",
		"DeployECS":                 "true",
		"Image":                     "ghcr.io/dispatch-oss/dispatch:0.1.0",
		"VpcId":                     "vpc-0123",
		"Subnets":                   "subnet-a,subnet-b",
		"GitHubRepo":                "acme/alarms",
		"SlackFallbackChannel":      "C0123ABCD",
		"SlackBotTokenSecret":       arn("slack-bot"),
		"SlackAppTokenSecret":       arn("slack-app"),
		"GitHubTokenSecret":         arn("github"),
		"PagerDutyRoutingKeySecret": arn("pagerduty"),
		"TaskKeysSecret":            arn("task-keys"),
	}
}

// task is what the dispatch container of a stack gets: its plain environment and its secrets (name
// → where ECS reads it), and what the execution role may read.
type task struct {
	env, secrets map[string]string
	readable     []string
}

func ecsTask(t *testing.T, params map[string]string) task {
	t.Helper()
	s := newStack(t, loadTemplate(t), params)
	td := s.resource(t, "TaskDefinition")
	if td == nil {
		t.Fatal("no task definition: is DeployECS true?")
	}
	containers, _ := td["ContainerDefinitions"].([]any)
	if len(containers) != 1 {
		t.Fatalf("containers: %v", containers)
	}
	c := containers[0].(map[string]any)
	tk := task{env: map[string]string{}, secrets: map[string]string{}}
	for field, into := range map[string]map[string]string{"Environment": tk.env, "Secrets": tk.secrets} {
		key := map[string]string{"Environment": "Value", "Secrets": "ValueFrom"}[field]
		list, _ := c[field].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			name, _ := m["Name"].(string)
			if name == "" || m[key] == nil {
				t.Errorf("%s entry %v: want a Name and a %s", field, m, key)
				continue
			}
			if _, dup := tk.env[name]; dup {
				t.Errorf("%s is set twice", name)
			}
			if _, dup := tk.secrets[name]; dup {
				t.Errorf("%s is set twice", name)
			}
			into[name] = fmt.Sprint(m[key])
		}
	}
	exec := s.resource(t, "ExecutionRole")
	policies, _ := exec["Policies"].([]any)
	for _, p := range policies {
		doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
		sts, _ := doc["Statement"].([]any)
		for _, st := range sts {
			res, _ := st.(map[string]any)["Resource"].([]any)
			for _, r := range res {
				tk.readable = append(tk.readable, fmt.Sprint(r))
			}
		}
	}
	return tk
}

// readmeSettings returns the names in the first column of the README's Configuration table, less
// the NAME_FILE row (files are how Docker and Kubernetes mount secrets; ECS hands them to the
// process as variables, so the row has no meaning there).
func readmeSettings(t *testing.T) []string {
	t.Helper()
	section := readmeSection(t, "## Configuration")
	var names []string
	fileRow := false
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		first := strings.TrimSpace(cells[1])
		if strings.HasPrefix(first, "`NAME_FILE`") {
			fileRow = true
			continue
		}
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]*)`").FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 20 || !fileRow {
		t.Fatalf("read %d settings from the README's Configuration table (NAME_FILE row found: %v): has the table changed shape?", len(names), fileRow)
	}
	return names
}

// Every variable the bot reads is in the README's Configuration table: the table is the list the
// deployments are checked against.
func TestREADMEListsEverySettingTheBotReads(t *testing.T) {
	src, err := os.ReadFile("../bot/config.go")
	if err != nil {
		t.Fatal(err)
	}
	read := []string{bot.PprofEnv}
	read = append(read, bot.SecretNames()...)
	for _, m := range regexp.MustCompile(`"([A-Z][A-Z0-9]*_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		read = append(read, m[1])
	}
	if !slices.Contains(read, "DISPATCH_QUEUE_URL") || !slices.Contains(read, "LOG_LEVEL") {
		t.Fatalf("could not read the setting names from bot/config.go: %v", read)
	}
	documented := readmeSettings(t)
	for _, name := range read {
		if !slices.Contains(documented, name) {
			t.Errorf("bot/config.go reads %s, which the README's Configuration table doesn't list", name)
		}
	}
}

// Each setting of the README's Configuration table reaches the ECS task: set by the template
// itself, from a named parameter, or through ExtraEnvironment (plain settings) or ExtraSecrets
// (secrets, from Secrets Manager or SSM, readable by the execution role).
func TestECSCarriesEveryREADMESetting(t *testing.T) {
	secretNames := bot.SecretNames()
	params := ecsBase()
	params["DesiredCount"] = "3" // DISPATCH_REPLICAS follows it, as every setting a parameter gives
	base := ecsTask(t, params)
	for name, want := range pinnedOnECS {
		if got := base.env[name]; got != want {
			t.Errorf("the template pins %s = %q, want %q", name, got, want)
		}
	}
	given := slices.Collect(maps.Values(params))
	for name, v := range base.env {
		if _, pinned := pinnedOnECS[name]; !pinned && !slices.Contains(given, v) {
			t.Errorf("the template pins %s = %q: take it from a parameter or leave it to the operator (ExtraEnvironment), or add it to pinnedOnECS with the reason", name, v)
		}
	}
	for _, name := range readmeSettings(t) {
		t.Run(name, func(t *testing.T) {
			if _, pinned := pinnedOnECS[name]; pinned {
				return
			}
			secret := slices.Contains(secretNames, name)
			if from, ok := base.secrets[name]; ok {
				if !slices.Contains(base.readable, from) {
					t.Errorf("%s comes from %s, which the execution role may not read (%v)", name, from, base.readable)
				}
				return
			}
			if _, ok := base.env[name]; ok {
				if secret {
					t.Errorf("%s is a secret, given in plain environment", name)
				}
				return
			}
			params := ecsBase()
			if secret {
				arn := "arn:aws:ssm:us-east-1:123456789012:parameter/dispatch/" + name
				params["ExtraSecrets"] = name + "=" + arn
				got := ecsTask(t, params)
				if got.secrets[name] != arn || !slices.Contains(got.readable, arn) {
					t.Errorf("ExtraSecrets=%s: the task gets %q, the execution role reads %v", params["ExtraSecrets"], got.secrets[name], got.readable)
				}
				return
			}
			value := "a,b/c:d*e" // commas, as GITHUB_ALLOWED_REPOS has
			params["ExtraEnvironment"] = name + "=" + value
			if got := ecsTask(t, params); got.env[name] != value {
				t.Errorf("ExtraEnvironment=%s: the task gets %s=%q", params["ExtraEnvironment"], name, got.env[name])
			}
		})
	}
}

// ExtraEnvironment and ExtraSecrets hold as many entries as their AllowedPattern lets through, in
// order, and the pattern refuses one more, a malformed name, a value it can't carry and a secret
// that is not an ARN.
func TestECSExtraSettingsLists(t *testing.T) {
	tpl := loadTemplate(t)
	maxEntries := func(param string) int {
		p, _ := tpl.Parameters[param]["AllowedPattern"].(string)
		m := regexp.MustCompile(`\{0,([0-9]+)\}\$$`).FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("%s's AllowedPattern %q doesn't bound its entries with {0,N}$", param, p)
		}
		var n int
		fmt.Sscan(m[1], &n)
		return n + 1
	}
	nEnv, nSecrets := maxEntries("ExtraEnvironment"), maxEntries("ExtraSecrets")
	if nEnv < 16 || nSecrets < 8 {
		t.Errorf("ExtraEnvironment holds %d entries, ExtraSecrets %d: want at least 16 and 8", nEnv, nSecrets)
	}
	var env, secrets []string
	for i := range nEnv {
		env = append(env, fmt.Sprintf("SETTING_%d=v%d,x/y", i, i))
	}
	for i := range nSecrets {
		secrets = append(secrets, fmt.Sprintf("SECRET_%d=arn:aws:secretsmanager:us-east-1:123456789012:secret:s%d-AbCdEf", i, i))
	}
	params := ecsBase()
	params["ExtraEnvironment"] = strings.Join(env, ";")
	params["ExtraSecrets"] = strings.Join(secrets, ";")
	params["GitHubTokenSecret"] = "" // the GitHub App instead: its key is one of ExtraSecrets
	got := ecsTask(t, params)
	for i := range nEnv {
		if name, want := fmt.Sprintf("SETTING_%d", i), fmt.Sprintf("v%d,x/y", i); got.env[name] != want {
			t.Errorf("%s = %q, want %q", name, got.env[name], want)
		}
	}
	for i := range nSecrets {
		name, arn := fmt.Sprintf("SECRET_%d", i), fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:s%d-AbCdEf", i)
		if got.secrets[name] != arn || !slices.Contains(got.readable, arn) {
			t.Errorf("%s from %q (readable: %v), want %s", name, got.secrets[name], slices.Contains(got.readable, arn), arn)
		}
	}
	if _, ok := got.secrets["GITHUB_TOKEN"]; ok || slices.Contains(got.readable, "") {
		t.Errorf("without GitHubTokenSecret the task still gets GITHUB_TOKEN (%v) or the role an empty resource (%v)", got.secrets, got.readable)
	}
	// With neither list, the task gets exactly what the template sets, and the role reads exactly
	// the named secrets.
	plain := ecsTask(t, ecsBase())
	if len(plain.secrets) != 5 || len(plain.readable) != 5 {
		t.Errorf("without extras: secrets %v, readable %v; want the five named ones", plain.secrets, plain.readable)
	}

	refused := map[string][]string{
		"ExtraEnvironment": {
			strings.Join(append(env, "ONE_MORE=x"), ";"),
			"log_level=debug", "LOG_LEVEL", "LOG_LEVEL=debug;", " LOG_LEVEL=debug", "A=b=c",
		},
		"ExtraSecrets": {
			strings.Join(append(secrets, "ONE_MORE=arn:aws:ssm:us-east-1:123456789012:parameter/x"), ";"),
			"GITHUB_APP_PRIVATE_KEY=-----BEGIN RSA PRIVATE KEY-----", "GITHUB_APP_PRIVATE_KEY=arn:aws:s3:::bucket/key",
		},
	}
	for param, values := range refused {
		pattern := regexp.MustCompile(tpl.Parameters[param]["AllowedPattern"].(string))
		for _, v := range values {
			if pattern.MatchString(v) {
				t.Errorf("%s accepts %q", param, v)
			}
		}
	}
}

// The template's ECS parameters are the ones the README lists.
func TestREADMEListsTheECSParameters(t *testing.T) {
	section := readmeSection(t, "### ECS on Fargate")
	tpl := loadTemplate(t)
	for name, p := range tpl.Parameters {
		d, _ := p["Description"].(string)
		if !strings.HasPrefix(d, "With DeployECS") {
			continue
		}
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("the README's ECS section doesn't name the parameter %s", name)
		}
	}
}

// readmeSection returns the README's text under a heading ("## Configuration"), up to the next
// heading of that level or above.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n"+heading+"\n")
	if !found {
		t.Fatalf("README.md has no %s section", heading)
	}
	level, _, _ := strings.Cut(heading, " ")
	for l := len(level); l >= 2; l-- {
		section, _, _ = strings.Cut(section, "\n"+strings.Repeat("#", l)+" ")
	}
	return section
}
