#!/usr/bin/env bash
# The performance benchmark of prodopsd, in one command (docs/performance.md):
#
#   bench/run.sh [--events N] [--users N] [--repeat N] [--events-per-second R]
#                [--accounts N] [--features N] [--teams N] [--mix U,T,R,E]
#                [--only LIST] [--kstreams-guarantees LIST] [--kstreams-heap SIZE]
#                [--no-micro] [--build-dir DIR] [--skip-build] [--work-dir DIR]
#                [--out FILE] [--keep]
#
# Starts a real Apache Kafka broker (tests/e2e/kafka.sh, in its own
# directory), creates the four event topics with 4 partitions each, loads
# them with prodops-loadgen (protobuf; the same events also as NDJSON and as
# length-delimited protobuf files), then
# measures, one after another and --repeat times each:
#   raw       prodops-raw-consumer: librdkafka reading every message, nothing else
#   prodopsd  prodopsd --exit-when-caught-up on a fresh state directory
#   kstreams  the Kafka Streams peer (bench/peers/kstreams), per guarantee
#   replay    prodopsd replay of the NDJSON files, then of the protobuf files
# and the hot-path micro-benchmark (hot_path_bench). Writes a Markdown report
# (medians, ratios, peak RSS, state written per event, the machine) to stdout
# and to --out.
#
# Defaults: 5,000,000 events, 100,000 users in 1,000 accounts, 500 features
# of 40 teams, 90% usage / 8% ticket / 1% release / 1% exposure events,
# 3 repetitions, 1000 events per second of event time, every measurement, build dir build-bench, work dir
# /tmp/prodopsd-bench. --skip-build reuses the binaries of an earlier run in
# --build-dir (and the commit recorded for them). --keep leaves the broker
# running and the data in place.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bench_tag=bench
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

events=5000000
users=100000
repeat=3
events_per_second=1000
accounts=1000
features=500
teams=40
mix="90,8,1,1"
only="raw,prodopsd,kstreams,replay"
guarantees="exactly_once_v2,at_least_once"
kstreams_heap="1g"
micro=1
skip_build=0
build_dir="$root/build-bench"
work="/tmp/prodopsd-bench"
out=""
keep=0
timeout_s=3600

while [ $# -gt 0 ]; do
  case "$1" in
    --events) positive "$1" "${2:-}"; events="$2"; shift 2 ;;
    --users) positive "$1" "${2:-}"; users="$2"; shift 2 ;;
    --repeat) positive "$1" "${2:-}"; repeat="$2"; shift 2 ;;
    --events-per-second) positive "$1" "${2:-}"; events_per_second="$2"; shift 2 ;;
    --accounts) positive "$1" "${2:-}"; accounts="$2"; shift 2 ;;
    --features) positive "$1" "${2:-}"; features="$2"; shift 2 ;;
    --teams) positive "$1" "${2:-}"; teams="$2"; shift 2 ;;
    --mix) mix="${2:?--mix needs U,T,R,E}"; shift 2 ;;
    --only) only="${2:?--only needs a list}"; shift 2 ;;
    --kstreams-guarantees) guarantees="${2:?--kstreams-guarantees needs a list}"; shift 2 ;;
    --kstreams-heap) kstreams_heap="${2:?--kstreams-heap needs a size}"; shift 2 ;;
    --no-micro) micro=0; shift ;;
    --build-dir) build_dir="$(realpath -m "${2:?}")"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --work-dir) work="$(realpath -m "${2:?}")"; shift 2 ;;
    --out) out="$(realpath -m "${2:?}")"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done
for m in ${only//,/ }; do
  case "$m" in raw|prodopsd|kstreams|replay) ;; *) die "--only: unknown measurement $m" ;; esac
done
wants() { [[ ",$only," == *",$1,"* ]]; }
for g in ${guarantees//,/ }; do
  case "$g" in at_least_once|exactly_once_v2) ;; *) die "unknown guarantee $g" ;; esac
done

for tool in python3 java mvn protoc kcat /usr/bin/time; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup installs the tools)"
done

topics=(bench.usage bench.tickets bench.releases bench.exposures)
loadgen_topics=(bench.usage:protobuf:usage bench.tickets:protobuf:ticket
                bench.releases:protobuf:release bench.exposures:protobuf:exposure)
