#!/usr/bin/env bash
# Lints what deploy/ ships, with the tools the ops world uses (called by .ci/run):
#   helm lint       the chart, with the default and the HA values and the PrometheusRule (Helm pinned
#                   in scripts/helm)
#   promtool        the alert rules: `check rules`, and their unit tests with `test rules`
#   cfn-lint        the CloudFormation template, when installed (pip install cfn-lint), with the
#                   PagerDuty events option off and on
# promtool comes from Debian's prometheus package when it isn't on PATH: the package is only
# unpacked into .cache/ (installing it would start a Prometheus server on a systemd machine).
set -euo pipefail
cd "$(dirname "$0")/.."

promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  tools="$PWD/.cache/deploy-tools"
  promtool="$tools/usr/bin/promtool"
  if [ ! -x "$promtool" ]; then
    echo "promtool not found: unpacking it from Debian's prometheus package"
    mkdir -p "$tools"
    ( cd "$tools"
      apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }
      dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb )
  fi
fi
"$promtool" --version | head -1
"$promtool" check rules deploy/prometheus/dispatch-rules.yaml
"$promtool" test rules deploy/prometheus/dispatch-rules.test.yaml

values=deploy/helm/dispatch/ci/test-values.yaml
bash scripts/helm lint --strict deploy/helm/dispatch -f "$values"
bash scripts/helm lint --strict deploy/helm/dispatch -f "$values" -f deploy/helm/dispatch/values-ha.yaml \
  --set prometheusRule.enabled=true

if command -v cfn-lint >/dev/null; then
  cfn-lint --version
  cfn-lint deploy/dispatch.yaml
  # The same with the PagerDuty events option on (its rule, queues, policies and the task's variable).
  cfn-lint deploy/dispatch.yaml --parameters OperatorTopicArn=arn:aws:sns:us-east-1:123456789012:ops \
    PagerDutyEventBusName=aws.partner/pagerduty.com/acme-dispatch
else
  echo "WARNING: cfn-lint is not installed (pip install cfn-lint): deploy/dispatch.yaml was checked only by deploy/template_test.go"
fi
