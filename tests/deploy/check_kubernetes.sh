#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml offline:
#  1. k8scheck generates strict JSON schemas (additionalProperties: false)
#     from k8s.io/api and the Prometheus operator's Go types;
#  2. kubeconform -strict validates every manifest against them (a kind
#     without a schema is an error, not skipped);
#  3. k8scheck decode decodes each document strictly into its Go type;
#  4. check_kubernetes.py checks what the deployment relies on (probes,
#     non-root, state volume, selectors, the config in the ConfigMap), and
#     `prodopsd check-config` validates the ConfigMap's config;
#  5. controls: manifests with an unknown field and with a wrong type must be
#     rejected by both validators.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifests="$here/../../deploy/kubernetes"
tools="${PRODOPS_TOOLS_DIR:-$HOME/.cache/prodopsd/tools}"
for t in kubeconform k8scheck; do
  [ -x "$tools/$t" ] || { echo "$tools/$t missing: run tests/deploy/install_tools.sh" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$tools/k8scheck" schemas "$tmp/schemas"
kubeconform() {
  "$tools/kubeconform" -strict -summary \
    -schema-location "$tmp/schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" "$@"
}
kubeconform "$manifests"/*.yaml
"$tools/k8scheck" decode "$manifests"/*.yaml
/usr/bin/python3 "$here/check_kubernetes.py" "$manifests"
# The ConfigMap's config, through the daemon's own validation.
[ -x "${PRODOPSD_BINARY:-}" ] || { echo "PRODOPSD_BINARY is not set to a built prodopsd" >&2; exit 1; }
/usr/bin/python3 -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["data"]["prodopsd.textproto"], end="")' \
  "$manifests/configmap.yaml" >"$tmp/prodopsd.textproto"
"$PRODOPSD_BINARY" check-config "$tmp/prodopsd.textproto"

mkdir "$tmp/bad"
sed 's/readinessProbe:/readinesProbe:/' "$manifests/statefulset.yaml" >"$tmp/bad/unknown-field.yaml"
sed 's/replicas: 1/replicas: "one"/' "$manifests/statefulset.yaml" >"$tmp/bad/wrong-type.yaml"
sed 's/podMetricsEndpoints:/podMetricEndpoints:/' "$manifests/podmonitor.yaml" >"$tmp/bad/crd-unknown-field.yaml"
for f in "$tmp"/bad/*.yaml; do
  if cmp -s "$f" "$manifests/$(basename "$f")"; then echo "control $f: no change made" >&2; exit 1; fi
  if kubeconform "$f" >/dev/null 2>&1; then
    echo "FAIL: control: kubeconform accepted $(basename "$f")" >&2; exit 1
  fi
  if "$tools/k8scheck" decode "$f" >/dev/null 2>&1; then
    echo "FAIL: control: k8scheck decode accepted $(basename "$f")" >&2; exit 1
  fi
done
echo "check_kubernetes: ok"
