#!/usr/bin/env bash
# What restoring state from the changelog costs (docs/scaling.md), in one
# command:
#
#   bench/restore.sh [--events N] [--users N] [--build-dir DIR] [--skip-build]
#                    [--work-dir DIR] [--keep]
#
# Starts a real Apache Kafka broker (tests/e2e/kafka.sh, in WORK/kafka),
# loads the four event topics (4 partitions each, protobuf) with
# prodops-loadgen, then:
#   0. local: prodopsd without the changelog, on a fresh state directory,
#      reads everything (--exit-when-caught-up): the throughput the writer's
#      is compared with;
#   1. writer: prodopsd with state.changelog, on a fresh state directory,
#      reads everything (--exit-when-caught-up) and leaves the group; its
#      state went to the changelog topics as it was written;
#   2. restorer: prodopsd with the same config and group on another fresh
#      state directory: every task is assigned to it with no local copy,
#      so each is restored from the changelog before its partitions are
#      read (there is nothing left to read);
#   3. current: the restorer started again on its own state directory:
#      every local copy is current, and only the partitions' ends are read.
# Reports the throughput of local and writer (events/s, and their ratio),
# and, from the restorers' logs ("task T: restored R changelog records
# in S s; it holds E entries"), records, entries and seconds, and the
# seconds per million entries and per million records.
#
# Defaults: 1,000,000 events, 100,000 users, build dir build-bench, work dir
# /tmp/prodopsd-restore. --skip-build reuses the binaries in --build-dir.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bench_tag=restore
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

events=1000000
users=100000
build_dir="$root/build-bench"
skip_build=0
work=/tmp/prodopsd-restore
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --events) positive "$1" "${2:-}"; events="$2"; shift 2 ;;
    --users) positive "$1" "${2:-}"; users="$2"; shift 2 ;;
    --build-dir) build_dir="$(realpath -m "${2:?--build-dir wants a directory}")"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --work-dir) work="$(realpath -m "${2:?--work-dir wants a directory}")"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument \"$1\" (see --help)" ;;
  esac
done

if [ "$skip_build" = 0 ]; then
  log "building in $build_dir"
  "$root/scripts/build" RelWithDebInfo "$build_dir" prodopsd prodops-loadgen >/dev/null
fi
for f in prodopsd prodops-loadgen; do
  [ -x "$build_dir/$f" ] || die "$build_dir/$f is missing: run without --skip-build"
done

export PRODOPS_KAFKA_DIR="$work/kafka"
kafka_sh="$root/tests/e2e/kafka.sh"
cleanup() {
  local rc=$?
  [ "$keep" = 1 ] || { "$kafka_sh" clean >/dev/null 2>&1 || true; rm -rf "$work"; }
  exit $rc
}
mkdir -p "$work"
# Every run starts from nothing: a state directory of an earlier run (--keep)
# would hold offsets and changelog positions of another broker's topics.
rm -rf "$work/runs" "$work"/state-*
mkdir -p "$work/runs"
trap cleanup EXIT
start_broker

loadgen_topics=(bench.usage:protobuf:usage bench.tickets:protobuf:ticket
                bench.releases:protobuf:release bench.exposures:protobuf:exposure)
# Created by the broker (4 partitions) when loadgen first asks for them.
start_ms=$(( $(date +%s%3N) - events - 60000 ))
loadgen_args=(--bootstrap "$bootstrap" --events "$events" --users "$users"
              --events-per-second 1000 --start-ms "$start_ms")
for t in "${loadgen_topics[@]}"; do loadgen_args+=(--topic "$t"); done
log "loading $events events ($users users) with prodops-loadgen"
"$build_dir/prodops-loadgen" "${loadgen_args[@]}" >"$work/runs/loadgen.json" \
  2>"$work/runs/loadgen.log" || { tail -n 20 "$work/runs/loadgen.log" >&2; die "loadgen failed"; }

# run NAME STATE_DIR [local]: prodopsd with the changelog (without: local),
# until caught up.
run() {
  local name="$1" state="$2" config="$work/runs/$1.textproto"
  local changelog='changelog { topic_prefix: "restore-bench" } '
  [ "${3:-}" = local ] && changelog=''
  bench_config "$bootstrap" "$state" restore-bench \
    'topic { name: "bench.usage" format: PROTOBUF content: USAGE }' \
    'topic { name: "bench.tickets" format: PROTOBUF content: TICKET }' \
    'topic { name: "bench.releases" format: PROTOBUF content: RELEASE }' \
    'topic { name: "bench.exposures" format: PROTOBUF content: EXPOSURE }' |
    sed "s|^state { dir: \\(.*\\) }\$|state { dir: \\1 $changelog}|" >"$config"
  grep -q "^state { dir: .* $changelog}" "$config" || die "$config: no state line to extend"
  log "$name: prodopsd --exit-when-caught-up"
  "$build_dir/prodopsd" --config "$config" --exit-when-caught-up \
    >"$work/runs/$name.out" 2>"$work/runs/$name.log" ||
    { tail -n 20 "$work/runs/$name.log" >&2; die "$name failed"; }
}

# report NAME: the restores of a run, from its log.
report() {
  python3 - "$1" "$work/runs/$1.log" <<'EOF'
import re, sys
name, path = sys.argv[1], sys.argv[2]
pattern = re.compile(r"task (\d+): restored (\d+) changelog records in ([0-9.]+) s; "
                     r"it holds (\d+) entries")
rows = [tuple(map(float, m.groups())) for m in map(pattern.search, open(path)) if m]
records = sum(r[1] for r in rows)
seconds = sum(r[2] for r in rows)
entries = sum(r[3] for r in rows)
print("%s: %d tasks, %d records, %d entries, %.3f s" % (name, len(rows), records,
                                                       entries, seconds))
if records:
    print("%s: %.2f s per million entries, %.2f s per million records, "
          "%.0f records/s" % (name, seconds / entries * 1e6, seconds / records * 1e6,
                              records / seconds))
EOF
}

run local "$work/state-local" local
run writer "$work/state-writer"
run restorer "$work/state-restorer"
run current "$work/state-restorer"
python3 - "$work/runs/local.out" "$work/runs/writer.out" <<'EOF'
import json, sys
local, writer = (json.load(open(path))["events_per_second"] for path in sys.argv[1:])
print("throughput: %.0f events/s without the changelog, %.0f with it (%.2f)"
      % (local, writer, writer / local))
EOF
report restorer
report current
