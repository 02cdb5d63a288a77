#!/usr/bin/env bash
# Memory of prodopsd as the span of event time grows (docs/performance.md,
# "Memory and the span of event time"):
#
#   bench/span.sh [--points "EVENTS@RATE ..."] [--users N] [--prodopsd BIN]
#                 [--window-cache-bytes N] [--build-dir DIR] [--skip-build]
#                 [--work-dir DIR]
#
# For each point, writes EVENTS events at RATE events per second of event
# time (so a span of EVENTS / RATE seconds) with prodops-loadgen as
# length-delimited protobuf files (usage, tickets, releases, exposures, as in
# bench/run.sh), replays them with `prodopsd replay` on a fresh state
# directory, and prints a Markdown table row: peak RSS, wall time, events per
# second, and the window cache's figures from the replay's summary line.
# No Kafka broker is involved; nothing else should run meanwhile.
#
# Defaults: points "1000000@1000 5000000@1000 20000000@1000 20000000@200"
# (17 min, 83 min, 5.6 h and 28 h of event time), 100,000 users, the
# prodopsd built in build dir build-bench, the default window cache budget,
# work dir /tmp/prodopsd-span. --prodopsd measures another binary (e.g. an
# older build) on the same files; --skip-build reuses the binaries in
# --build-dir.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bench_tag=span
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

points="1000000@1000 5000000@1000 20000000@1000 20000000@200"
users=100000
prodopsd=""
window_cache_bytes=""
build_dir="$root/build-bench"
skip_build=0
work="/tmp/prodopsd-span"

while [ $# -gt 0 ]; do
  case "$1" in
    --points) points="${2:?--points wants a list}"; shift 2 ;;
    --users) positive "$1" "${2:-}"; users="$2"; shift 2 ;;
    --prodopsd) prodopsd="$(realpath -m "${2:?}")"; shift 2 ;;
    --window-cache-bytes) positive "$1" "${2:-}"; window_cache_bytes="$2"; shift 2 ;;
    --build-dir) build_dir="$(realpath -m "${2:?}")"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --work-dir) work="$(realpath -m "${2:?}")"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for point in $points; do
  [[ "$point" =~ ^[1-9][0-9]*@[1-9][0-9]*$ ]] || die "--points: \"$point\" is not EVENTS@RATE"
done

if [ "$skip_build" = 0 ]; then
  log "building in $build_dir"
  "$root/scripts/build" RelWithDebInfo "$build_dir" prodopsd prodops-loadgen >/dev/null
fi
[ -n "$prodopsd" ] || prodopsd="$build_dir/prodopsd"
for f in "$prodopsd" "$build_dir/prodops-loadgen"; do
  [ -x "$f" ] || die "$f is missing: run without --skip-build"
done

topics=(span.usage span.tickets span.releases span.exposures)
contents=(usage ticket release exposure)
mkdir -p "$work"
config="$work/replay.textproto"
{
  echo 'kafka { bootstrap_servers: "unused:9092" }'
  echo 'topic { name: "unused" format: PROTOBUF content: ENVELOPE }'
  echo "state { dir: \"$work/state\"${window_cache_bytes:+ window_cache_bytes: $window_cache_bytes} }"
  bench_config unused "$work/state" unused | sed -n '/^signals {/,$p'
} >"$config"

echo "| events | events/s of event time | span | peak RSS MiB | wall s | events/s | buckets in memory KiB | window totals KiB | buckets dropped | read back |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for point in $points; do
  events="${point%@*}"
  rate="${point#*@}"
  span_s=$(( events / rate ))
  data="$work/data-$events-$rate-$users"
  if [ ! -e "$data/done" ]; then
    log "writing $events events at $rate/s ($users users) to $data"
    rm -rf "$data"
    args=(--events "$events" --users "$users" --events-per-second "$rate"
          --start-ms "$(( $(date +%s%3N) - span_s * 1000 - 60000 ))" --protobuf-dir "$data")
    for i in "${!topics[@]}"; do args+=(--topic "${topics[$i]}:protobuf:${contents[$i]}"); done
    "$build_dir/prodops-loadgen" "${args[@]}" >/dev/null 2>"$work/loadgen.log" ||
      { tail -n 20 "$work/loadgen.log" >&2; die "loadgen failed"; }
    touch "$data/done"
  fi
  inputs=()
  for t in "${topics[@]}"; do inputs+=(--input "$data/$t"); done
  log "replaying $events events at $rate/s with $prodopsd"
  rm -rf "$work/state"
  started=$EPOCHREALTIME
  /usr/bin/time -f '%M' -o "$work/rss" "$prodopsd" replay --format protobuf \
    --config "$config" --state-dir "$work/state" "${inputs[@]}" >/dev/null \
    2>"$work/replay.log" ||
    { tail -n 20 "$work/replay.log" >&2; die "replay failed"; }
  wall=$(echo "$EPOCHREALTIME - $started" | bc)
  # Older builds print no summary line: their cells stay empty.
  summary="$(grep -o 'window cache: .*' "$work/replay.log" || true)"
  read -r buckets totals dropped read_back < <(
    echo "$summary" | sed -E 's/[^0-9 ]//g; s/ +/ /g; s/^ //') || true
  printf '| %s | %s | %s | %.1f | %.1f | %.0f | %s | %s | %s | %s |\n' \
    "$events" "$rate" "$(( span_s / 60 )) min" "$(echo "$(cat "$work/rss") / 1024" | bc -l)" \
    "$wall" "$(echo "$events / $wall" | bc -l)" "${buckets:-}" "${totals:-}" \
    "${dropped:-}" "${read_back:-}"
done
rm -rf "$work/state"
