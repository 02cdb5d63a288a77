#!/usr/bin/env bash
# Freshness of prodopsd, in one command (docs/performance.md, "Freshness"):
# how long after an event's time it is visible in /metrics, at half the
# daemon's maximum throughput.
#
#   bench/freshness.sh [--rate R] [--duration S] [--max-events N] [--users N]
#                      [--poll-ms MS] [--build-dir DIR] [--skip-build]
#                      [--work-dir DIR] [--out FILE] [--keep]
#
# Starts a real Apache Kafka broker (tests/e2e/kafka.sh, in WORK/kafka), then:
#   1. maximum: loads --max-events events into the topic fresh.max and runs
#      prodopsd --exit-when-caught-up on it; R is half its events/s
#      (skipped when --rate R is given);
#   2. live: runs prodopsd (wall clock, default flush interval) on the topic
#      fresh.live (4 partitions, protobuf envelopes) while prodops-loadgen
#      writes R events per second whose event times follow the wall clock,
#      and bench/freshness.py polls GET /metrics every --poll-ms for
#      prodops_last_event_timestamp_seconds{topic="fresh.live"};
#   3. reads fresh.live back (kcat) for each event's write time, and reports,
#      for event times t every 10 ms from 5 s after the first to 5 s before
#      the last, delay(t) = first poll that shows a value >= t, minus t:
#      p50, p99, max, against the bound flush interval + 1 s.
#
# prodops-loadgen paces by message count (--rate) while its scenario's
# density in event time is about 0.9 x --events-per-second (only most
# simulated arrivals make one event each); a short dry run measures that
# density and scales --events-per-second so that both are R. The remaining
# gap between an event's time and its write is measured and reported
# ("write lag"), with the delay counted from the write.
#
# Defaults: R = half the measured maximum, 60 s, 2,000,000 events for the
# maximum, 100,000 users, a poll every 25 ms, build dir build-fresh, work dir
# /tmp/prodopsd-freshness. Exit code 0 when p99 is within the bound, 3 when
# not, 1 on failure. --keep leaves the broker running and the data in place.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
bench_tag=freshness
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

rate=0
duration=60
max_events=2000000
users=100000
poll_ms=25
skip_build=0
build_dir="$root/build-fresh"
work="/tmp/prodopsd-freshness"
out=""
keep=0
skip_s=5
step_ms=10
flush_interval_ms=1000  # the daemon's default (config.proto), which the run uses

while [ $# -gt 0 ]; do
  case "$1" in
    --rate) positive "$1" "${2:-}"; rate="$2"; shift 2 ;;
    --duration) positive "$1" "${2:-}"; duration="$2"; shift 2 ;;
    --max-events) positive "$1" "${2:-}"; max_events="$2"; shift 2 ;;
    --users) positive "$1" "${2:-}"; users="$2"; shift 2 ;;
    --poll-ms) positive "$1" "${2:-}"; poll_ms="$2"; shift 2 ;;
    --build-dir) build_dir="$(realpath -m "${2:?}")"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --work-dir) work="$(realpath -m "${2:?}")"; shift 2 ;;
    --out) out="$(realpath -m "${2:?}")"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
done
[ "$duration" -gt $((2 * skip_s)) ] || die "--duration must exceed $((2 * skip_s)) s"

for tool in python3 java kcat curl; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup installs the tools)"
done

export PRODOPS_KAFKA_DIR="$work/kafka"
kafka_sh="$root/tests/e2e/kafka.sh"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
runs="$work/runs"
[ -n "$out" ] || out="$work/freshness-$stamp.md"
live_topic=fresh.live
max_topic=fresh.max
partitions=4

pids=()
cleanup() {
  local rc=$?
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$keep" = 0 ]; then
    "$kafka_sh" clean >/dev/null 2>&1 || true
    rm -rf "$work/state" "$work/calibrate"
  fi
  exit $rc
}

# --- build ------------------------------------------------------------------
if [ "$skip_build" = 0 ]; then
  log "building in $build_dir"
  "$root/scripts/build" RelWithDebInfo "$build_dir" prodopsd prodops-loadgen >/dev/null
  record_build "$build_dir/freshness-build.txt"
fi
for f in prodopsd prodops-loadgen freshness-build.txt; do
  [ -e "$build_dir/$f" ] || die "$build_dir/$f is missing: run without --skip-build"
