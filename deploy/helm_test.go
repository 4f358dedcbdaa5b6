package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/dispatch-oss/dispatch/bot"
)

const (
	chart      = "helm/dispatch"
	testValues = "helm/dispatch/ci/test-values.yaml" // what an install must give: queue URL, repo
	haValues   = "helm/dispatch/values-ha.yaml"
	secretDir  = "/var/run/secrets/dispatch/"
)

// helm runs the pinned Helm of scripts/helm (built from the Go module proxy; no skip: if it can't be
// built, the test fails). It returns stdout, and stderr on failure.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"../scripts/helm"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stderr.String(), err
	}
	return stdout.String(), nil
}

// rendered is one chart rendering, decoded strictly into the Kubernetes API types.
type rendered struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	pdb            *policyv1.PodDisruptionBudget
	serviceMonitor *monitoringv1.ServiceMonitor
	prometheusRule *monitoringv1.PrometheusRule
	raw            string
}

// render runs helm template and decodes every manifest strictly: an unknown or misspelt field, a
// duplicate key or a kind this test doesn't know fails it.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "dispatch", chart, "--namespace", "alarms"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	r := rendered{raw: out}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("manifest: %v\n%s", err, doc)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			r.deployment = &appsv1.Deployment{}
			obj = r.deployment
		case "v1 Service":
			r.service = &corev1.Service{}
			obj = r.service
		case "v1 ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			obj = r.serviceAccount
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.serviceMonitor = &monitoringv1.ServiceMonitor{}
			obj = r.serviceMonitor
		case "monitoring.coreos.com/v1 PrometheusRule":
			r.prometheusRule = &monitoringv1.PrometheusRule{}
			obj = r.prometheusRule
		default:
			t.Fatalf("unexpected manifest %s %s", tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s is not a valid %s: %v\n%s", tm.Kind, tm.APIVersion, err, doc)
		}
	}
	if r.deployment == nil || r.service == nil || r.serviceAccount == nil || r.pdb == nil {
		t.Fatalf("a Deployment, Service, ServiceAccount and PodDisruptionBudget are expected:\n%s", out)
	}
	return r
}

func TestHelmChartLints(t *testing.T) {
	for _, values := range [][]string{{testValues}, {testValues, haValues}} {
		args := []string{"lint", "--strict", chart}
		for _, v := range values {
			args = append(args, "-f", v)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm %v: %v\n%s", args, err, out)
		}
	}
}

func TestHelmChartRenders(t *testing.T) {
	cases := []struct {
		name       string
		values     []string
		replicas   int32
		spread     corev1.UnsatisfiableConstraintAction
		monitor    bool
		hardAffine bool
	}{
		{"default", []string{testValues}, 2, corev1.ScheduleAnyway, false, false},
		{"high availability", []string{testValues, haValues}, 3, corev1.DoNotSchedule, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			for _, v := range tc.values {
				args = append(args, "-f", v)
			}
			r := render(t, args...)
			d := r.deployment
			pod := d.Spec.Template.Spec
			podLabels := d.Spec.Template.Labels

			if d.Spec.Replicas == nil || *d.Spec.Replicas != tc.replicas {
				t.Errorf("replicas = %v, want %d", d.Spec.Replicas, tc.replicas)
			}
			if !matches(d.Spec.Selector, podLabels) {
				t.Errorf("the Deployment's selector %v doesn't select its pods %v", d.Spec.Selector, podLabels)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("a rollout must start a new pod before stopping an old one: %+v", d.Spec.Strategy)
			}
			if len(pod.TopologySpreadConstraints) == 0 {
				t.Error("replicas must be spread across nodes")
			}
			for _, c := range pod.TopologySpreadConstraints {
				if c.WhenUnsatisfiable != tc.spread || !matches(c.LabelSelector, podLabels) {
					t.Errorf("spread %+v: want %s over the chart's pods", c, tc.spread)
				}
			}
			if aff := pod.Affinity; aff == nil || aff.PodAntiAffinity == nil ||
				(tc.hardAffine && len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0) ||
				(!tc.hardAffine && len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0) {
				t.Errorf("anti-affinity (required %v): %+v", tc.hardAffine, pod.Affinity)
			}

			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext: %+v", psc)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("dispatch never calls the Kubernetes API: no service account token")
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("containers: %d", len(pod.Containers))
			}
			c := pod.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("container securityContext: %+v", sc)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources: %+v", c.Resources)
			}
			checkProbes(t, c)
			checkSecrets(t, pod, c)
			for _, secret := range []string{"xoxb-", "xapp-", "ghp_", "github_pat_", "PRIVATE KEY"} {
				if strings.Contains(r.raw, secret) {
					t.Errorf("the rendered chart holds a secret (%s…)", secret)
				}
			}

			if !matches(&metav1.LabelSelector{MatchLabels: r.service.Spec.Selector}, podLabels) ||
				len(r.service.Spec.Ports) != 1 || r.service.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("the metrics Service must reach the pods' http port: %+v", r.service.Spec)
			}
			if !matches(r.pdb.Spec.Selector, podLabels) || r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget: %+v", r.pdb.Spec)
			}
			if r.serviceAccount.Name != pod.ServiceAccountName ||
				r.serviceAccount.Annotations["eks.amazonaws.com/role-arn"] != "arn:aws:iam::123456789012:role/dispatch" {
				t.Errorf("service account %q (pods use %q): annotations %v", r.serviceAccount.Name, pod.ServiceAccountName, r.serviceAccount.Annotations)
			}
			if (r.serviceMonitor != nil) != tc.monitor {
				t.Fatalf("ServiceMonitor rendered: %v, want %v", r.serviceMonitor != nil, tc.monitor)
			}
			if m := r.serviceMonitor; m != nil {
				if !matches(&m.Spec.Selector, r.service.Labels) || len(m.Spec.Endpoints) != 1 ||
					m.Spec.Endpoints[0].Port != r.service.Spec.Ports[0].Name || m.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("the ServiceMonitor must scrape the Service's /metrics: %+v", m.Spec)
				}
			}
		})
	}
}

