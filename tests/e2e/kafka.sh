#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, combined broker + controller) on loopback
# for the e2e tests, from Maven Central.
#
#   tests/e2e/kafka.sh fetch   resolve the broker's jars into the cache
#   tests/e2e/kafka.sh start   start the broker (first start: pick free ports,
#                              write server.properties, format the storage);
#                              a later start reuses the same ports and data
#   tests/e2e/kafka.sh stop    stop the broker; ports and data are kept
#   tests/e2e/kafka.sh clean   stop, then delete the directory
#   tests/e2e/kafka.sh env     print "PRODOPS_KAFKA_BOOTSTRAP=host:port"
#   tests/e2e/kafka.sh classpath  print the Java classpath of the broker's jars
#                                 (kafka-clients, for tests/e2e/kafka/*.java)
#
# Environment:
#   PRODOPS_KAFKA_DIR    config, data, logs, pid (default /tmp/prodopsd-e2e-kafka)
#   PRODOPS_KAFKA_CACHE  jar cache (default ~/.cache/prodopsd/kafka-VERSION)
#   PRODOPS_KAFKA_HEAP   JVM heap flags (default "-Xms256m -Xmx512m")
# `start` writes $PRODOPS_KAFKA_DIR/env with PRODOPS_KAFKA_BOOTSTRAP.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pom="$here/kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
dir="${PRODOPS_KAFKA_DIR:-/tmp/prodopsd-e2e-kafka}"
cache="${PRODOPS_KAFKA_CACHE:-$HOME/.cache/prodopsd/kafka-$version}"
heap="${PRODOPS_KAFKA_HEAP:--Xms256m -Xmx512m}"
fetch_timeout_s=600
start_timeout_s=120
stop_timeout_s=30

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

fetch() {
  [ -f "$cache/complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found (scripts/setup installs maven)"
  command -v java >/dev/null || die "java not found (scripts/setup installs a JRE)"
  log "resolving org.apache.kafka:kafka_2.13:$version from Maven Central into $cache"
  rm -rf "$cache"
  mkdir -p "$cache"
  local out="$cache.mvn.log"
  if ! timeout "$fetch_timeout_s" mvn -B -q -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$cache/jars" >"$out" 2>&1; then
    tail -n 30 "$out" >&2 || true
    rm -rf "$cache"
    die "could not download Kafka $version with Maven (timeout ${fetch_timeout_s}s; log above, full log $out)"
  fi
  ls "$cache/jars"/kafka_2.13-"$version".jar >/dev/null 2>&1 ||
    die "Maven finished but $cache/jars has no kafka_2.13-$version.jar"
  touch "$cache/complete"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bootstrap() { sed -n 's/^PRODOPS_KAFKA_BOOTSTRAP=//p' "$dir/env"; }

running() {
  [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null
}

configure() {
  [ -f "$dir/server.properties" ] && return 0
  mkdir -p "$dir"
  local broker_port controller_port
  broker_port="$(free_port)"
  controller_port="$(free_port)"
  while [ "$controller_port" = "$broker_port" ]; do controller_port="$(free_port)"; done
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
EOF
  echo "PRODOPS_KAFKA_BOOTSTRAP=127.0.0.1:$broker_port" >"$dir/env"
  local cluster_id
  cluster_id="$(python3 -c 'import base64,uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  mkdir -p "$dir/logs"
  if ! java -cp "$cache/jars/*" -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
      -Dkafka.logs.dir="$dir/logs" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/logs/format.out" 2>&1; then
    cat "$dir/logs/format.out" >&2
    die "formatting the KRaft storage in $dir/data failed"
  fi
}

start() {
  fetch
  configure
  local address
  address="$(bootstrap)"
  if running; then
    log "broker already running at $address"
  else
    mkdir -p "$dir/logs"
    # Own session, no inherited descriptors: ctest must not wait for it.
    # shellcheck disable=SC2086
    setsid java $heap -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$here/kafka/log4j.properties" -Dkafka.logs.dir="$dir/logs" \
      -cp "$cache/jars/*" kafka.Kafka "$dir/server.properties" \
      </dev/null >"$dir/logs/broker.out" 2>&1 &
    echo $! >"$dir/broker.pid"
  fi
  local deadline=$((SECONDS + start_timeout_s))
  until kcat -b "$address" -L -m 2 >/dev/null 2>&1; do
    if ! running; then
      tail -n 40 "$dir/logs/broker.out" "$dir/logs/server.log" >&2 2>/dev/null || true
      die "the broker exited during start (logs in $dir/logs)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "the broker did not answer at $address within ${start_timeout_s}s"
    sleep 0.5
  done
  log "broker up at $address (pid $(cat "$dir/broker.pid"), data $dir/data)"
  echo "PRODOPS_KAFKA_BOOTSTRAP=$address"
}

stop() {
  if ! running; then
    rm -f "$dir/broker.pid"
    return 0
  fi
  local pid
  pid="$(cat "$dir/broker.pid")"
  kill -TERM "$pid"
  local deadline=$((SECONDS + stop_timeout_s))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "broker $pid did not stop within ${stop_timeout_s}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "$dir/broker.pid"
  log "broker stopped"
}

# Processes the e2e driver started and recorded (prometheus, prodopsd), for
# the case where the driver itself was killed before it could end them.
stop_recorded() {
  [ -d "$dir/pids" ] || return 0
  local f pid
  for f in "$dir"/pids/*; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -KILL "$pid" 2>/dev/null && log "killed leftover process $pid ($(basename "$f"))"
    rm -f "$f"
  done
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  clean) stop_recorded; stop; rm -rf "$dir" ;;
  env) [ -f "$dir/env" ] || die "not configured: run start first"; cat "$dir/env" ;;
  classpath) echo "$cache/jars/*" ;;
  *) die "usage: kafka.sh fetch|start|stop|clean|env|classpath" ;;
esac
