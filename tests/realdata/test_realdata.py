#!/usr/bin/env python3
"""prodopsd's ticket counters on real incident logs, against the rows.

Usage: test_realdata.py PRODOPSD_BINARY

Converts the ServiceNow and BPI 2013 logs with convert.py (which also
computes the expected figures from the rows, independently of prodopsd),
replays each through `prodopsd replay`, and requires:
  - prodops_events_rejected_total == 0 (every converted row is accepted);
  - prodops_ticket_reassignments_total, prodops_ticket_pingpong_total,
    prodops_tickets_reopened_total, prodops_tickets_solved_total,
    prodops_tickets_open and the count of prodops_ticket_resolution_seconds
    equal the figures from the rows, summed and per team;
  - prodops_tickets_created_total sums to the number of tickets;
  - every bucket of prodops_ticket_resolution_seconds (summed over teams
    and priorities) holds the tickets whose resolution time from the rows
    is within it, and its sum is the sum of those times.

The config makes every figure final at the end of the data: replay runs as
of the newest event time; order-dependent counters are committed once that
time minus the allowed lateness (60 s here) passes an event, and a solved
ticket's resolution time is observed when it expires. Solved tickets must
not expire during the logs' span (expiry 1000 days, else a late reopen
would start an unknown ticket), so a marker usage event follows the data
by the expiry and an hour (still in the past: replay's tolerance of future
events is against the wall clock). The team budget (1000) exceeds the 649
BPI teams so that no team folds into __other__.

Data: PRODOPS_REALDATA_DIR, else ../shared/data next to the checkout (the
repository root's sibling). Without the zips the test is skipped (exit 77,
ctest SKIP_RETURN_CODE).
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import convert  # noqa: E402

SKIP = 77

CONFIG = """\
# Replay of real incident logs (tests/realdata/test_realdata.py).
kafka { bootstrap_servers: "localhost:9092" }
topic { name: "unused" format: JSON content: ENVELOPE }
state { dir: "/nonexistent/replay-uses-a-temporary-directory" }
windows { allowed_lateness_seconds: 60 }
signals {
  tickets { closed_ticket_expiry_seconds: %d }
  label_budgets { team: 1000 }
}
"""

EXPIRY_S = 1000 * 86400
# The end marker's distance from the last row.
MARKER_AFTER_S = EXPIRY_S + 3600

# exposition metric -> convert.py figure, compared summed and per team
PER_TEAM = {
    "prodops_ticket_reassignments_total": "reassignments",
    "prodops_ticket_pingpong_total": "pingpong",
    "prodops_tickets_reopened_total": "reopens",
    "prodops_tickets_solved_total": "solves",
    "prodops_tickets_open": "open",
    "prodops_ticket_resolution_seconds_count": "resolutions",
}
RESOLUTION = "prodops_ticket_resolution_seconds"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(value):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_exposition(text):
    """[(metric, {label: value}, number)] of the samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match is None:
            raise AssertionError("unparsable exposition line: %r" % line)
        labels = {k: unescape(v) for k, v in LABEL.findall(match.group(2) or "")}
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def end_marker(path, last_ms):
    """A usage event MARKER_AFTER_S after the last row: moves the pipeline
    time so that the horizon passes every ticket event and every solved
    ticket expires."""
    at_ms = last_ms + MARKER_AFTER_S * 1000
    event = {"usage": {"eventId": "end-of-data", "occurredAt": convert.rfc3339(at_ms),
                       "userId": "end", "feature": "end-of-data", "action": "marker"}}
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


def replay(binary, config, inputs):
    args = [binary, "replay", "--config", config]
    for path in inputs:
        args += ["--input", path]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(args), done.returncode, done.stderr))
    return done.stdout, time.monotonic() - started


