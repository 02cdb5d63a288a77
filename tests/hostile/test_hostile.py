#!/usr/bin/env python3
"""Hostile input through `prodopsd replay` (the same pipeline as the live
daemon):

  labels       label values with quotes, backslashes, newlines, 10 KB and
               multi-byte UTF-8; empty and non-UTF-8 values rejected with a
               reason; the exposition stays valid (`promtool check metrics`).
  cardinality  1,000,000 distinct feature names and 100,000 distinct teams:
               the exposition keeps to the label budgets, overflow is
               counted, and peak RSS stays bounded (printed, and checked
               against a bound).
  retention    35 days of event time replayed in 5-day parts into one state
               directory: once the longest window (7 d) and the
               de-duplication horizon (1 d) are full, its size stays flat.

Usage: test_hostile.py PRODOPSD [labels|cardinality|retention]
"""

import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import unittest

PRODOPSD = ""
CONFIG = """kafka { bootstrap_servers: "localhost:9092" }
topic { name: "unused" format: JSON content: ENVELOPE }
state { dir: "/unused" }
signals { label_budgets { feature: 500 team: 200 } }
"""
AT = "2026-03-01T12:00:00Z"
# Peak RSS allowed for the 1.1M-event cardinality replay. The daemon's
# default RocksDB budget is 256 MiB of it.
RSS_BOUND_MIB = 400


def usage(i, feature, user="u1"):
    return {"usage": {"eventId": "u%d" % i, "occurredAt": AT, "userId": user,
                      "feature": feature, "action": "view"}}


def ticket(i, team):
    return {"ticket": {"eventId": "t%d" % i, "occurredAt": AT, "ticketId": "T%d" % i,
                       "kind": "CREATED", "status": "NEW", "type": "BUG", "team": team}}


def replay(work, lines, name="events.ndjson"):
    """Runs prodopsd replay over `lines` (bytes, one message each); returns
    (exit code, stdout, stderr, peak RSS of the child in MiB)."""
    events = os.path.join(work, name)
    with open(events, "wb") as f:
        for line in lines:
            f.write(line + b"\n")
    config = os.path.join(work, "replay.textproto")
    with open(config, "w") as f:
        f.write(CONFIG)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run([PRODOPSD, "replay", "--config", config, "--input", events,
                             "--state-dir", os.path.join(work, "state")],
                            capture_output=True, timeout=600)
    os.remove(events)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (result.returncode, result.stdout.decode("utf-8"), result.stderr.decode(),
            max(peak, before) / 1024.0)


def samples(exposition):
    out = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def promtool_check(exposition):
    check = subprocess.run(["promtool", "check", "metrics"], input=exposition.encode(),
                           capture_output=True, timeout=60)
    return check.returncode, (check.stdout + check.stderr).decode()