// checkProbes: liveness on /healthz, readiness on /readyz, both on the port the bot listens on.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	port := ""
	for _, p := range c.Ports {
		if p.Name == "http" {
			port = fmt.Sprintf(":%d", p.ContainerPort)
		}
	}
	addr := ""
	for _, e := range c.Env {
		if e.Name == "DISPATCH_HTTP_ADDR" {
			addr = e.Value
		}
	}
	if port == "" || addr != port {
		t.Errorf("DISPATCH_HTTP_ADDR %q must be the container's http port %q", addr, port)
	}
	for name, want := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}, "startup": {c.StartupProbe, "/healthz"}} {
		p := want.probe
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want.path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: %+v, want GET %s on http", name, p, want.path)
		}
	}
}

// checkSecrets: every secret reaches the bot as NAME_FILE pointing at a key of the existing Secret,
// none as a value, and nothing in the rendering is a secret.
func checkSecrets(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	secretNames := bot.SecretNames()
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Secret != nil {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.Secret.SecretName != "dispatch" || vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode != 0o440 {
		t.Fatalf("secret volume: %+v", vol)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == vol.Name && m.MountPath+"/" == secretDir && m.ReadOnly)
	}
	if !mounted {
		t.Errorf("the secret volume must be mounted read-only at %s: %+v", secretDir, c.VolumeMounts)
	}
	files := 0
	for _, e := range c.Env {
		name, isFile := strings.CutSuffix(e.Name, "_FILE")
		if slices.Contains(secretNames, e.Name) {
			t.Errorf("%s is passed as a value; it must come from a file", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("%s comes from a secretKeyRef: secrets are files, not environment", e.Name)
		}
		if !isFile || !slices.Contains(secretNames, name) {
			continue
		}
		files++
		if e.Value != secretDir+name || !slices.ContainsFunc(vol.Secret.Items, func(k corev1.KeyToPath) bool { return k.Key == name && k.Path == name }) {
			t.Errorf("%s=%q must point at the Secret's key %s (items %+v)", e.Name, e.Value, name, vol.Secret.Items)
		}
	}
	if files < 4 {
		t.Errorf("only %d secrets come from files; the bot needs at least the Slack tokens, GitHub and PagerDuty", files)
	}
}

// matches reports whether sel selects a pod with these labels.
func matches(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

// The chart refuses what would put a secret into values or name a setting the bot wouldn't read.
func TestHelmChartRefuses(t *testing.T) {
	cases := []struct {
		name string
		set  string
		want string
	}{
		{"a secret as a value", "config.SLACK_BOT_TOKEN=xoxb-123", "config.SLACK_BOT_TOKEN looks like a secret"},
		{"a key that is not a secret setting", "secrets.keys={SLACK_BOT_TOKEN,GITHUB_REPO}", "secrets.keys: GITHUB_REPO is not one of dispatch's secret settings"},
		{"a secret in extraEnv", "extraEnv[0].name=GITHUB_TOKEN,extraEnv[0].value=xoxb-123", "extraEnv: GITHUB_TOKEN is a secret setting"},
		{"a secret file of one's own in extraEnv", "extraEnv[0].name=GITHUB_TOKEN_FILE,extraEnv[0].value=/x", "extraEnv: GITHUB_TOKEN_FILE is a secret setting"},
		{"no queue", "config.DISPATCH_QUEUE_URL=", "config.DISPATCH_QUEUE_URL is required"},
		{"no Secret", "secrets.existingSecret=", "secrets.existingSecret is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, "template", "dispatch", chart, "-f", testValues, "--set", tc.set)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output %q; want a failure saying %q", err, out, tc.want)
			}
			if strings.Contains(out, "xoxb-123") {
				t.Errorf("the error quotes the secret: %s", out)
			}
		})
	}
}