done

# --- broker and topics ----------------------------------------------------------
mkdir -p "$work"
rm -rf "$runs" "$work/state" "$work/calibrate"
mkdir -p "$runs" "$work/state"
trap cleanup EXIT
start_broker
# bench/run.sh's CreateTopics, run from its source against the broker's own
# client jars (Java's single-file launch), so no Maven build is needed.
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/tests/e2e/kafka/pom.xml")"
kafka_jars="${PRODOPS_KAFKA_CACHE:-$HOME/.cache/prodopsd/kafka-$kafka_version}/jars"
java -Dlog4j.configuration="file:$root/tests/e2e/kafka/log4j.properties" -cp "$kafka_jars/*" \
  "$here/peers/kstreams/src/main/java/dev/prodopsd/bench/CreateTopics.java" \
  "$bootstrap" "$partitions" "$live_topic" "$max_topic"

prodopsd_config() {  # TOPIC STATE_DIR GROUP
  bench_config "$bootstrap" "$2" "$3" "topic { name: \"$1\" format: PROTOBUF content: ENVELOPE }"
}

now_ms() { date +%s%3N; }

# --- 1. the maximum ----------------------------------------------------------------
max_rate=""
if [ "$rate" = 0 ]; then
  # As in bench/run.sh: 1000 events per second of event time, ending a
  # minute before now, so every event is inside the 1h, 1d and 7d windows.
  start_ms=$(( $(now_ms) - max_events - 60000 ))
  log "maximum: loading $max_events events into $max_topic"
  "$build_dir/prodops-loadgen" --bootstrap "$bootstrap" --events "$max_events" \
    --users "$users" --events-per-second 1000 --start-ms "$start_ms" \
    --topic "$max_topic:protobuf:envelope" >"$runs/max-loadgen.json" 2>"$runs/max-loadgen.log" ||
    { tail -n 20 "$runs/max-loadgen.log" >&2; die "loadgen failed"; }
  prodopsd_config "$max_topic" "$work/state/max" "prodops-fresh-$stamp-max" >"$runs/max.textproto"
  log "maximum: prodopsd --exit-when-caught-up"
  "$build_dir/prodopsd" --config "$runs/max.textproto" --exit-when-caught-up \
    >"$runs/max.out" 2>"$runs/max.log" || { tail -n 20 "$runs/max.log" >&2; die "prodopsd failed"; }
  rm -rf "$work/state/max"
  max_rate="$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["events_per_second"]))' \
    <"$runs/max.out")"
  rate=$(( max_rate / 2 ))
  log "maximum: $max_rate events/s; R = $rate events/s"
fi

# --- 2. the live run ------------------------------------------------------------------
events=$(( rate * duration ))

# The scenario's density in event time per --events-per-second, from a 10 s
# dry run that writes nowhere (NDJSON into a pipe that is thrown away).
mkdir -p "$work/calibrate"
mkfifo "$work/calibrate/$live_topic"
cat "$work/calibrate/$live_topic" >/dev/null &
drain_pid=$!
"$build_dir/prodops-loadgen" --ndjson-dir "$work/calibrate" --events $(( rate * 10 )) \
  --users "$users" --events-per-second "$rate" --start-ms "$(now_ms)" \
  --topic "$live_topic:protobuf:envelope" >"$runs/calibrate.json" 2>/dev/null ||
  die "the loadgen dry run failed"
wait "$drain_pid"
density="$(python3 "$here/freshness.py" density <"$runs/calibrate.json")"
scenario_eps="$(python3 -c "print(round($rate * $rate / $density, 1))")"
log "scenario density $density events/s at --events-per-second $rate; using $scenario_eps"

