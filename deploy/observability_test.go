package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/dispatch-oss/dispatch/bot"
)

// exported returns the name of every metric the bot's exporter serves, asked of the exporter itself
// (bot.NewMetrics, as bot.New builds it), including the vectors that have no sample yet.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { bot.NewMetrics().Describe(ch); close(ch) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	if !names["dispatch_alarms_handled_total"] || !names["go_goroutines"] {
		t.Fatalf("could not read the metric names from the exporter's descriptors: %v", names)
	}
	return names
}

var (
	promString  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promLabels  = regexp.MustCompile(`\{[^}]*\}`)
	promRange   = regexp.MustCompile(`\[[^\]]*\]`)
	promGroup   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	promKeyword = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}
)

// metricsIn returns the metric names a PromQL expression selects: what is left once strings,
// label matchers, ranges, grouping clauses, functions and keywords are taken out.
func metricsIn(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promLabels.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	e = promGroup.ReplaceAllString(e, " ")
	var out []string
	for _, id := range promIdent.FindAllString(e, -1) {
		if strings.HasSuffix(id, "(") || slices.Contains(promKeyword, strings.ToLower(strings.TrimSpace(id))) {
			continue
		}
		out = append(out, strings.TrimSpace(id))
	}
	return out
}

// checkMetrics fails for every name an expression selects that the exporter doesn't serve (a
// histogram's _bucket, _sum and _count series count as the histogram's).
func checkMetrics(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	found := metricsIn(expr)
	if len(found) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	for _, m := range found {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			t.Errorf("%s: %s is not a metric the bot exports (query %q)", where, m, expr)
		}
	}
}

func TestMetricsInParsesPromQL(t *testing.T) {
	cases := map[string][]string{
		`(sum(dispatch_ready) or vector(0)) < 1`: {"dispatch_ready"},
		`histogram_quantile(0.95, sum by (le) (rate(dispatch_alarm_handling_seconds_bucket{instance=~"$instance"}[10m]))) > 60`: {"dispatch_alarm_handling_seconds_bucket"},
		`sum by (service, outcome) (rate(dispatch_api_calls_total{service="slack"}[$__rate_interval]))`:                         {"dispatch_api_calls_total"},
		`max(dispatch_queue_messages) + on(instance) group_left max(up)`:                                                        {"dispatch_queue_messages", "up"},
	}
	for expr, want := range cases {
		if got := metricsIn(expr); !slices.Equal(got, want) {
			t.Errorf("metricsIn(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	names := exported(t)
	src, err := os.ReadFile("grafana/dispatch.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct{ RefID, Expr string }
	type panel struct {
		ID         int
		Type       string
		Title      string
		Datasource struct{ UID string }
		Targets    []target
	}
	var dash struct {
		UID        string
		Title      string
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
		Panels []panel
	}
	if err := json.Unmarshal(src, &dash); err != nil {
		t.Fatalf("dispatch.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard needs a uid and a title, so an import updates it rather than adding a copy")
	}
	for _, v := range dash.Templating.List {
		// label_values(METRIC, LABEL): the metric is the first argument.
		if m := regexp.MustCompile(`^label_values\(([^,]+),`).FindStringSubmatch(v.Definition); m != nil {
			checkMetrics(t, "variable "+v.Name, m[1], names)
		} else if v.Definition != "" {
			t.Errorf("variable %s: %q is not label_values(METRIC, LABEL)", v.Name, v.Definition)
		}
	}
	ids, queries := map[int]bool{}, 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries: want the ${datasource} variable and a query", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			queries++
			checkMetrics(t, "panel "+p.Title, q.Expr, names)
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries found: is the dashboard's shape what this test reads?", queries)
	}
}

func TestAlertRulesQueryExportedMetrics(t *testing.T) {
	names := exported(t)
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	src, err := os.ReadFile("prometheus/dispatch-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &rules); err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkMetrics(t, "alert "+r.Alert, r.Expr, names)
		}
	}
	for _, want := range []string{"DispatchSlackDisconnected", "DispatchAlarmsRejected", "DispatchDeadLetterQueueGrowing",
		"DispatchAnswersDeferredForLong", "DispatchHandlingLatencyHigh", "DispatchNoReplicaReady", "DispatchGitHubBudgetLow"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}

	// The unit tests' input series must be real series too, or they test a rule against nothing.
	var tests struct {
		Tests []struct {
			InputSeries []struct{ Series string } `yaml:"input_series"`
		}
	}
	src, err = os.ReadFile("prometheus/dispatch-rules.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &tests); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			if name, _, _ := strings.Cut(s.Series, "{"); name != "up" {
				checkMetrics(t, "test series", s.Series, names)
			}
		}
	}
}