// The chart's list of secret settings is the bot's.
func TestHelmChartKnowsEverySecret(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(chart, "templates", "_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)define "dispatch.secretNames" -\}\}\n(.*?)\n\{\{- end`).FindSubmatch(src)
	if m == nil {
		t.Fatal(`_helpers.tpl has no "dispatch.secretNames"`)
	}
	got, want := strings.Fields(string(m[1])), bot.SecretNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the chart's secret names %v differ from bot.SecretNames %v", got, want)
	}
}

// The README's configuration table names NAME_FILE for every secret the bot reads from a file.
func TestREADMEDocumentsEverySecretFile(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range bot.SecretNames() {
		if !strings.Contains(string(readme), "`"+name+"_FILE`") {
			t.Errorf("README.md does not document %s_FILE", name)
		}
	}
}

// The chart's PrometheusRule is off by default (it needs the Prometheus Operator's CRDs) and, when
// on, holds exactly the rules of deploy/prometheus/dispatch-rules.yaml, the file promtool tests.
func TestHelmChartPrometheusRule(t *testing.T) {
	if r := render(t, "-f", testValues, "-f", haValues); r.prometheusRule != nil {
		t.Error("a PrometheusRule is rendered by default")
	}
	r := render(t, "-f", testValues, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=prometheus")
	pr := r.prometheusRule
	if pr == nil {
		t.Fatal("prometheusRule.enabled=true rendered no PrometheusRule")
	}
	src, err := os.ReadFile("prometheus/dispatch-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &want); err != nil {
		t.Fatalf("prometheus/dispatch-rules.yaml: %v", err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) == 0 {
		t.Fatalf("read no rules from prometheus/dispatch-rules.yaml: %+v", want)
	}
	if !reflect.DeepEqual(pr.Spec, want) {
		t.Errorf("the PrometheusRule's rules differ from prometheus/dispatch-rules.yaml:\n got %+v\nwant %+v", pr.Spec, want)
	}
	if pr.Labels["release"] != "prometheus" || pr.Labels["app.kubernetes.io/name"] != "dispatch" {
		t.Errorf("labels %v: want the chart's and prometheusRule.labels", pr.Labels)
	}
	// Helm reads only files inside the chart: its copy must be the tested file, byte for byte.
	chartCopy, err := os.ReadFile(filepath.Join(chart, "files", "dispatch-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chartCopy, src) {
		t.Errorf("%s/files/dispatch-rules.yaml differs from prometheus/dispatch-rules.yaml: cp deploy/prometheus/dispatch-rules.yaml deploy/helm/dispatch/files/", chart)
	}
}

// TestHelmChartSharesBudgetsBetweenReplicas: every pod is told how many replicas share the
// credentials (DISPATCH_REPLICAS, the divisor of each service budget), from replicaCount unless
// config names it (an autoscaler's maximum), and a number below replicaCount is refused.
func TestHelmChartSharesBudgetsBetweenReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default", []string{"-f", testValues}, "2"},
		{"high availability", []string{"-f", testValues, "-f", haValues}, "3"},
		{"replicaCount set", []string{"-f", testValues, "--set", "replicaCount=5"}, "5"},
		{"an autoscaler's maximum", []string{"-f", testValues, "--set", "config.DISPATCH_REPLICAS=8"}, "8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range render(t, tc.args...).deployment.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "DISPATCH_REPLICAS" {
					got = append(got, e.Value)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("DISPATCH_REPLICAS %q, want once %q", got, tc.want)
			}
		})
	}
	out, err := helm(t, "template", "dispatch", chart, "-f", testValues, "--set", "replicaCount=3,config.DISPATCH_REPLICAS=2")
	if err == nil || !strings.Contains(out, "config.DISPATCH_REPLICAS (2) is less than replicaCount (3)") {
		t.Errorf("DISPATCH_REPLICAS below replicaCount: err %v, output %q; want it refused", err, out)
	}
}