partitions=4

export PRODOPS_KAFKA_DIR="$work/kafka"
kafka_sh="$root/tests/e2e/kafka.sh"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
[ -n "$out" ] || out="$work/results-$stamp.md"

cleanup() {
  local rc=$?
  if [ "$keep" = 0 ]; then
    "$kafka_sh" clean >/dev/null 2>&1 || true
    rm -rf "$work/ndjson" "$work/protobuf" "$work/state"
  fi
  exit $rc
}

# --- build ------------------------------------------------------------------
peer_build="$build_dir/kstreams-peer"
peer_cp="$peer_build/classes:$peer_build/lib/*"
if [ "$skip_build" = 0 ]; then
  log "building in $build_dir"
  "$root/scripts/build" RelWithDebInfo "$build_dir" prodopsd prodops-loadgen \
    prodops-raw-consumer hot_path_bench >/dev/null
  log "building the Kafka Streams peer in $peer_build"
  if ! mvn -B -q -f "$here/peers/kstreams/pom.xml" -Dbuild.dir="$peer_build" package \
      >"$build_dir/kstreams-peer.mvn.log" 2>&1; then
    tail -n 30 "$build_dir/kstreams-peer.mvn.log" >&2
    die "building the Kafka Streams peer failed (log $build_dir/kstreams-peer.mvn.log)"
  fi
  record_build "$build_dir/bench-build.txt"
fi
for f in prodopsd prodops-loadgen prodops-raw-consumer hot_path_bench bench-build.txt \
    kstreams-peer/classes; do
  [ -e "$build_dir/$f" ] || die "$build_dir/$f is missing: run without --skip-build"
done

# --- broker and data ----------------------------------------------------------
mkdir -p "$work"
rm -rf "$work/runs" "$work/state" "$work/ndjson" "$work/protobuf"
mkdir -p "$work/runs" "$work/state"
trap cleanup EXIT
cp "$build_dir/bench-build.txt" "$work/runs/commit.txt"
start_broker
java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$peer_cp" dev.prodopsd.bench.CreateTopics "$bootstrap" "$partitions" "${topics[@]}"

# The scenario ends a minute before now: every event is inside prodopsd's
# 1h, 1d and 7d windows and none is in the future.
span_ms=$(( events * 1000 / events_per_second ))
start_ms=$(( $(date +%s%3N) - span_ms - 60000 ))
loadgen_args=(--bootstrap "$bootstrap" --events "$events" --users "$users"
              --accounts "$accounts" --features "$features" --teams "$teams" --mix "$mix"
              --events-per-second "$events_per_second" --start-ms "$start_ms"
              --ndjson-dir "$work/ndjson" --protobuf-dir "$work/protobuf")
for t in "${loadgen_topics[@]}"; do loadgen_args+=(--topic "$t"); done
log "loading $events events ($users users) with prodops-loadgen"
load_started=$EPOCHREALTIME
"$build_dir/prodops-loadgen" "${loadgen_args[@]}" >"$work/runs/loadgen.json" \
  2>"$work/runs/loadgen.log" || { tail -n 20 "$work/runs/loadgen.log" >&2; die "loadgen failed"; }
log "loaded in $(python3 -c "print(round($EPOCHREALTIME - $load_started, 1))") s: $(cat "$work/runs/loadgen.json")"

# --- measurements --------------------------------------------------------------
# measure NAME REP CMD...: runs CMD under /usr/bin/time -v, stdout to
# runs/NAME-REP.out, stderr to .log, rusage to .time, wall clock to .wall,
# the 1-minute load average before and after to .load (the machine may be
# shared: the report shows it beside each run).
measure() {
  local name="$1" rep="$2"
  shift 2
  local base="$work/runs/$name-$rep"
  local load_before
  load_before="$(cut -d' ' -f1 /proc/loadavg)"
  local started=$EPOCHREALTIME
  if ! timeout "$timeout_s" /usr/bin/time -v -o "$base.time" "$@" >"$base.out" 2>"$base.log"; then
    tail -n 30 "$base.log" >&2
    die "$name (run $rep) failed; log $base.log"
  fi
  echo "$started $EPOCHREALTIME" >"$base.wall"
  echo "$load_before $(cut -d' ' -f1 /proc/loadavg)" >"$base.load"
}

