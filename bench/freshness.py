#!/usr/bin/env python3
"""The polling and analysis half of bench/freshness.sh (stdlib only).

  freshness.py density           loadgen JSON summary on stdin -> events per
                                 second of event time in the scenario
  freshness.py poll ...          polls GET /metrics until SIGTERM, one line
                                 per poll: "sent received value flush lag"
  freshness.py writes            kcat stream ('%T %S\\n%s') of prodops.v1.Event
                                 envelopes on stdin -> per event-time
                                 millisecond, the earliest write (CreateTime)
  freshness.py analyze ...       delay(t) percentiles and the verdict

Times are Unix seconds (float) or milliseconds (int), all from the wall clock
of this one machine, so the broker's CreateTime, the event times and the poll
times are comparable.
"""

import argparse
import bisect
import json
import math
import signal
import sys
import time
import urllib.request

METRIC = "prodops_last_event_timestamp_seconds"
FLUSH_METRIC = "prodops_state_last_flush_duration_seconds"
LAG_METRIC = "prodops_consumer_lag_messages"


def cmd_density(_args):
    summary = json.load(sys.stdin)
    events = summary["events"]
    first = min(t["first_ms"] for t in summary["topics"].values())
    last = max(t["last_ms"] for t in summary["topics"].values())
    print(f"{events * 1000.0 / max(1, last - first):.1f}")


def read_metrics(body, topic):
    """(newest visible event time, last flush's seconds, consumer lag in
    messages summed over partitions) for topic; None for what is absent."""
    want = f'topic="{topic}"'
    value = flush = lag = None
    for line in body.splitlines():
        if want in line and line.startswith(METRIC + "{"):
            value = float(line.rsplit(" ", 1)[1])
        elif line.startswith(FLUSH_METRIC + " "):
            flush = float(line.rsplit(" ", 1)[1])
        elif want in line and line.startswith(LAG_METRIC + "{"):
            lag = (lag or 0) + float(line.rsplit(" ", 1)[1])
    return value, flush, lag


def fmt(x):
    return "nan" if x is None else repr(x)


def cmd_poll(args):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    interval = args.interval_ms / 1000.0
    errors = 0
    with open(args.out, "w", buffering=1) as out:
        next_at = time.time()
        while not stop:
            sent = time.time()
            try:
                with urllib.request.urlopen(args.url, timeout=2) as response:
                    body = response.read().decode("utf-8", "replace")
                received = time.time()
                value, flush, lag = read_metrics(body, args.topic)
                out.write(f"{sent:.6f} {received:.6f} {fmt(value)} {fmt(flush)} {fmt(lag)}\n")
            except OSError as e:
                errors += 1
                if errors <= 5:
                    print(f"freshness.py: poll failed: {e}", file=sys.stderr)
            # A fixed schedule, not a fixed pause: a slow response does not
            # stretch the interval between the next ones.
            next_at += interval
            pause = next_at - time.time()
            if pause > 0:
                time.sleep(pause)
            else:
                next_at = time.time()


def varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of a protobuf message, top level."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def occurred_ms(envelope):
    """occurred_at of a prodops.v1.Event: field 2 of whichever payload (1-4)."""
    for number, wire, payload in fields(envelope):
        if 1 <= number <= 4 and wire == 2:
            for n, w, ts in fields(payload):
                if n == 2 and w == 2:
                    seconds = nanos = 0
                    for tn, _, tv in fields(ts):
                        if tn == 1:
                            seconds = tv
                        elif tn == 2:
                            nanos = tv
                    return seconds * 1000 + nanos // 1_000_000
    return None


def cmd_writes(args):
    stream = sys.stdin.buffer
    earliest = {}
    messages = 0
    while True:
        header = stream.readline()
        if not header:
            break
        created, size = header.split()
        payload = stream.read(int(size))
        occurred = occurred_ms(payload)
        if occurred is None:
            continue
        created = int(created)
        messages += 1
        if created < earliest.get(occurred, math.inf):
            earliest[occurred] = created
    with open(args.out, "w") as out:
        for occurred in sorted(earliest):
            out.write(f"{occurred} {earliest[occurred]}\n")
    print(f"freshness.py: {messages} messages read back", file=sys.stderr)


def percentile(values, q):
    """Nearest-rank percentile of sorted values."""
    return values[max(0, math.ceil(q / 100.0 * len(values)) - 1)]


