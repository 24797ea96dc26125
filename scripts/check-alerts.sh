#!/usr/bin/env bash
# Checks Weir's Prometheus alerting rules with promtool: deploy/alerts.yml is valid, its unit
# tests (deploy/alerts.test.yml) pass, deploy/prometheus.yml loads it, and the Operator's copy
# in deploy/k8s/prometheusrule.yaml holds the same rules. Installs promtool (Debian's
# prometheus package) when it is missing; on a machine running systemd that package also
# starts a Prometheus service (`systemctl disable --now prometheus` stops it).
#
#   scripts/check-alerts.sh           check everything, exit 1 on any failure
#   scripts/check-alerts.sh --write   first rewrite prometheusrule.yaml's spec from alerts.yml
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/install-missing.sh prometheus

# prometheusrule.yaml as it should be: its own lines down to `spec:`, then alerts.yml from
# `groups:` on, indented by two spaces (blank lines left blank).
operator_rules() {
  sed '/^spec:$/q' deploy/k8s/prometheusrule.yaml
  sed -n '/^groups:/,$p' deploy/alerts.yml | sed 's/^./  &/'
}

if [ "${1:-}" = "--write" ]; then
  operator_rules > deploy/k8s/prometheusrule.yaml.new
  mv deploy/k8s/prometheusrule.yaml.new deploy/k8s/prometheusrule.yaml
fi

promtool check rules deploy/alerts.yml
promtool test rules deploy/alerts.test.yml
promtool check config deploy/prometheus.yml
if ! diff -u deploy/k8s/prometheusrule.yaml <(operator_rules); then
  echo "check-alerts: deploy/k8s/prometheusrule.yaml differs from deploy/alerts.yml: run scripts/check-alerts.sh --write" >&2
  exit 1
fi
echo "check-alerts: deploy/k8s/prometheusrule.yaml holds the rules of deploy/alerts.yml"
