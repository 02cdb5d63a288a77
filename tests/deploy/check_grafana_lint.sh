#!/usr/bin/env bash
# Lints Grafana dashboards in strict mode with dashlint (tests/deploy/dashlint,
# built into $PRODOPS_TOOLS_DIR by install_tools.sh), using the .lint
# exclusion file beside them. Arguments: the dashboard files.
set -euo pipefail
tools="${PRODOPS_TOOLS_DIR:-$HOME/.cache/prodopsd/tools}"
[ -x "$tools/dashlint" ] || { echo "$tools/dashlint missing: run tests/deploy/install_tools.sh" >&2; exit 1; }
exec "$tools/dashlint" lint --strict "$@"