def check(name, expected, exposition):
    """Failure messages (empty when every figure matches)."""
    failures = []
    samples = parse_exposition(exposition)
    rejected = sum(v for m, _, v in samples if m == "prodops_events_rejected_total")
    if rejected != 0:
        failures.append("%s: %d events rejected: %s" % (
            name, rejected,
            [(l, v) for m, l, v in samples if m == "prodops_events_rejected_total"]))
    ingested = sum(v for m, _, v in samples if m == "prodops_events_ingested_total")
    if ingested != expected["events"] + 1:  # + the end marker
        failures.append("%s: %d events ingested, %d written" % (name, ingested,
                                                                 expected["events"] + 1))
    overflow = sum(v for m, l, v in samples
                   if m == "prodops_label_overflow_total" and l.get("label") == "team")
    if overflow != 0:
        failures.append("%s: %d team labels folded into __other__" % (name, overflow))
    created = sum(v for m, _, v in samples if m == "prodops_tickets_created_total")
    if created != expected["tickets"]:
        failures.append("%s: prodops_tickets_created_total sums to %d, the rows have %d "
                        "tickets" % (name, created, expected["tickets"]))
    failures += check_resolution(name, expected["resolution_seconds"], samples)
    for metric, figure in PER_TEAM.items():
        by_team = {}
        for m, labels, value in samples:
            if m == metric:
                by_team[labels["team"]] = by_team.get(labels["team"], 0) + value
        total = sum(by_team.values())
        want_total = expected["totals"].get(figure, 0)
        if total != want_total:
            failures.append("%s: %s sums to %d, the rows say %d" % (name, metric, total,
                                                                    want_total))
        want_by_team = expected["per_team"].get(figure, {})
        for team in sorted(set(by_team) | set(want_by_team)):
            got, want = by_team.get(team, 0), want_by_team.get(team, 0)
            if got != want:
                failures.append("%s: %s{team=%r} is %d, the rows say %d" % (
                    name, metric, team, got, want))
    return failures


def check_resolution(name, seconds, samples):
    """The histogram's buckets and sum against the rows' resolution times."""
    failures = []
    buckets = {}
    for m, labels, value in samples:
        if m == RESOLUTION + "_bucket":
            buckets[labels["le"]] = buckets.get(labels["le"], 0) + value
    if not buckets:
        return ["%s: no %s buckets" % (name, RESOLUTION)]
    for le, got in sorted(buckets.items(), key=lambda kv: float(kv[0])):
        want = sum(1 for x in seconds if x <= float(le))
        if got != want:
            failures.append("%s: %s_bucket{le=%r} sums to %d, the rows say %d" % (
                name, RESOLUTION, le, got, want))
    got_sum = sum(v for m, _, v in samples if m == RESOLUTION + "_sum")
    want_sum = sum(seconds)
    # Milliseconds summed as doubles: equal up to rounding.
    if abs(got_sum - want_sum) > 1e-9 * max(1.0, want_sum):
        failures.append("%s: %s_sum is %r, the rows say %r" % (name, RESOLUTION, got_sum,
                                                               want_sum))
    return failures


def main(argv):
    if len(argv) != 1:
        print(__doc__)
        return 2
    binary = os.path.abspath(argv[0])
    data_dir = os.environ.get("PRODOPS_REALDATA_DIR") or os.path.join(
        os.path.dirname(REPO_ROOT), "shared", "data")
    zips = [os.path.join(data_dir, name) for name in (convert.SERVICENOW_ZIP, convert.BPI_ZIP)]
    absent = [path for path in zips if not os.path.isfile(path)]
    if absent:
        print("SKIP: real data not found: %s (set PRODOPS_REALDATA_DIR or put the zips in "
              "../shared/data next to the checkout)" % ", ".join(absent))
        return SKIP
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prodops-realdata-") as tmp:
        expected = convert.main(["--data-dir", data_dir, "--out-dir", tmp])
        converted_s = time.monotonic() - started
        config = os.path.join(tmp, "realdata.textproto")
        with open(config, "w", encoding="utf-8") as out:
            out.write(CONFIG % EXPIRY_S)
        jobs = {}
        for name, figures in expected.items():
            marker = os.path.join(tmp, name + "-end.ndjson")
            end_marker(marker, figures["last_ms"])
            jobs[name] = [figures["ndjson"], marker]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = {name: pool.submit(replay, binary, config, inputs)
                       for name, inputs in jobs.items()}
            results = {name: future.result() for name, future in results.items()}
        failures = []
        for name, (exposition, seconds) in results.items():
            print("%s: replayed in %.1f s" % (name, seconds))
            failures += check(name, expected[name], exposition)
    print("conversion %.1f s, total %.1f s" % (converted_s, time.monotonic() - started))
    if failures:
        print("\n".join(["FAIL:"] + failures[:60]))
        if len(failures) > 60:
            print("... and %d more" % (len(failures) - 60))
        return 1
    print("OK: every figure matches the rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
