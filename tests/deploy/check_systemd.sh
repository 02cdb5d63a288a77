#!/usr/bin/env bash
# Validates deploy/systemd/prodopsd.service without a running systemd:
#  - `systemd-analyze verify --man=no` on a copy whose /usr/bin/prodopsd is a
#    stub (verify requires the executables to exist); any warning fails;
#  - `systemd-analyze security --offline=yes` with an exposure threshold;
#  - the directives the deployment relies on are present;
#  - a control: the same verify on a copy with an unknown key must fail, so
#    this test cannot pass by not looking.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/../../deploy/systemd/prodopsd.service"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (scripts/setup installs systemd)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexit 0\n' >"$tmp/prodopsd"
chmod +x "$tmp/prodopsd"

verify() {  # verify UNIT_FILE: fails on a non-zero exit or any output
  local out rc=0
  out="$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$1" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "$out"
    return 1
  fi
}

mkdir "$tmp/unit" "$tmp/control"
sed "s#/usr/bin/prodopsd#$tmp/prodopsd#g" "$unit" >"$tmp/unit/prodopsd.service"
verify "$tmp/unit/prodopsd.service" || { echo "FAIL: systemd-analyze verify"; exit 1; }

# Exposure 0.0 (locked down) .. 10.0 (unsafe); 2.5 is well within "OK".
if ! systemd-analyze security --offline=yes --threshold=25 "$tmp/unit/prodopsd.service" >"$tmp/security.txt" 2>&1; then
  tail -n 5 "$tmp/security.txt"
  echo "FAIL: systemd-analyze security exposure above 2.5"
  exit 1
fi
grep -o 'Overall exposure level.*' "$tmp/security.txt" || true

required=(
  'ExecStart=/usr/bin/prodopsd --config /etc/prodopsd/prodopsd.textproto'
  'DynamicUser=yes' 'StateDirectory=prodopsd' 'Restart=on-failure'
  'TimeoutStopSec=' 'NoNewPrivileges=yes' 'ProtectSystem=strict'
  'CapabilityBoundingSet=' 'WantedBy=multi-user.target')
for line in "${required[@]}"; do
  grep -q "^$line" "$unit" || { echo "FAIL: $unit lacks '$line'"; exit 1; }
done

{ cat "$tmp/unit/prodopsd.service"; printf '[Service]\nNoSuchDirective=1\n'; } >"$tmp/control/prodopsd.service"
if verify "$tmp/control/prodopsd.service" >/dev/null; then
  echo "FAIL: control: systemd-analyze verify accepted an unknown directive"
  exit 1
fi
echo "check_systemd: ok"