def cmd_analyze(args):
    polls = []  # (received, value), in poll order
    publishes = []  # (age of the newest event when first seen, flush s, lag)
    with open(args.polls) as f:
        for line in f:
            _sent, received, value, flush, lag = line.split()
            if value == "nan":
                continue
            received, value = float(received), float(value)
            if not polls or value != polls[-1][1]:
                publishes.append((received - value, float(flush), float(lag)))
            polls.append((received, value))
    if not polls:
        sys.exit("freshness.py: no poll saw the metric")
    # visible[k]: the newest event time seen by poll k or any before it (the
    # gauge never falls, but be safe); first poll with visible >= t by bisect.
    times, visible = [], []
    best = -math.inf
    for received, value in polls:
        best = max(best, value)
        times.append(received)
        visible.append(best)

    # First write of an event at or after t: suffix minimum of CreateTime
    # over the event-time milliseconds.
    occurred, created = [], []
    with open(args.writes) as f:
        for line in f:
            o, c = line.split()
            occurred.append(int(o))
            created.append(int(c))
    suffix = created[:]
    for i in range(len(suffix) - 2, -1, -1):
        suffix[i] = min(suffix[i], suffix[i + 1])

    first = args.start_ms + args.skip_s * 1000
    last = args.end_ms - args.skip_s * 1000
    delays, from_write, write_lag = [], [], []
    unseen = 0
    t_ms = first
    while t_ms <= last:
        t = t_ms / 1000.0
        k = bisect.bisect_left(visible, t)
        if k == len(visible):
            unseen += 1
        else:
            delays.append(times[k] - t)
            i = bisect.bisect_left(occurred, t_ms)
            if i < len(occurred):
                written = suffix[i] / 1000.0
                write_lag.append(written - t)
                from_write.append(times[k] - written)
        t_ms += args.step_ms
    if not delays:
        sys.exit("freshness.py: no sampled event time became visible")
    for values in (delays, from_write, write_lag):
        values.sort()

    bound = args.flush_interval_ms / 1000.0 + 1.0

    def stats(values):
        return {"p50": percentile(values, 50), "p99": percentile(values, 99),
                "max": values[-1], "min": values[0]}

    intervals = [b - a for a, b in zip(times, times[1:])]
    result = {
        "samples": len(delays),
        "unseen": unseen,
        "polls": len(polls),
        "poll_interval_p50_s": percentile(sorted(intervals), 50) if intervals else None,
        "delay_s": stats(delays),
        "delay_from_write_s": stats(from_write) if from_write else None,
        "write_lag_s": stats(write_lag) if write_lag else None,
        "bound_s": bound,
        "met": unseen == 0 and percentile(delays, 99) <= bound,
    }
    # A new snapshot is seen when the value changes; what it shows then.
    steady = [p for p in publishes[1:]]
    ages = sorted(p[0] for p in steady)
    flushes = sorted(p[1] for p in steady if not math.isnan(p[1]))
    lags = sorted(p[2] for p in steady if not math.isnan(p[2]))
    result["snapshots"] = {
        "count": len(steady),
        "age_at_first_sight_s": stats(ages) if ages else None,
        "flush_s": stats(flushes) if flushes else None,
        "consumer_lag_messages": stats(lags) if lags else None,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)

    def row(name, s):
        return (f"| {name} | {s['p50']:.3f} | {s['p99']:.3f} | {s['max']:.3f} |")

    print(f"Event times sampled every {args.step_ms} ms from {args.skip_s} s after the first "
          f"to {args.skip_s} s before the last: {len(delays)} samples"
          + (f", {unseen} never visible" if unseen else "") + ".")
    print(f"/metrics polled {len(polls)} times, every "
          f"{result['poll_interval_p50_s'] * 1000:.0f} ms (median).")
    print()
    print("| seconds | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    print(row("delay(t): visible in /metrics - event time t", result["delay_s"]))
    if from_write:
        print(row("visible - first write of an event >= t", result["delay_from_write_s"]))
        print(row("write lag: first write of an event >= t - t", result["write_lag_s"]))
    snap = result["snapshots"]
    if ages and flushes and lags:
        print()
        print(f"{snap['count']} new snapshots seen. When first seen, the newest event in one was "
              f"{snap['age_at_first_sight_s']['p50']:.3f} s old (p50; p99 "
              f"{snap['age_at_first_sight_s']['p99']:.3f}, max "
              f"{snap['age_at_first_sight_s']['max']:.3f}); its flush took "
              f"{snap['flush_s']['p50'] * 1000:.1f} ms (p50; max {snap['flush_s']['max'] * 1000:.1f}); "
              f"consumer lag {snap['consumer_lag_messages']['p50']:.0f} messages (p50; max "
              f"{snap['consumer_lag_messages']['max']:.0f}).")
    print()
    verdict = "met" if result["met"] else "NOT met"
    print(f"Bound: flush interval + 1 s = {bound:.3f} s; p99 of delay(t) = "
          f"{result['delay_s']['p99']:.3f} s: {verdict}.")
    return 0 if result["met"] else 3


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("density")
    poll = sub.add_parser("poll")
    poll.add_argument("--url", required=True)
    poll.add_argument("--topic", required=True)
    poll.add_argument("--interval-ms", type=float, default=25)
    poll.add_argument("--out", required=True)
    writes = sub.add_parser("writes")
    writes.add_argument("--out", required=True)
    analyze = sub.add_parser("analyze")
    analyze.add_argument("--polls", required=True)
    analyze.add_argument("--writes", required=True)
    analyze.add_argument("--start-ms", type=int, required=True)
    analyze.add_argument("--end-ms", type=int, required=True)
    analyze.add_argument("--skip-s", type=int, default=5)
    analyze.add_argument("--step-ms", type=int, default=10)
    analyze.add_argument("--flush-interval-ms", type=int, default=1000)
    analyze.add_argument("--json")
    args = parser.parse_args()
    handler = {"density": cmd_density, "poll": cmd_poll, "writes": cmd_writes,
               "analyze": cmd_analyze}[args.command]
    sys.exit(handler(args) or 0)


if __name__ == "__main__":
    main()
