#!/usr/bin/env python3
"""An independent reference for prodopsd's metrics.

Reads NDJSON files of prodops.v1.Event envelopes in protobuf's canonical JSON
mapping (one per line; the file's base name is the topic, as in
`prodopsd replay`) and computes, from the event contract
(proto/prodops/v1/events.proto), the configuration schema
(proto/prodops/v1/config.proto), README "Window semantics" and
docs/signals.md alone, what prodopsd should report:

  foundation   prodops_events_ingested_total, prodops_events_late_total,
               prodops_last_event_timestamp_seconds,
               prodops_usage_events_total, prodops_tickets_created_total,
               prodops_active_users (exact distinct counts)
  budgets      prodops_label_overflow_total
  tickets      prodops_tickets_solved_total, prodops_tickets_reopened_total,
               prodops_tickets_open, prodops_tickets_unassigned_open,
               prodops_ticket_oldest_open_age_seconds,
               prodops_ticket_first_reply_seconds (histogram),
               prodops_ticket_resolution_seconds (histogram),
               prodops_sla_breaches_total,
               prodops_ticket_reassignments_total, prodops_ticket_pingpong_total
  firefighting prodops_firefighting_ratio, _reactive_tickets, _tickets,
               prodops_firefighting_spike_score, prodops_firefighting_spike
  features     prodops_feature_adoption_ratio,
               prodops_feature_tickets_per_1k_users,
               prodops_feature_howto_share (from exact distinct counts; the
               daemon divides its rounded HyperLogLog estimates)
  releases     prodops_releases_total, prodops_release_timestamp_seconds,
               prodops_release_ticket_lift, prodops_release_tickets_after,
               _before, prodops_release_impact_window_seconds,
               prodops_change_failures_total
  experiments  prodops_experiment_exposed_users, _converted_users,
               _multi_variant_users, prodops_experiment_srm_p_value

Time model (README, docs/signals.md "Clocks and ordering"). Events are
processed in the order given. Each is processed at a pipeline time T: by
default the newest occurred_at read so far (as `prodopsd replay` does); a
caller that knows better (a live daemon reads the wall clock) passes it.
The commit horizon is T - allowed lateness and never moves back. A ticket
event newer than the horizon waits; events are committed, in
(occurred_at, event_id) order, when the horizon passes them, and an SLA
deadline is judged when the horizon passes it, with the ticket as it is at
that moment (after the events before the deadline). An event that arrives
behind the horizon is folded on arrival, after whatever the horizon has
passed so far has been settled. values(T) settles everything up to the final
horizon (the daemon's last flush) and evaluates windows, gauges and the
spike as of T.

The release and experiment state changes the daemon makes once per flush
(freezing a release's counts once DEPLOY + impact is behind the horizon,
dropping ROLLBACK/HOTFIX-only releases and pending goals past the lateness)
are made here before every event: the same as long as no event arrives
between the two, which the scenarios respect (tests/e2e/edge_events.py).
Ticket hours older than T - lateness - impact - 170 h, which the daemon
drops, are kept: no scenario reaches them.

Where docs/signals.md leaves a detail open, the daemon's sources settled it
(reading them for that only); each such place is marked "Settled:".

Standard library only; shares no code with the daemon. Usage:
  reference.py [--as-of-ms T] FILE.ndjson...   (default T: newest event)
prints one `series value` line per sample, sorted.
"""

import argparse
import bisect
import collections
import copy
import datetime
import functools
import json
import math
import os
import re
import sys

HOUR_MS = 3600_000
# (name, length_ms, bucket_ms): the daemon's default windows.
DEFAULT_WINDOWS = (("1h", 3600_000, 60_000), ("1d", 86400_000, HOUR_MS),
                   ("7d", 604800_000, HOUR_MS))
DEFAULT_LATENESS_MS = 3600_000

# Enum numbers of the contract, for JSON that writes enums as numbers.
TICKET_KIND = {0: "KIND_UNSPECIFIED", 1: "CREATED", 2: "STATUS_CHANGED",
               3: "COMMENT_ADDED", 4: "ASSIGNED", 5: "PRIORITY_CHANGED"}
TICKET_STATUS = {0: "STATUS_UNSPECIFIED", 1: "NEW", 2: "OPEN", 3: "PENDING",
                 4: "ON_HOLD", 5: "SOLVED", 6: "CLOSED"}
TICKET_TYPE = {0: "TYPE_UNSPECIFIED", 1: "QUESTION", 2: "INCIDENT", 3: "BUG",
               4: "FEATURE_REQUEST", 5: "TASK"}
TICKET_PRIORITY = {0: "PRIORITY_UNSPECIFIED", 1: "LOW", 2: "NORMAL", 3: "HIGH",
                   4: "URGENT"}
TICKET_ACTOR = {0: "ACTOR_UNSPECIFIED", 1: "END_USER", 2: "AGENT", 3: "SYSTEM"}
RELEASE_KIND = {0: "KIND_UNSPECIFIED", 1: "DEPLOY", 2: "ROLLBACK", 3: "HOTFIX"}
PRIORITY_RANK = {name: number for number, name in TICKET_PRIORITY.items()}

ALL_FEATURES = "__all__"
NO_TEAM = "__none__"
OTHER = "__other__"
DONE = ("SOLVED", "CLOSED")

# Upper bounds (s) of the first-reply and resolution histograms.
DURATION_BUCKETS_S = (60, 300, 900, 3600, 14400, 28800, 86400, 259200, 604800)
# Consistency constant of the MAD for normally distributed data.
MAD_SCALE = 1.4826
# Release lift: the baseline is the 168 hours before the DEPLOY's hour.
LIFT_BASELINE_HOURS = 168

