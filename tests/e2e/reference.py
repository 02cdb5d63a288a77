#!/usr/bin/env python3
"""An independent reference for prodopsd's product metrics.

Reads NDJSON files of prodops.v1.Event envelopes in protobuf's canonical JSON
mapping (one per line; the file's base name is the topic, as in
`prodopsd replay`) and computes, from the event contract
(proto/prodops/v1/events.proto) and the documented window semantics alone,
what prodopsd should report:

  prodops_events_ingested_total{topic}
  prodops_last_event_timestamp_seconds{topic}
  prodops_usage_events_total{feature,action}
  prodops_tickets_created_total{ticket_type,priority,team}
  prodops_active_users{feature,window}     exact distinct counts

Window semantics: buckets of width B are aligned to the Unix epoch; as of
time T a trailing window of length W covers the W/B buckets ending with the
bucket that contains T. Events older than T - (longest window + allowed
lateness) are in no window. Counters count every event whatever its time.

Standard library only; shares no code with the daemon. Usage:
  reference.py [--as-of-ms T] FILE.ndjson...   (default T: newest event)
prints one `series value` line per sample, sorted.
"""

import argparse
import datetime
import json
import os
import re
import sys

# (name, length_ms, bucket_ms): the daemon's default windows.
DEFAULT_WINDOWS = (("1h", 3600_000, 60_000), ("1d", 86400_000, 3600_000),
                   ("7d", 604800_000, 3600_000))
DEFAULT_LATENESS_MS = 3600_000

# Enum numbers of the contract, for JSON that writes enums as numbers.
TICKET_KIND = {0: "KIND_UNSPECIFIED", 1: "CREATED", 2: "STATUS_CHANGED",
               3: "COMMENT_ADDED", 4: "ASSIGNED", 5: "PRIORITY_CHANGED"}
TICKET_TYPE = {0: "TYPE_UNSPECIFIED", 1: "QUESTION", 2: "INCIDENT", 3: "BUG",
               4: "FEATURE_REQUEST", 5: "TASK"}
TICKET_PRIORITY = {0: "PRIORITY_UNSPECIFIED", 1: "LOW", 2: "NORMAL", 3: "HIGH",
                   4: "URGENT"}

ALL_FEATURES = "__all__"
NO_TEAM = "__none__"

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


def rfc3339_to_ms(text):
    """Milliseconds since the epoch, rounded down (also before 1970)."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % text)
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = (m.group(7) or "").ljust(9, "0")
    nanos = int(fraction)
    seconds = (datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)
               - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
               ).days * 86400 + hour * 3600 + minute * 60 + second
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    return seconds * 1000 + nanos // 1_000_000


def _camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def field(message, snake, default=None):
    """A field by its proto name or its lowerCamelCase JSON name."""
    if snake in message:
        return message[snake]
    return message.get(_camel(snake), default)


def enum_label(value, numbers):
    """The daemon's label for an enum: the value's name in lower case,
    "unspecified" for the zero value (also when the field is left out)."""
    if value is None:
        value = 0
    if isinstance(value, int):
        value = numbers.get(value, "unknown")
    if value == numbers[0]:
        return "unspecified"
    return value.lower()


def bucket_start(ms, width):
    return ms - ms % width  # Python's % floors: right for negative times too


def series(name, **labels):
    """A series as Prometheus writes it: name{label="value",...}, sorted."""
    if not labels:
        return name
    inner = ",".join('%s="%s"' % (k, str(v).replace("\\", "\\\\").replace('"', '\\"'))
                     for k, v in sorted(labels.items()))
    return "%s{%s}" % (name, inner)


class Reference:
    """Accumulates events; values() gives the expected samples."""

    def __init__(self, windows=DEFAULT_WINDOWS, lateness_ms=DEFAULT_LATENESS_MS):
        self.windows = windows
        self.retention_ms = max(w[1] for w in windows) + lateness_ms
        self.counters = {}
        self.last_event_ms = {}
        self.usage = []  # (occurred_ms, feature, user_id)
        self.max_event_ms = None

    def _count(self, key):
        self.counters[key] = self.counters.get(key, 0) + 1

    def add(self, topic, event):
        kinds = [k for k in ("usage", "ticket", "release", "exposure") if k in event]
        if len(kinds) != 1:
            raise ValueError("an envelope with %d payloads: %r" % (len(kinds), event))
        kind = kinds[0]
        payload = event[kind]
        occurred = rfc3339_to_ms(field(payload, "occurred_at"))
        self._count(series("prodops_events_ingested_total", topic=topic))
        self.last_event_ms[topic] = max(self.last_event_ms.get(topic, occurred), occurred)
        self.max_event_ms = occurred if self.max_event_ms is None else max(
            self.max_event_ms, occurred)
        if kind == "usage":
            feature = field(payload, "feature", "")
            self._count(series("prodops_usage_events_total", feature=feature,
                               action=field(payload, "action", "")))
            self.usage.append((occurred, feature, field(payload, "user_id", "")))
        elif kind == "ticket":
            if enum_label(field(payload, "kind"), TICKET_KIND) != "created":
                return
            self._count(series(
                "prodops_tickets_created_total",
                ticket_type=enum_label(field(payload, "type"), TICKET_TYPE),
                priority=enum_label(field(payload, "priority"), TICKET_PRIORITY),
                team=field(payload, "team", "") or NO_TEAM))

    def add_file(self, path):
        topic = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    self.add(topic, json.loads(line))
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError("%s:%d: %s" % (path, number, e)) from e

    def active_users(self, as_of_ms):
        """{series: exact distinct users} as of `as_of_ms`."""
        out = {}
        oldest_kept = as_of_ms - self.retention_ms  # events must be newer
        for name, length, width in self.windows:
            last = bucket_start(as_of_ms, width)
            first = last - (length // width - 1) * width
            users = {}  # feature -> set of user ids
            for occurred, feature, user in self.usage:
                if occurred > oldest_kept and first <= occurred - occurred % width <= last:
                    users.setdefault(feature, set()).add(user)
                    users.setdefault(ALL_FEATURES, set()).add(user)
            for feature, ids in users.items():
                out[series("prodops_active_users", feature=feature, window=name)] = len(ids)
        return out

    def values(self, as_of_ms=None):
        """Every expected sample: {series: value}. `as_of_ms` is the windows'
        "now"; default the newest event time (replay)."""
        if as_of_ms is None:
            as_of_ms = self.max_event_ms if self.max_event_ms is not None else 0
        out = dict(self.counters)
        for topic, ms in self.last_event_ms.items():
            out[series("prodops_last_event_timestamp_seconds", topic=topic)] = ms / 1000
        out.update(self.active_users(as_of_ms))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--as-of-ms", type=int, help="the windows' now (default: newest event)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    ref = Reference()
    for path in args.files:
        ref.add_file(path)
    for key, value in sorted(ref.values(args.as_of_ms).items()):
        print(key, repr(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
