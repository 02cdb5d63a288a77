#!/usr/bin/env bash
# Installs the tools of the deployment checks, from the Go module proxy only:
#   kubeconform (pinned), k8scheck (tests/deploy/k8scheck: schema
#   generator and strict decoder built from k8s.io/api and the Prometheus
#   operator's API types) and dashlint (tests/deploy/dashlint: the Grafana
#   dashboard linter's rules, with Prometheus's PromQL parser and the Grafana
#   Foundation SDK's dashboard types); versions pinned in their go.mod/go.sum.
# Into $PRODOPS_TOOLS_DIR (default ~/.cache/prodopsd/tools). Idempotent and
# quiet when everything is there. Called by the ctest fixture
# deploy_install_tools (tests/deploy/CMakeLists.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${PRODOPS_TOOLS_DIR:-$HOME/.cache/prodopsd/tools}"
kubeconform_version=v0.8.0
command -v go >/dev/null || { echo "install_tools: go not found" >&2; exit 1; }
mkdir -p "$tools"

if [ "$(cat "$tools/kubeconform.version" 2>/dev/null)" != "$kubeconform_version" ] ||
   [ ! -x "$tools/kubeconform" ]; then
  echo "install_tools: go install kubeconform@$kubeconform_version" >&2
  GOFLAGS=-mod=mod GOBIN="$tools" \
    go install "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version"
  echo "$kubeconform_version" >"$tools/kubeconform.version"
fi

# Rebuilt every time: a no-op for Go's build cache when nothing changed.
(cd "$here/k8scheck" && go build -mod=readonly -o "$tools/k8scheck" .)
# Grafana's own dashboard-linter is not installable (the module proxy does
# not serve it, its tags carry replace directives that `go install` refuses,
# and its current versions depend on AGPL-licensed Loki); dashlint applies
# the same rules.
(cd "$here/dashlint" && go build -mod=readonly -o "$tools/dashlint" .)