# Every metric the reference computes, by how a comparison must treat it:
#   exact   counts (and histogram series), equal
#   ms      seconds with millisecond precision, equal to the millisecond
#   float   a ratio or a statistic of exact counts, equal within 1e-9
#   hll     a distinct count: HyperLogLog above 1024 users
#   hll_ratio  a ratio over distinct counts
METRIC_KINDS = {
    "prodops_events_ingested_total": "exact",
    "prodops_events_late_total": "exact",
    "prodops_last_event_timestamp_seconds": "ms",
    "prodops_usage_events_total": "exact",
    "prodops_tickets_created_total": "exact",
    "prodops_active_users": "hll",
    "prodops_label_overflow_total": "exact",
    "prodops_tickets_solved_total": "exact",
    "prodops_tickets_reopened_total": "exact",
    "prodops_tickets_open": "exact",
    "prodops_tickets_unassigned_open": "exact",
    "prodops_ticket_oldest_open_age_seconds": "ms",
    "prodops_ticket_first_reply_seconds_bucket": "exact",
    "prodops_ticket_first_reply_seconds_count": "exact",
    "prodops_ticket_first_reply_seconds_sum": "ms",
    "prodops_ticket_resolution_seconds_bucket": "exact",
    "prodops_ticket_resolution_seconds_count": "exact",
    "prodops_ticket_resolution_seconds_sum": "ms",
    "prodops_sla_breaches_total": "exact",
    "prodops_ticket_reassignments_total": "exact",
    "prodops_ticket_pingpong_total": "exact",
    "prodops_firefighting_ratio": "float",
    "prodops_firefighting_reactive_tickets": "exact",
    "prodops_firefighting_tickets": "exact",
    "prodops_firefighting_spike_score": "float",
    "prodops_firefighting_spike": "exact",
    "prodops_feature_adoption_ratio": "hll_ratio",
    "prodops_feature_tickets_per_1k_users": "hll_ratio",
    "prodops_feature_howto_share": "float",
    "prodops_releases_total": "exact",
    "prodops_release_timestamp_seconds": "ms",
    "prodops_release_ticket_lift": "float",
    "prodops_release_tickets_after": "exact",
    "prodops_release_tickets_before": "exact",
    "prodops_release_impact_window_seconds": "exact",
    "prodops_change_failures_total": "exact",
    "prodops_experiment_exposed_users": "exact",
    "prodops_experiment_converted_users": "exact",
    "prodops_experiment_multi_variant_users": "exact",
    "prodops_experiment_srm_p_value": "float",
}

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


@functools.lru_cache(maxsize=4096)
def _days_since_epoch(year, month, day):
    return (datetime.date(year, month, day) - datetime.date(1970, 1, 1)).days


def rfc3339_to_ms(text):
    """Milliseconds since the epoch, rounded down (also before 1970)."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % text)
    year, month, day, hour, minute, second = map(int, m.group(1, 2, 3, 4, 5, 6))
    fraction = (m.group(7) or "").ljust(9, "0")
    nanos = int(fraction)
    seconds = (_days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60
               + second)
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    return seconds * 1000 + nanos // 1_000_000


def ms_to_rfc3339(ms):
    """The inverse of rfc3339_to_ms, in UTC with milliseconds."""
    when = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


@functools.lru_cache(maxsize=None)
def _camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def field(message, snake, default=None):
    """A field by its proto name or its lowerCamelCase JSON name."""
    if snake in message:
        return message[snake]
    return message.get(_camel(snake), default)


def enum_name(value, numbers):
    """The enum value's contract name; the zero value when left out."""
    if value is None:
        return numbers[0]
    if isinstance(value, int):
        return numbers.get(value, "unknown")
    return value


def enum_label(value, numbers):
    """The daemon's label for an enum: the value's name in lower case,
    "unspecified" for the zero value (also when the field is left out)."""
    name = enum_name(value, numbers)
    return "unspecified" if name == numbers[0] else name.lower()


def bucket_start(ms, width):
    return ms - ms % width  # Python's % floors: right for negative times too


def _label_value(name, value):
    if name == "le":  # the same bound written "60" or "60.0" is one series
        bound = float(value)
        if math.isinf(bound):
            return "+Inf"
        return "%d" % bound if bound.is_integer() else repr(bound)
    return str(value)


def series(name, **labels):
    """A series as Prometheus writes it: name{label="value",...}, sorted."""
    return _series(name, tuple(sorted(labels.items())))


@functools.lru_cache(maxsize=65536)
def _series(name, labels):
    if not labels:
        return name
    inner = ",".join('%s="%s"' % (k, _label_value(k, v).replace("\\", "\\\\").replace('"', '\\"'))
                     for k, v in labels)
    return "%s{%s}" % (name, inner)


def metric_of(key):
    return key.split("{", 1)[0]


