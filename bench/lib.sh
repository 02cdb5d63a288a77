# Shared by the benchmark scripts (bench/run.sh, bench/freshness.sh); sourced.

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