# state_size NAME REP DIR: the bytes under DIR, then removes it.
state_size() {
  du -sb "$3" | cut -f1 >"$work/runs/$1-$2.state"
  rm -rf "$3"
}

prodopsd_config() {  # STATE_DIR GROUP
  bench_config "$bootstrap" "$1" "$2" \
    'topic { name: "bench.usage" format: PROTOBUF content: USAGE }' \
    'topic { name: "bench.tickets" format: PROTOBUF content: TICKET }' \
    'topic { name: "bench.releases" format: PROTOBUF content: RELEASE }' \
    'topic { name: "bench.exposures" format: PROTOBUF content: EXPOSURE }'
}

raw_args=(--bootstrap "$bootstrap")
for t in "${topics[@]}"; do raw_args+=(--topic "$t"); done
kstreams_topics=(--topic bench.usage:usage --topic bench.tickets:ticket
                 --topic bench.releases:release --topic bench.exposures:exposure)

for rep in $(seq 1 "$repeat"); do
  if wants raw; then
    log "run $rep/$repeat: raw librdkafka consumer"
    measure raw "$rep" "$build_dir/prodops-raw-consumer" "${raw_args[@]}"
  fi
  if wants prodopsd; then
    log "run $rep/$repeat: prodopsd --exit-when-caught-up"
    state="$work/state/prodopsd-$rep"
    prodopsd_config "$state" "prodops-bench-$stamp-$rep" >"$work/runs/prodopsd-$rep.textproto"
    measure prodopsd "$rep" "$build_dir/prodopsd" --config "$work/runs/prodopsd-$rep.textproto" \
      --exit-when-caught-up
    state_size prodopsd "$rep" "$state"
  fi
  if wants kstreams; then
    for g in ${guarantees//,/ }; do
      log "run $rep/$repeat: Kafka Streams ($g)"
      state="$work/state/kstreams-$g-$rep"
      measure "kstreams_$g" "$rep" java -Xmx"$kstreams_heap" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$peer_cp" \
        dev.prodopsd.bench.ProdopsStreams --bootstrap "$bootstrap" "${kstreams_topics[@]}" \
        --state-dir "$state" --application-id "prodops-bench-$stamp-$g-$rep" --guarantee "$g"
      state_size "kstreams_$g" "$rep" "$state"
    done
  fi
  if wants replay; then
    # The same events from NDJSON files, then from length-delimited protobuf.
    for format in json protobuf; do
      name=replay
      [ "$format" = json ] || name="replay_$format"
      dir="$work/ndjson"
      [ "$format" = json ] || dir="$work/$format"
      log "run $rep/$repeat: prodopsd replay --format $format"
      state="$work/state/$name-$rep"
      prodopsd_config "$state" unused >"$work/runs/$name-$rep.textproto"
      inputs=()
      for t in "${topics[@]}"; do inputs+=(--input "$dir/$t"); done
      measure "$name" "$rep" "$build_dir/prodopsd" replay --format "$format" \
        --config "$work/runs/$name-$rep.textproto" --state-dir "$state" "${inputs[@]}"
      state_size "$name" "$rep" "$state"
    done
  fi
done

if [ "$micro" = 1 ]; then
  log "hot-path micro-benchmark"
  "$build_dir/hot_path_bench" --benchmark_format=json >"$work/runs/hot_path.json" \
    2>"$work/runs/hot_path.log" || { tail -n 20 "$work/runs/hot_path.log" >&2; die "hot_path_bench failed"; }
fi

# --- report ----------------------------------------------------------------------
python3 "$here/report.py" --runs "$work/runs" --events "$events" --users "$users" \
  --shape "$accounts accounts, $features features of $teams teams, mix $mix (usage,ticket,release,exposure)" \
  --repeat "$repeat" --events-per-second "$events_per_second" --partitions "$partitions" \
  --guarantees "$guarantees" --kstreams-heap "$kstreams_heap" >"$out"
cat "$out"
log "report written to $out"
