#!/usr/bin/env python3
"""Turns the files bench/run.sh leaves in its runs directory into the Markdown
report: the machine, the workload, the medians of every measurement, the
ratios and targets, every single run, and the hot-path micro-benchmark.

Per run NAME-REP: .out (the program's stdout; its last JSON line for the
consumers), .time (/usr/bin/time -v), .wall ("start end" in epoch seconds),
.state (bytes in the state directory after the run).
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess

TARGETS = {"b_over_a": 0.8, "b_over_c": 5.0, "replay_protobuf_eps": 1_000_000,
           "replay_json_eps": 400_000, "rss_mib": 300}


def sh(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(runs):
    model = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    debian = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    # As recorded when run.sh built the binaries.
    commit = "unknown commit"
    if os.path.exists(os.path.join(runs, "commit.txt")):
        with open(os.path.join(runs, "commit.txt")) as f:
            commit = f.read().strip()
    java = sh("java", "-version") or subprocess.run(
        ["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]

    def pkg(name):
        return sh("dpkg-query", "-W", "-f=${Version}", name) or "?"

    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "ram_gib": mem_kib / 1024 / 1024,
        "kernel": platform.release(),
        "debian": debian,
        "commit": commit,
        "java": java,
        "librdkafka": pkg("librdkafka1"),
        "rocksdb": pkg("librocksdb7.8"),
        "protobuf": pkg("libprotobuf32"),
    }


def parse_time(path):
    """The fields of /usr/bin/time -v that the report uses."""
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().rpartition(": ")
            fields[key] = value
    return {
        "rss_mib": int(fields["Maximum resident set size (kbytes)"]) / 1024,
        "cpu_s": float(fields["User time (seconds)"]) + float(fields["System time (seconds)"]),
        "fs_out_bytes": int(fields["File system outputs"]) * 512,
    }


def last_json(path):
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit("report: no JSON summary in %s" % path)
    return json.loads(lines[-1])


def load_run(runs, name, rep, expected_events):
    base = os.path.join(runs, "%s-%d" % (name, rep))
    run = parse_time(base + ".time")
    with open(base + ".wall") as f:
        start, end = (float(x) for x in f.read().split())
    run["wall_s"] = end - start
    if os.path.exists(base + ".load"):
        with open(base + ".load") as f:
            run["load"] = [float(x) for x in f.read().split()]
    if os.path.exists(base + ".state"):
        with open(base + ".state") as f:
            run["state_bytes"] = int(f.read())
    if name.startswith("replay"):
        # Replay prints the exposition; its rate is events over the whole process.
        run["events"] = expected_events
        run["seconds"] = run["wall_s"]
    else:
        summary = last_json(base + ".out")
        run["events"] = summary["events"]
        run["seconds"] = summary["seconds"]
        if "bytes" in summary:
            run["payload_bytes"] = summary["bytes"]
    run["eps"] = run["events"] / run["seconds"] if run["seconds"] > 0 else 0
    run["cpu_us_per_event"] = run["cpu_s"] / run["events"] * 1e6 if run["events"] else 0
    if run["events"] != expected_events:
        raise SystemExit("report: %s run %d processed %d events, %d were loaded"
                         % (name, rep, run["events"], expected_events))
    return run


def median(runs, key):
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def fmt_int(x):
    return "–" if x is None else "{:,.0f}".format(x)


def fmt(x, digits=1):
    return "–" if x is None else "{:,.{}f}".format(x, digits)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--shape", required=True)
    p.add_argument("--repeat", type=int, required=True)
    p.add_argument("--events-per-second", type=int, required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--guarantees", required=True)
    p.add_argument("--kstreams-heap", required=True)
    a = p.parse_args()

    with open(os.path.join(a.runs, "loadgen.json")) as f:
        loaded = json.load(f)
    names = [("raw", "(a) raw librdkafka consumer"),
             ("prodopsd", "(b) prodopsd --exit-when-caught-up")]
    guarantees = [g for g in a.guarantees.split(",") if g]
    for g in guarantees:
        names.append(("kstreams_" + g, "(c) Kafka Streams, %s" % g))
    names.append(("replay", "(d) prodopsd replay (NDJSON)"))
    names.append(("replay_protobuf", "(d) prodopsd replay (protobuf)"))

    results = {}
    for name, _ in names:
        runs = []
        for rep in range(1, a.repeat + 1):
            if os.path.exists(os.path.join(a.runs, "%s-%d.time" % (name, rep))):
                runs.append(load_run(a.runs, name, rep, a.events))
        if runs:
            results[name] = runs

    m = machine(a.runs)
    out = []
    w = out.append
    w("# prodopsd benchmark\n")
    w("## Machine\n")
    w("- CPU: %s, %d logical CPUs (nproc); RAM: %.1f GiB" % (m["cpu"], m["nproc"], m["ram_gib"]))
    w("- Linux %s, Debian %s; %s" % (m["kernel"], m["debian"], m["java"]))
    w("- prodopsd %s; librdkafka %s, RocksDB %s, protobuf %s; Apache Kafka 3.9.1 broker "
      "(tests/e2e/kafka.sh, one KRaft node, on the same machine); kafka-streams 3.9.1\n"
      % (m["commit"], m["librdkafka"], m["rocksdb"], m["protobuf"]))

    w("## Workload\n")
    total = loaded["events"]
    mix = ", ".join("%s %s (%.2f%%)" % (t, fmt_int(v["events"]), 100.0 * v["events"] / total)
                    for t, v in loaded["topics"].items())
    w("- %s events from prodops-loadgen (the daemon's simulator, seed 1), %s users, "
      "%d events per second of event time; protobuf, bare messages, one topic per kind, "
      "%d partitions each" % (fmt_int(total), fmt_int(a.users), a.events_per_second,
                              a.partitions))
    w("- Shape asked for: %s" % a.shape)
    w("- Mix written: %s" % mix)
    if "raw" in results:
        w("- Payload: %s bytes in total, %.0f bytes per event"
          % (fmt_int(results["raw"][0]["payload_bytes"]),
             results["raw"][0]["payload_bytes"] / total))
    w("- Each measurement repeated %d times, one after another (a, b, c, d, then again); "
      "medians below. Kafka Streams runs with -Xmx%s.\n" % (a.repeat, a.kstreams_heap))

    w("## Results (medians)\n")
    w("| measurement | events/s | process wall s | CPU µs/event | peak RSS MiB "
      "| state dir B/event | disk writes B/event |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in names:
        if name not in results:
            continue
        runs = results[name]
        state = median(runs, "state_bytes")
        writes = median(runs, "fs_out_bytes")
        has_state = name != "raw"
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt_int(median(runs, "eps")), fmt(median(runs, "wall_s")),
            fmt(median(runs, "cpu_us_per_event"), 2), fmt(median(runs, "rss_mib")),
            fmt(state / total) if has_state else "–",
            fmt(writes / total) if has_state else "–"))
    w("")
    w("events/s: events ÷ seconds from the first message to the end (the final flush or "
      "close included) for (a), (b), (c); events ÷ the whole process's wall time for (d). "
      "CPU: user + system time of the whole process (librdkafka's and the JVM's threads "
      "included) per event. Peak RSS: /usr/bin/time's maximum resident set size. State dir: "
      "the size of the state directory after the run (RocksDB files; for Kafka Streams its "
      "stores, not its changelog topics). Disk writes: bytes the process wrote to files "
      "(rusage block output × 512: WAL, memtable flushes, compactions; pages dirtied again "
      "after a sync count again).\n")

    def eps(name):
        return median(results[name], "eps") if name in results else None

    w("## Ratios and targets\n")
    w("| target | measured | |")
    w("|---|---:|---|")

    def verdict(ok):
        return "met" if ok else "missed"

    if eps("prodopsd") and eps("raw"):
        r = eps("prodopsd") / eps("raw")
        w("| b/a ≥ %.1f (prodopsd vs raw consumer) | %.2f | %s |"
          % (TARGETS["b_over_a"], r, verdict(r >= TARGETS["b_over_a"])))
    for g in guarantees:
        name = "kstreams_" + g
        if eps("prodopsd") and eps(name):
            r = eps("prodopsd") / eps(name)
            w("| b/c ≥ %.0f (prodopsd vs Kafka Streams, %s) | %.2f | %s |"
              % (TARGETS["b_over_c"], g, r, verdict(r >= TARGETS["b_over_c"])))
    for name, label, target in (("replay_protobuf", "protobuf", "replay_protobuf_eps"),
                                ("replay", "JSON", "replay_json_eps")):
        if eps(name):
            w("| replay ≥ %s events/s (%s) | %s | %s |"
              % (fmt_int(TARGETS[target]), label, fmt_int(eps(name)),
                 verdict(eps(name) >= TARGETS[target])))
    for name, label in (("prodopsd", "prodopsd"), ("replay", "replay (NDJSON)"),
                        ("replay_protobuf", "replay (protobuf)")):
        if name in results:
            rss = median(results[name], "rss_mib")
            w("| peak RSS ≤ %d MiB (%s) | %.1f MiB | %s |"
              % (TARGETS["rss_mib"], label, rss, verdict(rss <= TARGETS["rss_mib"])))
    w("")

    w("## Every run\n")
    w("Load: the machine's 1-minute load average before and after the run (other work "
      "on the machine shows here).\n")
    w("| measurement | run | events/s | wall s | CPU s | peak RSS MiB | state dir MiB "
      "| disk writes MiB | load |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in names:
        for i, r in enumerate(results.get(name, []), 1):
            w("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                label, i, fmt_int(r["eps"]), fmt(r["wall_s"]), fmt(r["cpu_s"]),
                fmt(r["rss_mib"]),
                fmt(r["state_bytes"] / 2**20) if "state_bytes" in r else "–",
                fmt(r["fs_out_bytes"] / 2**20),
                "%.1f → %.1f" % tuple(r["load"]) if "load" in r else "–"))
    w("")

    hot = os.path.join(a.runs, "hot_path.json")
    if os.path.exists(hot):
        with open(hot) as f:
            bench = json.load(f)
        w("## Hot path (bench/hot_path_bench.cc)\n")
        w("Decode + Pipeline::ProcessMessage per event, no Kafka; ProcessMessage runs include "
          "the flushes the live loop makes (every second or when the cache is full). "
          "`json:0` is protobuf, `json:1` JSON; `rocksdb:0` the in-memory store of the test "
          "fakes, `rocksdb:1` RocksDB in a temporary directory.\n")
        w("| benchmark | ns/event (CPU) | events/s |")
        w("|---|---:|---:|")
        for b in bench["benchmarks"]:
            unit = {"ns": 1, "us": 1e3, "ms": 1e6}.get(b.get("time_unit", "ns"), 1)
            w("| %s | %s | %s |" % (b["name"], fmt_int(b["cpu_time"] * unit),
                                    fmt_int(b.get("items_per_second"))))
        w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