class Hostile(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="prodopsd-hostile-")

    def test_labels(self):
        odd = ['quote"inside', "back\\slash", "new\nline", "tab\there", "caf\u00e9 \u2603",
               "x" * 10240]
        lines = [json.dumps(usage(i, f)).encode() for i, f in enumerate(odd)]
        lines.append(json.dumps(ticket(1, 'team "a"\\\n')).encode())
        lines.append(json.dumps(usage(100, "")).encode())  # empty: missing_field
        lines.append(b'{"usage":{"eventId":"bad","occurredAt":"' + AT.encode() +
                     b'","userId":"u","feature":"\xff\xfe","action":"view"}}')
        code, out, err, _ = replay(self.work, lines)
        self.assertEqual(code, 0, err)
        values = samples(out)
        self.assertEqual(values['prodops_events_ingested_total{topic="events.ndjson"}'], 7)
        self.assertEqual(values['prodops_events_rejected_total{topic="events.ndjson",'
                                'reason="missing_field"}'], 1)
        self.assertEqual(values['prodops_events_rejected_total{topic="events.ndjson",'
                                'reason="malformed"}'], 1)
        # Escaped as the text format requires: \" \\ \n.
        self.assertIn('prodops_usage_events_total{feature="quote\\"inside",action="view"} 1', out)
        self.assertIn('prodops_usage_events_total{feature="back\\\\slash",action="view"} 1', out)
        self.assertIn('prodops_usage_events_total{feature="new\\nline",action="view"} 1', out)
        self.assertIn('team="team \\"a\\"\\\\\\n"', out)
        self.assertIn('feature="' + "x" * 10240 + '"', out)
        code, report = promtool_check(out)
        self.assertEqual((code, report), (0, ""))

    def test_cardinality(self):
        n_features, n_teams = 1_000_000, 100_000
        lines = (json.dumps(usage(i, "feature-%d" % i, "user-%d" % (i % 5000)),
                            separators=(",", ":")).encode() for i in range(n_features))
        tickets = (json.dumps(ticket(i, "team-%d" % i), separators=(",", ":")).encode()
                   for i in range(n_teams))
        code, out, err, rss_mib = replay(self.work, list(lines) + list(tickets))
        self.assertEqual(code, 0, err[-2000:])
        values = samples(out)
        features = {k.split('feature="')[1].split('"')[0]
                    for k in values if k.startswith("prodops_usage_events_total{")}
        teams = {k.split('team="')[1].split('"')[0]
                 for k in values if k.startswith("prodops_tickets_created_total{")}
        print("cardinality: %d events, %d series exposed, %d feature and %d team label "
              "values, peak RSS %.0f MiB" % (n_features + n_teams, len(values), len(features),
                                             len(teams), rss_mib), flush=True)
        self.assertEqual(len(features), 501)  # the budget, plus __other__
        self.assertEqual(len(teams), 201)
        self.assertEqual(values['prodops_label_overflow_total{label="feature"}'],
                         n_features - 500)
        self.assertEqual(values['prodops_events_ingested_total{topic="events.ndjson"}'],
                         n_features + n_teams)
        self.assertLess(len(values), 10_000)
        self.assertLess(rss_mib, RSS_BOUND_MIB)
        code, report = promtool_check(out)
        self.assertEqual((code, report), (0, ""))


    def test_retention(self):
        def rfc3339(t):
            return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")

        day_s = 86400
        start_s = 1_767_225_600  # 2026-01-01T00:00:00Z
        step_s = 4  # an event every 4 s of event time: 21,600 a day
        per_part = 5 * day_s // step_s
        sizes = []
        for part in range(7):
            lines = []
            for i in range(part * per_part, (part + 1) * per_part):
                t = start_s + i * step_s
                if i % 10:
                    event = usage(i, "f%d" % (i % 40), "user-%d" % (i % 3000))
                    event["usage"]["occurredAt"] = rfc3339(t)
                    lines.append(json.dumps(event).encode())
                    continue
                # Every tenth a ticket, solved a minute later.
                for kind, status, at in (("CREATED", "NEW", t), ("STATUS_CHANGED", "SOLVED", t + 60)):
                    lines.append(json.dumps({"ticket": {
                        "eventId": "t%d-%s" % (i, kind), "occurredAt": rfc3339(at),
                        "ticketId": "T%d" % i, "kind": kind, "status": status, "type": "BUG",
                        "team": "team-%d" % (i % 7), "features": ["f%d" % (i % 40)]}}).encode())
            code, out, err, _ = replay(self.work, lines)
            self.assertEqual(code, 0, err[-2000:])
            size = sum(os.path.getsize(os.path.join(root, name))
                       for root, _, names in os.walk(os.path.join(self.work, "state"))
                       for name in names)
            sizes.append(size)
            print("retention: after day %d (%d events in this part), state directory %.1f MiB"
                  % ((part + 1) * 5, len(lines), size / 2**20), flush=True)
        # From day 10 the 7-day window and the 1-day dedup horizon are full:
        # the size must not grow with the days replayed.
        steady = sizes[1:]
        self.assertLess(max(steady), 1.5 * min(steady), sizes)


if __name__ == "__main__":
    PRODOPSD = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + ["Hostile.test_" + name for name in sys.argv[2:]],
                  verbosity=2)