state="$work/state/live"
prodopsd_config "$live_topic" "$state" "prodops-fresh-$stamp-live" >"$runs/live.textproto"
log "live: starting prodopsd"
"$build_dir/prodopsd" --config "$runs/live.textproto" >"$runs/live.out" 2>"$runs/live.log" &
daemon_pid=$!
pids+=("$daemon_pid")
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's/.*serving \/metrics.* on port \([0-9]*\).*/\1/p' "$runs/live.log" | head -n 1)"
  [ -n "$port" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { tail -n 20 "$runs/live.log" >&2; die "prodopsd exited"; }
  sleep 0.1
done
[ -n "$port" ] || die "prodopsd did not report its HTTP port"
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

python3 "$here/freshness.py" poll --url "http://127.0.0.1:$port/metrics" --topic "$live_topic" \
  --interval-ms "$poll_ms" --out "$runs/polls.txt" 2>"$runs/poll.log" &
poll_pid=$!
pids+=("$poll_pid")
load_before="$(cut -d' ' -f1 /proc/loadavg)"
start_ms="$(now_ms)"
log "live: writing $events events at $rate/s for ${duration} s"
/usr/bin/time -v -o "$runs/live-loadgen.time" "$build_dir/prodops-loadgen" \
  --bootstrap "$bootstrap" --events "$events" --users "$users" \
  --events-per-second "$scenario_eps" --rate "$rate" --start-ms "$start_ms" \
  --topic "$live_topic:protobuf:envelope" >"$runs/live-loadgen.json" 2>"$runs/live-loadgen.log" ||
  { tail -n 20 "$runs/live-loadgen.log" >&2; die "loadgen failed"; }
loadgen_s="$(python3 -c "print(round(($(now_ms) - $start_ms) / 1000, 1))")"
# Until the last event is visible (a daemon that fell behind catches up),
# at most 120 s, then one more flush interval and a little.
last_ms="$(python3 -c 'import json,sys; t=json.load(sys.stdin)["topics"]; print(max(v["last_ms"] for v in t.values()))' <"$runs/live-loadgen.json")"
for _ in $(seq 1 1200); do
  visible="$(tail -n 1 "$runs/polls.txt" | awk '$3 != "nan" {printf "%.0f", $3 * 1000}')"
  [ -n "$visible" ] && [ "$visible" -ge "$last_ms" ] && break
  sleep 0.1
done
sleep $(( 1 + flush_interval_ms / 1000 ))
load_after="$(cut -d' ' -f1 /proc/loadavg)"
kill -TERM "$poll_pid"
wait "$poll_pid" || true
# One /metrics body, to show what each poll fetched and the daemon rendered.
curl -fs "http://127.0.0.1:$port/metrics" >"$runs/metrics.txt" || true
# The daemon's CPU time (user + system) over its whole run, for the report.
daemon_cpu_s="$(python3 -c "import os; f=open('/proc/$daemon_pid/stat').read().rsplit(')', 1)[1].split();
print(round((int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'), 1))")"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || die "prodopsd did not stop cleanly (log $runs/live.log)"
pids=()
rm -rf "$state"

# --- 3. write times and the analysis -------------------------------------------------
log "reading $live_topic back for the write times"
kcat -C -b "$bootstrap" -t "$live_topic" -e -q -f '%T %S\n%s' |
  python3 "$here/freshness.py" writes --out "$runs/writes.txt"
first_ms="$(python3 -c 'import json,sys; t=json.load(sys.stdin)["topics"]; print(min(v["first_ms"] for v in t.values()))' <"$runs/live-loadgen.json")"

verdict=0
{
  echo "## prodopsd freshness, $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); load average" \
    "$load_before before, $load_after after the live run"
  echo "- built from: $(cat "$build_dir/freshness-build.txt")"
  if [ -n "$max_rate" ]; then
    echo "- maximum: prodopsd --exit-when-caught-up on $max_events events (1 topic, $partitions" \
      "partitions, protobuf envelopes): $max_rate events/s"
  fi
  echo "- R = $rate events/s for ${duration} s ($events events, $users users; loadgen" \
    "--events-per-second $scenario_eps for a density of R in event time), written in $loadgen_s s;" \
    "wall clock, flush interval $flush_interval_ms ms; prodopsd used $daemon_cpu_s s of CPU;" \
    "/metrics is $(wc -c <"$runs/metrics.txt") bytes"
  echo
  python3 "$here/freshness.py" analyze --polls "$runs/polls.txt" --writes "$runs/writes.txt" \
    --start-ms "$first_ms" --end-ms "$last_ms" --skip-s "$skip_s" --step-ms "$step_ms" \
    --flush-interval-ms "$flush_interval_ms" --json "$runs/result.json" || verdict=$?
} >"$out"
cat "$out"
log "report written to $out"
[ "$verdict" = 0 ] || [ "$verdict" = 3 ] || die "the analysis failed"
exit "$verdict"