def chi_square_survival(statistic, df):
    """P(X >= statistic) for X chi-square with `df` (a positive integer)
    degrees of freedom, by the closed forms for integer df:
      df = 2m:     e^(-x/2) * sum_{i<m} (x/2)^i / i!
      df = 2m + 1: erfc(sqrt(x/2)) + e^(-x/2) * sum_{i<m} (x/2)^(i+1/2) / Gamma(i+3/2)."""
    if statistic <= 0:
        return 1.0
    half = statistic / 2
    if df % 2 == 0:
        term, total = 1.0, 0.0
        for i in range(df // 2):
            total += term
            term *= half / (i + 1)
        return math.exp(-half) * total
    total = math.erfc(math.sqrt(half))
    for i in range(df // 2):
        total += math.exp(-half + (i + 0.5) * math.log(half) - math.lgamma(i + 1.5))
    return total


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


# --- configuration -----------------------------------------------------------

class Experiment:
    """One configured experiment: signals.experiment in config.proto."""

    def __init__(self, name, goal_feature, goal_action, variants):
        self.name = name
        self.goal_feature = goal_feature
        self.goal_action = goal_action
        self.variants = tuple(variants)  # ((name, weight), ...)


class Options:
    """What the reference needs of a DaemonConfig, with config.proto's
    defaults. textproto() writes the same values as config text, so that a
    test's daemon and its reference cannot disagree about them."""

    def __init__(self, windows=DEFAULT_WINDOWS, lateness_s=3600, first_reply_sla_s=None,
                 resolution_sla_s=None, reactive=None, spike_baseline_hours=168,
                 spike_mad_floor=1.0, spike_threshold=3.5, closed_ticket_expiry_s=345600,
                 impact_hours=24, recent_releases=20, experiments=(), budgets=None):
        self.windows = tuple(windows)
        self.lateness_ms = lateness_s * 1000
        # Per priority name, seconds; an unspecified priority uses NORMAL.
        self.first_reply_sla_s = dict(first_reply_sla_s or {
            "LOW": 86400, "NORMAL": 28800, "HIGH": 14400, "URGENT": 3600})
        self.resolution_sla_s = dict(resolution_sla_s or {
            "LOW": 604800, "NORMAL": 259200, "HIGH": 86400, "URGENT": 14400})
        # (type name, minimum priority name or None); default: every
        # INCIDENT and BUG from HIGH up.
        self.reactive = tuple(reactive if reactive is not None
                              else (("INCIDENT", None), ("BUG", "HIGH")))
        self.spike_baseline_hours = spike_baseline_hours
        self.spike_mad_floor = spike_mad_floor
        self.spike_threshold = spike_threshold
        self.expiry_ms = closed_ticket_expiry_s * 1000
        self.impact_hours = impact_hours
        self.recent_releases = recent_releases
        self.experiments = tuple(experiments)
        self.budgets = {"team": 200, "feature": 500, "release": 100, "experiment": 50,
                        "variant": 20}
        self.budgets.update(budgets or {})

    @property
    def retention_ms(self):
        return max(w[1] for w in self.windows) + self.lateness_ms

    def deadline_ms(self, clock, created_ms, priority):
        targets = self.first_reply_sla_s if clock == "first_reply" else self.resolution_sla_s
        return created_ms + 1000 * targets.get(priority, targets["NORMAL"])

    def is_reactive(self, ticket_type, priority):
        rank = PRIORITY_RANK.get(priority, 0)
        return any(ticket_type == t and (m is None or rank >= PRIORITY_RANK[m])
                   for t, m in self.reactive)

    def spike_available(self):
        """The spike reads hourly buckets baseline + 1 hours back: a window
        of hourly buckets must exist and retention must keep them."""
        return (any(w[2] == HOUR_MS for w in self.windows)
                and self.retention_ms >= (self.spike_baseline_hours + 1) * HOUR_MS)

    def textproto(self):
        """The `windows` and `signals` blocks of a DaemonConfig."""
        out = ["windows {"]
        for name, length, width in self.windows:
            out.append('  window { name: "%s" length_seconds: %d bucket_seconds: %d }'
                       % (name, length // 1000, width // 1000))
        out.append("  allowed_lateness_seconds: %d" % (self.lateness_ms // 1000))
        out.append("}")
        out.append("signals {")
        out.append("  tickets {")
        for clock, targets in (("first_reply_sla", self.first_reply_sla_s),
                               ("resolution_sla", self.resolution_sla_s)):
            out.append("    %s { %s }" % (clock, " ".join(
                "%s_seconds: %d" % (p.lower(), targets[p])
                for p in ("LOW", "NORMAL", "HIGH", "URGENT"))))
        for ticket_type, minimum in self.reactive:
            out.append("    reactive { type: %s%s }" % (
                ticket_type, " min_priority: %s" % minimum if minimum else ""))
        out.append("    spike { baseline_hours: %d mad_floor: %r threshold: %r }" % (
            self.spike_baseline_hours, self.spike_mad_floor, self.spike_threshold))
        out.append("    closed_ticket_expiry_seconds: %d" % (self.expiry_ms // 1000))
        out.append("  }")
        out.append("  releases { impact_hours: %d recent_releases: %d }"
                   % (self.impact_hours, self.recent_releases))
        for e in self.experiments:
            out.append('  experiment {')
            out.append('    name: "%s"' % e.name)
            out.append('    goal { feature: "%s" action: "%s" }' % (e.goal_feature, e.goal_action))
            for name, weight in e.variants:
                out.append('    variant { name: "%s" weight: %r }' % (name, weight))
            out.append('  }')
        out.append("  label_budgets { %s }" % " ".join(
            "%s: %d" % (k, self.budgets[k])
            for k in ("team", "feature", "release", "experiment", "variant")))
        out.append("}")
        return "\n".join(out) + "\n"


# --- tickets -----------------------------------------------------------------

class TicketEvent:
    """The fields of a TicketEvent the signals read, enums by name."""
    __slots__ = ("event_id", "ms", "ticket_id", "kind", "status", "type", "priority", "team",
                 "assignee", "actor", "public", "features")

    def __init__(self, payload, ms):
        self.event_id = field(payload, "event_id", "")
        self.ms = ms
        self.ticket_id = field(payload, "ticket_id", "")
        self.kind = enum_name(field(payload, "kind"), TICKET_KIND)
        self.status = enum_name(field(payload, "status"), TICKET_STATUS)
        self.type = enum_name(field(payload, "type"), TICKET_TYPE)
        self.priority = enum_name(field(payload, "priority"), TICKET_PRIORITY)
        self.team = field(payload, "team", "") or ""
        self.assignee = field(payload, "assignee", "") or ""
        self.actor = enum_name(field(payload, "actor"), TICKET_ACTOR)
        self.public = bool(field(payload, "public", False))
        self.features = list(field(payload, "features", []) or [])


class TicketView:
    """A ticket as of the events folded into it ("after the event"
    snapshots: status, priority and type when specified; team and assignee
    always)."""

    def __init__(self):
        self.first_seen_ms = None
        self.last_event_ms = None
        self.created_ms = None
        self.type = "TYPE_UNSPECIFIED"
        self.priority = "PRIORITY_UNSPECIFIED"
        self.team = ""
        self.assignee = ""
        self.owner = ""        # the last non-empty team
        self.teams = set()     # every non-empty team it had
        self.status = "STATUS_UNSPECIFIED"
        self.last_solved_ms = None
        self.first_reply_ms = None
        self.clocks = {"first_reply": "pending", "resolution": "pending"}

    def done(self):
        return self.status in DONE

    def fold(self, e, on):
        """Applies event `e`; `on` (None for a view only) hears of every
        transition the counters count."""
        self.first_seen_ms = e.ms if self.first_seen_ms is None else min(self.first_seen_ms, e.ms)
        self.last_event_ms = e.ms if self.last_event_ms is None else max(self.last_event_ms, e.ms)
        if e.kind == "CREATED" and self.created_ms is None:
            self.created_ms = e.ms
        if e.type != "TYPE_UNSPECIFIED":
            self.type = e.type
        if e.priority != "PRIORITY_UNSPECIFIED":
            self.priority = e.priority
        self.assignee = e.assignee
        # The team first, so that a solve or a reopen carries the new team
        # ("labels after the event").
        self.team = e.team
        if e.team and e.team != self.owner:
            had_owner, returned = bool(self.owner), e.team in self.teams
            self.owner = e.team
            self.teams.add(e.team)
            if had_owner and on:
                on.reassigned(self, returned)
        if e.status != "STATUS_UNSPECIFIED":
            was_done = self.done()
            self.status = e.status
            if not was_done and self.done():
                self.last_solved_ms = e.ms
                if on:
                    on.solved(self)
            elif was_done and not self.done():
                if on:
                    on.reopened(self)
        if (e.kind == "COMMENT_ADDED" and e.actor == "AGENT" and e.public
                and self.first_reply_ms is None):
            self.first_reply_ms = e.ms
            # Settled: without a CREATED before it, no first-reply time.
            if on and self.created_ms is not None:
                on.first_reply(self, max(0, e.ms - self.created_ms))

    def judge(self, bound_ms, inclusive, options, on):
        """Judges each undecided SLA clock whose deadline (CREATED + the
        target of the current priority) is before `bound_ms` (or at it)."""
        if self.created_ms is None:
            return
        for clock in ("first_reply", "resolution"):
            if self.clocks[clock] != "pending":
                continue
            deadline = options.deadline_ms(clock, self.created_ms, self.priority)
            if deadline > bound_ms or (deadline == bound_ms and not inclusive):
                continue
            stopped = self.done() or (clock == "first_reply" and self.first_reply_ms is not None)
            self.clocks[clock] = "met" if stopped else "breached"
            if not stopped:
                on.breached(self, clock)


class Ticket:
    """Committed state plus the events the commit horizon has not passed."""

    def __init__(self):
        self.committed = TicketView()
        self.pending = []  # sorted by (occurred, event_id)

    def current(self):
        view = copy.deepcopy(self.committed)
        for _, _, e in self.pending:
            view.fold(e, None)
        return view

    def settle(self, horizon_ms, options, on):
        """Commits the pending events the horizon has passed, judging each
        deadline just before the first event after it; then the deadlines
        up to the horizon. True if the ticket has expired."""
        while self.pending and self.pending[0][0] <= horizon_ms:
            ms, _, e = self.pending.pop(0)
            self.committed.judge(ms, False, options, on)
            self.committed.fold(e, on)
        self.committed.judge(horizon_ms, True, options, on)
        c = self.committed
        return (not self.pending and c.done()
                and c.last_event_ms + options.expiry_ms <= horizon_ms)


# --- the reference -----------------------------------------------------------

class Reference:
    """Accumulates events; values() gives the expected samples."""

    def __init__(self, options=None):
        options = options or Options()
        self.options = options
        self.windows = options.windows
        self.retention_ms = options.retention_ms
        self.counters = collections.Counter()
        self.last_event_ms = {}
        self.max_event_ms = None
        self.usage = []          # (occurred, feature label, user_id)
        self.admitted = collections.defaultdict(set)   # budgeted label -> values
        # Tickets.
        self.horizon_ms = None
        self.tickets = {}
        self.histograms = {}     # (metric, team, priority) -> [bucket counts..., sum_ms]
        self.created = []        # (occurred, team label, reactive): firefighting
        self.feature_tickets = []  # (occurred, feature label, is a QUESTION)
        # Releases.
        self.releases = {}       # name -> dict
        self.ticket_hours = collections.defaultdict(collections.Counter)  # label -> hour -> n
        self.incidents = collections.defaultdict(list)  # label -> incident CREATED times
        # Experiments.
        self.experiments = {e.name: e for e in options.experiments}
        self.exposed = {}        # (experiment, user) -> dict
        self.pending_goals = {}  # (experiment, user) -> latest goal ms

    # --- label budgets --------------------------------------------------------

    def admit(self, label, value):
        """The label value exposed for `value`: itself while the label's
        budget admits it (first N distinct values in processing order),
        else __other__, counted as an overflow. "__x__" values are the
        daemon's own and pass."""
        if len(value) >= 4 and value.startswith("__") and value.endswith("__"):
            return value
        admitted = self.admitted[label]
        if value in admitted:
            return value
        if len(admitted) >= self.options.budgets[label]:
            self.counters[series("prodops_label_overflow_total", label=label)] += 1
            return OTHER
        admitted.add(value)
        return value

    def lookup(self, label, value):
        if (len(value) >= 4 and value.startswith("__") and value.endswith("__")) \
                or value in self.admitted[label]:
            return value
        return OTHER

    def team_label(self, team):
        return self.lookup("team", team or NO_TEAM)

    # --- ticket transitions (the committed fold reports them here) -------------

    def solved(self, t):
        self.counters[series("prodops_tickets_solved_total",
                             ticket_type=enum_label(t.type, TICKET_TYPE),
                             priority=enum_label(t.priority, TICKET_PRIORITY),
                             team=self.team_label(t.team))] += 1

    def reopened(self, t):
        self.counters[series("prodops_tickets_reopened_total", team=self.team_label(t.team))] += 1

    def reassigned(self, t, returned):
        team = self.team_label(t.team)
        self.counters[series("prodops_ticket_reassignments_total", team=team)] += 1
        if returned:
            self.counters[series("prodops_ticket_pingpong_total", team=team)] += 1

    def first_reply(self, t, elapsed_ms):
        self._observe("prodops_ticket_first_reply_seconds", t, elapsed_ms)

    def breached(self, t, clock):
        self.counters[series("prodops_sla_breaches_total", team=self.team_label(t.team),
                             priority=enum_label(t.priority, TICKET_PRIORITY),
                             clock=clock)] += 1

    def _observe(self, metric, t, value_ms):
        key = (metric, self.team_label(t.team), enum_label(t.priority, TICKET_PRIORITY))
        h = self.histograms.setdefault(key, [0] * (len(DURATION_BUCKETS_S) + 2))
        i = 0
        while i < len(DURATION_BUCKETS_S) and value_ms > DURATION_BUCKETS_S[i] * 1000:
            i += 1  # Prometheus buckets are "less than or equal"
        h[i] += 1
        h[-1] += max(0, value_ms)

    def _advance(self, as_of_ms):
        """Moves the commit horizon (never back)."""
        horizon = as_of_ms - self.options.lateness_ms
        if self.horizon_ms is None or horizon > self.horizon_ms:
            self.horizon_ms = horizon

    def _settle(self, ticket_id):
        ticket = self.tickets[ticket_id]
        if ticket.settle(self.horizon_ms, self.options, self):
            # Expired: the last solve is final.
            c = ticket.committed
            if c.created_ms is not None and c.last_solved_ms is not None:
                self._observe("prodops_ticket_resolution_seconds", c,
                              c.last_solved_ms - c.created_ms)
            del self.tickets[ticket_id]

    def _add_ticket(self, e, as_of_ms):
        self.admit("team", e.team or NO_TEAM)
        self._advance(as_of_ms)
        if e.ticket_id in self.tickets:
            self._settle(e.ticket_id)
        ticket = self.tickets.setdefault(e.ticket_id, Ticket())
        had_created = ticket.committed.created_ms is not None or any(
            p[2].kind == "CREATED" for p in ticket.pending)
        if any(p[1] == e.event_id for p in ticket.pending):
            return  # a retry of an event not yet committed
        if e.ms <= self.horizon_ms:
            ticket.committed.fold(e, self)  # behind the horizon: now, in arrival order
        else:
            bisect.insort_right(ticket.pending, (e.ms, e.event_id, e), key=lambda p: p[:2])
        if e.kind == "CREATED" and not had_created:
            # The first CREATED of the ticket counts, with its labels. Here
            # the first to arrive, as the daemon does; docs/signals.md says
            # the first by occurred_at for the firefighting counts. They
            # differ only for a ticket with two CREATED events read out of
            # order, which no scenario has.
            team = self.team_label(e.team)
            self.counters[series("prodops_tickets_created_total",
                                 ticket_type=enum_label(e.type, TICKET_TYPE),
                                 priority=enum_label(e.priority, TICKET_PRIORITY),
                                 team=team)] += 1
            if self._in_retention(e.ms, as_of_ms):
                self.created.append((e.ms, team, self.options.is_reactive(e.type, e.priority)))

    # --- releases ---------------------------------------------------------------

    def _release_settle(self, as_of_ms):
        """Freezes the releases whose impact window the horizon passed and
        drops ROLLBACK/HOTFIX-only entries older than the lateness."""
        settled = as_of_ms - self.options.lateness_ms
        impact = self.options.impact_hours * HOUR_MS
        for name in list(self.releases):
            r = self.releases[name]
            if r["deploy_ms"] is None:
                if all(t <= settled for t in r["undo"]):
                    del self.releases[name]
            elif not r["frozen"] and r["deploy_ms"] + impact <= settled:
                r["counts"] = self._lift_counts(r)
                r["frozen"] = True
        # Settled: a frozen release behind K frozen later ones can never be
        # exposed again and is forgotten (an open one can still change).
        frozen = sorted((r["deploy_ms"], n) for n, r in self.releases.items() if r["frozen"])
        for _, name in frozen[:max(0, len(frozen) - self.options.recent_releases)]:
            del self.releases[name]

    def _lift_counts(self, r):
        """(A, B): tickets about the release's features in the impact hours
        from the DEPLOY's hour, and in the 168 hours before it."""
        hour = bucket_start(r["deploy_ms"], HOUR_MS)
        end = hour + self.options.impact_hours * HOUR_MS
        start = hour - LIFT_BASELINE_HOURS * HOUR_MS
        after = before = 0
        for feature in r["features"]:
            for h, n in self.ticket_hours[feature].items():
                if hour <= h < end:
                    after += n
                elif start <= h < hour:
                    before += n
        return after, before

    def _check_failure(self, r):
        if r["deploy_ms"] is None or r["failed"] or r["frozen"]:
            return
        begin = r["deploy_ms"]
        end = begin + self.options.impact_hours * HOUR_MS
        failed = any(begin <= t < end for t in r["undo"]) or any(
            begin <= t < end for f in r["features"] for t in self.incidents[f])
        if failed:
            r["failed"] = True
            self.counters[series("prodops_change_failures_total", team=r["team"])] += 1

    def _add_release(self, payload, ms):
        kind = enum_name(field(payload, "kind"), RELEASE_KIND)
        team = self.admit("team", field(payload, "team", "") or NO_TEAM)
        self.counters[series("prodops_releases_total", team=team,
                             kind=enum_label(kind, RELEASE_KIND))] += 1
        name = field(payload, "release", "")
        r = self.releases.setdefault(name, {"deploy_ms": None, "team": None, "features": [],
                                            "undo": [], "failed": False, "frozen": False})
        if r["frozen"]:
            return
        if kind == "DEPLOY":
            if r["deploy_ms"] is not None and r["deploy_ms"] <= ms:
                return  # the earliest DEPLOY defines the release
            # Settled: the features of the DEPLOY that defines the release
            # pass through the budget (once per value); a later DEPLOY's do not.
            r["deploy_ms"], r["team"] = ms, team
            r["features"] = list(dict.fromkeys(field(payload, "features", []) or []))
            for feature in r["features"]:
                self.admit("feature", feature)
        elif len(r["undo"]) < 8:  # Settled: the first 8 ROLLBACK/HOTFIX times are kept
            r["undo"].append(ms)
        self._check_failure(r)

    def _release_ticket(self, e, features):
        """A ticket created about `features` (distinct names): a release's
        features are compared by name, not by label."""
        hour = bucket_start(e.ms, HOUR_MS)
        for feature in features:
            self.ticket_hours[feature][hour] += 1
            if e.type == "INCIDENT":
                self.incidents[feature].append(e.ms)
        if e.type == "INCIDENT":
            for r in self.releases.values():
                if set(r["features"]) & set(features):
                    self._check_failure(r)

    # --- experiments ------------------------------------------------------------

    def _add_exposure(self, payload, ms, as_of_ms):
        spec = self.experiments.get(field(payload, "experiment", ""))
        if spec is None:
            return  # not configured: ignored
        self.admit("experiment", spec.name)
        variant = field(payload, "variant", "")
        label = self.admit("variant", variant)
        key = (spec.name, field(payload, "user_id", ""))
        user = self.exposed.get(key)
        if user is None:
            user = self.exposed[key] = {"first_ms": ms, "variant": variant, "label": label,
                                        "variants": {variant}, "goal_ms": None,
                                        "converted": False}
            goal = self.pending_goals.pop(key, None)
            # A goal that came first waits for the lateness only.
            if goal is not None and goal > as_of_ms - self.options.lateness_ms:
                user["goal_ms"] = goal
        else:
            user["variants"].add(variant)
            # The first exposure: earliest occurred_at, then first by name.
            if (ms, variant) < (user["first_ms"], user["variant"]):
                user["first_ms"], user["variant"], user["label"] = ms, variant, label
        self._maybe_convert(user)

    def _maybe_convert(self, user):
        if not user["converted"] and user["goal_ms"] is not None \
                and user["goal_ms"] > user["first_ms"]:
            user["converted"] = True

    def _add_goal(self, spec, user_id, ms, as_of_ms):
        key = (spec.name, user_id)
        if key in self.pending_goals:
            self.pending_goals[key] = max(self.pending_goals[key], ms)
            return
        user = self.exposed.get(key)
        if user is None:
            if ms > as_of_ms - self.options.lateness_ms:
                self.pending_goals[key] = ms
            return
        if user["goal_ms"] is None or ms > user["goal_ms"]:
            user["goal_ms"] = ms
        self._maybe_convert(user)

    # --- input ------------------------------------------------------------------

    def _in_retention(self, occurred_ms, as_of_ms):
        return occurred_ms > as_of_ms - self.retention_ms

    def add(self, topic, event, as_of_ms=None):
        """Processes one envelope read from `topic` at pipeline time
        `as_of_ms` (default: the newest event time so far, as in replay)."""
        kinds = [k for k in ("usage", "ticket", "release", "exposure") if k in event]
        if len(kinds) != 1:
            raise ValueError("an envelope with %d payloads: %r" % (len(kinds), event))
        kind = kinds[0]
        payload = event[kind]
        occurred = rfc3339_to_ms(field(payload, "occurred_at"))
        self.max_event_ms = occurred if self.max_event_ms is None else max(
            self.max_event_ms, occurred)
        if as_of_ms is None:
            as_of_ms = self.max_event_ms
        self.counters[series("prodops_events_ingested_total", topic=topic)] += 1
        self.last_event_ms[topic] = max(self.last_event_ms.get(topic, occurred), occurred)
        if not self._in_retention(occurred, as_of_ms):
            self.counters[series("prodops_events_late_total", topic=topic)] += 1
        self._release_settle(as_of_ms)
        if kind == "usage":
            feature = field(payload, "feature", "")
            action = field(payload, "action", "")
            label = self.admit("feature", feature)
            self.counters[series("prodops_usage_events_total", feature=label, action=action)] += 1
            user_id = field(payload, "user_id", "")
            if self._in_retention(occurred, as_of_ms):
                self.usage.append((occurred, label, user_id))
            for spec in self.options.experiments:
                if feature == spec.goal_feature and action == spec.goal_action:
                    self._add_goal(spec, user_id, occurred, as_of_ms)
        elif kind == "ticket":
            e = TicketEvent(payload, occurred)
            self._add_ticket(e, as_of_ms)
            if e.kind == "CREATED":
                features = list(dict.fromkeys(e.features))
                # One budget admission (and overflow) per event and value; a
                # ticket counts once per feature label.
                labels = list(dict.fromkeys(self.admit("feature", f) for f in features))
                if self._in_retention(occurred, as_of_ms):
                    for label in labels:
                        self.feature_tickets.append((occurred, label, e.type == "QUESTION"))
                self._release_ticket(e, features)
        elif kind == "release":
            self._add_release(payload, occurred)
        elif kind == "exposure":
            self._add_exposure(payload, occurred, as_of_ms)

    def add_file(self, path, as_of_ms=None):
        topic = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    self.add(topic, json.loads(line), as_of_ms)
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError("%s:%d: %s" % (path, number, e)) from e

    # --- output -----------------------------------------------------------------

    def _window_range(self, as_of_ms, length, width):
        last = bucket_start(as_of_ms, width)
        return last - (length // width - 1) * width, last

    def _in_window(self, ms, first, last, width):
        return first <= bucket_start(ms, width) <= last

    def active_users(self, as_of_ms):
        """{series: exact distinct users} as of `as_of_ms`."""
        return {series("prodops_active_users", feature=f, window=w): len(ids)
                for (f, w), ids in self._active_sets(as_of_ms).items()}

    def _active_sets(self, as_of_ms):
        out = {}
        oldest_kept = as_of_ms - self.retention_ms  # events must be newer
        for name, length, width in self.windows:
            first, last = self._window_range(as_of_ms, length, width)
            for occurred, feature, user in self.usage:
                if occurred > oldest_kept and self._in_window(occurred, first, last, width):
                    out.setdefault((feature, name), set()).add(user)
                    out.setdefault((ALL_FEATURES, name), set()).add(user)
        return out

    def _backlog(self):
        """(open tickets by (priority, team), unassigned ones by team,
        oldest start by team) of every ticket as of every event read,
        committed or not: the backlog gauges do not wait for the horizon."""
        open_counts = collections.Counter()
        unassigned = {}
        oldest = {}
        for ticket in self.tickets.values():
            view = ticket.current()
            if view.done():
                continue
            team = self.team_label(view.team)
            open_counts[(enum_label(view.priority, TICKET_PRIORITY), team)] += 1
            unassigned[team] = unassigned.get(team, 0) + (0 if view.assignee else 1)
            start = view.created_ms if view.created_ms is not None else view.first_seen_ms
            oldest[team] = min(oldest.get(team, start), start)
        return open_counts, unassigned, oldest

    def oldest_open_starts(self):
        """{team label: CREATED (or first event) time, ms, of its oldest
        open ticket}: prodops_ticket_oldest_open_age_seconds is the time of
        the snapshot minus this."""
        return self._backlog()[2]

    def _tickets_values(self, as_of_ms, out):
        open_counts, unassigned, oldest = self._backlog()
        for (priority, team), n in open_counts.items():
            out[series("prodops_tickets_open", priority=priority, team=team)] = n
        for team, n in unassigned.items():
            out[series("prodops_tickets_unassigned_open", team=team)] = n
        for team, start in oldest.items():
            out[series("prodops_ticket_oldest_open_age_seconds", team=team)] = \
                max(0, as_of_ms - start) / 1000
        for (metric, team, priority), h in self.histograms.items():
            cumulative = 0
            for i, bound in enumerate(DURATION_BUCKETS_S + (math.inf,)):
                cumulative += h[i]
                out[series(metric + "_bucket", team=team, priority=priority,
                           le=bound)] = cumulative
            out[series(metric + "_count", team=team, priority=priority)] = cumulative
            out[series(metric + "_sum", team=team, priority=priority)] = h[-1] / 1000

    def _firefighting_values(self, as_of_ms, out):
        for name, length, width in self.windows:
            first, last = self._window_range(as_of_ms, length, width)
            counts = {}
            for ms, team, reactive in self.created:
                if self._in_window(ms, first, last, width):
                    c = counts.setdefault(team, [0, 0])
                    c[0] += reactive
                    c[1] += 1
            for team, (reactive, total) in counts.items():
                out[series("prodops_firefighting_reactive_tickets", team=team, window=name)] = \
                    reactive
                out[series("prodops_firefighting_tickets", team=team, window=name)] = total
                out[series("prodops_firefighting_ratio", team=team, window=name)] = \
                    reactive / total
        if not self.options.spike_available():
            return
        hours = self.options.spike_baseline_hours
        current = bucket_start(as_of_ms, HOUR_MS)
        by_team = {}  # team -> [last complete hour, then the baseline hours]
        for ms, team, reactive in self.created:
            back = (current - bucket_start(ms, HOUR_MS)) // HOUR_MS  # 1 = last complete hour
            if reactive and 1 <= back <= hours + 1:
                by_team.setdefault(team, [0] * (hours + 1))[back - 1] += 1
        for team, counts in by_team.items():
            baseline = counts[1:]
            mid = median(baseline)
            scale = max(MAD_SCALE * median([abs(c - mid) for c in baseline]),
                        self.options.spike_mad_floor)
            score = (counts[0] - mid) / scale
            out[series("prodops_firefighting_spike_score", team=team)] = score
            out[series("prodops_firefighting_spike", team=team)] = \
                1 if score > self.options.spike_threshold else 0

    def _feature_values(self, as_of_ms, active, out):
        for name, length, width in self.windows:
            first, last = self._window_range(as_of_ms, length, width)
            tickets = collections.Counter()
            questions = collections.Counter()
            for ms, feature, question in self.feature_tickets:
                if self._in_window(ms, first, last, width):
                    tickets[feature] += 1
                    questions[feature] += question
            users = {f: len(ids) for (f, w), ids in active.items() if w == name}
            everyone = users.get(ALL_FEATURES, 0)
            for feature in set(users) | set(tickets):
                if feature == ALL_FEATURES:
                    continue
                u = users.get(feature, 0)
                if everyone > 0 and u > 0:
                    out[series("prodops_feature_adoption_ratio", feature=feature,
                               window=name)] = u / everyone
                if u > 0:
                    out[series("prodops_feature_tickets_per_1k_users", feature=feature,
                               window=name)] = 1000 * tickets[feature] / u
                if tickets[feature] > 0:
                    out[series("prodops_feature_howto_share", feature=feature,
                               window=name)] = questions[feature] / tickets[feature]

    def feature_tickets_in_window(self, as_of_ms, window_name):
        """{feature label: tickets created about it} in a window: what the
        daemon multiplies by 1000 and divides by its own user estimate."""
        for name, length, width in self.windows:
            if name == window_name:
                first, last = self._window_range(as_of_ms, length, width)
                out = collections.Counter()
                for ms, feature, _ in self.feature_tickets:
                    if self._in_window(ms, first, last, width):
                        out[feature] += 1
                return out
        raise KeyError(window_name)

    def _release_values(self, out):
        n = self.options.impact_hours
        out[series("prodops_release_impact_window_seconds")] = n * 3600
        # The K releases with the latest DEPLOY. Settled: ties by name, the
        # greater first.
        recent = sorted(((r["deploy_ms"], name) for name, r in self.releases.items()
                         if r["deploy_ms"] is not None), reverse=True)
        for _, name in recent[:self.options.recent_releases]:
            r = self.releases[name]
            after, before = r["counts"] if r["frozen"] else self._lift_counts(r)
            out[series("prodops_release_ticket_lift", release=name)] = \
                after / n / (max(before, 1) / LIFT_BASELINE_HOURS)
            out[series("prodops_release_tickets_after", release=name)] = after
            out[series("prodops_release_tickets_before", release=name)] = before
            out[series("prodops_release_timestamp_seconds", release=name)] = r["deploy_ms"] / 1000

    def _experiment_values(self, out):
        exposed = collections.Counter()
        converted = collections.Counter()
        multi = collections.Counter()
        for spec in self.options.experiments:
            users = [u for (e, _), u in self.exposed.items() if e == spec.name]
            if not users:
                continue
            label = self.lookup("experiment", spec.name)
            for u in users:
                exposed[(label, u["label"])] += 1
                converted[(label, u["label"])] += u["converted"]
            multi[label] += sum(len(u["variants"]) > 1 for u in users)
            if label == OTHER:
                continue  # a mix of experiments: no single split
            observed = [sum(u["variant"] == v for u in users) for v, _ in spec.variants]
            total, weights = sum(observed), sum(w for _, w in spec.variants)
            if total == 0:
                continue
            statistic = sum((o - total * w / weights) ** 2 / (total * w / weights)
                            for o, (_, w) in zip(observed, spec.variants))
            out[series("prodops_experiment_srm_p_value", experiment=label)] = \
                chi_square_survival(statistic, len(spec.variants) - 1)
        for (experiment, variant), n in exposed.items():
            out[series("prodops_experiment_exposed_users", experiment=experiment,
                       variant=variant)] = n
            out[series("prodops_experiment_converted_users", experiment=experiment,
                       variant=variant)] = converted[(experiment, variant)]
        for experiment, n in multi.items():
            out[series("prodops_experiment_multi_variant_users", experiment=experiment)] = n

    def values(self, as_of_ms=None):
        """Every expected sample: {series: value}, as of `as_of_ms` (default
        the newest event time, as in replay), after a final flush at that
        time (the commit horizon moves to as_of - lateness). Does not change
        the accumulated state: call it for as many times as needed."""
        if as_of_ms is None:
            as_of_ms = self.max_event_ms if self.max_event_ms is not None else 0
        state = copy.copy(self)
        state.counters = collections.Counter(self.counters)
        state.histograms = copy.deepcopy(self.histograms)
        state.tickets = copy.deepcopy(self.tickets)
        state.releases = copy.deepcopy(self.releases)
        return state._final_values(as_of_ms)

    def _final_values(self, as_of_ms):
        self._advance(as_of_ms)
        for ticket_id in list(self.tickets):
            self._settle(ticket_id)
        self._release_settle(as_of_ms)
        out = {k: v for k, v in self.counters.items() if v}
        for topic, ms in self.last_event_ms.items():
            out[series("prodops_last_event_timestamp_seconds", topic=topic)] = ms / 1000
        active = self._active_sets(as_of_ms)
        for (f, w), ids in active.items():
            out[series("prodops_active_users", feature=f, window=w)] = len(ids)
        self._tickets_values(as_of_ms, out)
        self._firefighting_values(as_of_ms, out)
        self._feature_values(as_of_ms, active, out)
        self._release_values(out)
        self._experiment_values(out)
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
