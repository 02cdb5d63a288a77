# Shared by the benchmark scripts (bench/run.sh, bench/freshness.sh); sourced.
# The caller sets bench_tag (its name in messages) and, before start_broker,
# kafka_sh and PRODOPS_KAFKA_DIR.

die() { echo "$bench_tag: $*" >&2; exit 1; }
log() { echo "$bench_tag: $*" >&2; }
# The comment block at the top of the calling script, for --help.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 wants a positive integer, got \"$2\""; }

# record_build FILE: what was built, for the report: the commit, and whether
# the tree differed from it.
record_build() {
  {
    git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown
    [ -z "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
      echo "with uncommitted changes"
  } | paste -sd' ' >"$1"
}

# start_broker: a fresh broker (tests/e2e/kafka.sh); sets bootstrap.
start_broker() {
  "$kafka_sh" clean >/dev/null 2>&1 || true
  "$kafka_sh" start >/dev/null
  bootstrap="$("$kafka_sh" env | sed -n 's/^PRODOPS_KAFKA_BOOTSTRAP=//p')"
  log "broker at $bootstrap (data in $PRODOPS_KAFKA_DIR)"
}

# bench_config BOOTSTRAP STATE_DIR GROUP TOPIC_LINE...: the prodopsd config
# of a benchmark run: the given `topic { ... }` lines, the state directory,
# HTTP on an ephemeral loopback port, and one experiment, so that exposures
# are joined with usage as in production; everything else the defaults.
bench_config() {
  local bootstrap="$1" state="$2" group="$3"
  shift 3
  echo "kafka { bootstrap_servers: \"$bootstrap\" group_id: \"$group\" }"
  printf '%s\n' "$@"
  cat <<EOF
state { dir: "$state" }
http { listen_address: "127.0.0.1:0" }
signals {
  experiment {
    name: "new_checkout"
    goal { feature: "checkout" action: "submit" }
    variant { name: "control" weight: 1 }
    variant { name: "treatment" weight: 1 }
  }
}
EOF
}
