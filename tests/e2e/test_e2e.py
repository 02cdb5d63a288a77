#!/usr/bin/env python3
"""End-to-end tests of prodopsd: a real Apache Kafka broker (tests/e2e/kafka.sh,
started once for the suite by ctest), Debian's Prometheus scraping the
daemon every second, scenarios written by prodops-loadgen, and expected
values from tests/e2e/reference.py, which shares no code with the daemon.

Environment (set by tests/e2e/CMakeLists.txt):
  PRODOPSD_BINARY, PRODOPS_LOADGEN_BINARY   the binaries under test
  PRODOPS_KAFKA_SH, PRODOPS_KAFKA_DIR       the broker's script and directory
  PRODOPS_E2E_EVENTS                        events of the main scenario (200000)

Every scenario's simulated events occur within the last ~45 minutes, so the
1h, 1d and 7d windows all cover them for the whole run. The live scenario
also reads tests/e2e/edge_events.py, hand-written events for what the
simulator never does, from the hours and days before.

Which assertion covers which signal: every metric of
reference.METRIC_KINDS (all of docs/signals.md and the README's product
metrics) is compared with the reference in three places, and
test_live_scenario_through_prometheus_matches_reference_and_replay fails if
one of them never had a non-zero expected sample:
  - live, through Prometheus: all of them, as of the scrape's time (read
    back from prodops_ticket_oldest_open_age_seconds);
  - `prodopsd replay` of the same events (as of the newest event): all of
    them; and equal to live for everything that does not depend on "now";
  - replay with a one-minute lateness and short SLA targets and expiry:
    every counter that waits for the commit horizon, for the simulated
    tickets in bulk (live, with the default hour of lateness, they are
    still waiting when the test ends).
After three SIGKILLs and after a broker restart, every metric is compared
with the reference as well (their simulated tickets also still wait for the
horizon; everything that does not wait must be exact, and exactly once).
"""

import copy
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import edge_events  # noqa: E402
import reference  # noqa: E402

DAEMON = os.environ.get("PRODOPSD_BINARY", "")
LOADGEN = os.environ.get("PRODOPS_LOADGEN_BINARY", "")
KAFKA_SH = os.environ.get("PRODOPS_KAFKA_SH", "")
KAFKA_DIR = os.environ.get("PRODOPS_KAFKA_DIR", "/tmp/prodopsd-e2e-kafka")
MAIN_EVENTS = int(os.environ.get("PRODOPS_E2E_EVENTS", "200000"))

COUNTERS = ("prodops_usage_events_total", "prodops_tickets_created_total",
            "prodops_events_ingested_total")
GAUGES_EXACT = ("prodops_last_event_timestamp_seconds",)
DISTINCT = "prodops_active_users"
HLL_MAX_ERROR = 0.02
EXACT_DISTINCT_LIMIT = 1024  # distinct sets are exact up to this many items

# Mixed formats and contents, 4 partitions each (the broker's num.partitions).
TOPICS = (("usage", "protobuf", "usage", "PROTOBUF", "USAGE"),
          ("tickets", "json", "ticket", "JSON", "TICKET"),
          ("releases", "json", "release", "JSON", "RELEASE"),
          ("exposures", "protobuf", "envelope", "PROTOBUF", "ENVELOPE"))
PARTITIONS = 4

# Dashboard panels the live scenario cannot fill: it has no rejected and no
# duplicate event (assert_nothing_late_or_rejected checks that), so these
# rates have no series. They must still parse.
DASHBOARD_MAY_BE_EMPTY = (
    "Events rejected per second by topic and reason",
    "Rejected share by topic (10 min)",
    "Duplicate events per second by topic",
)
# The edge events' topic (JSON envelopes, written with kcat, one key).
EDGE_TOPIC = "edge"

# The live scenario's signals: defaults, the experiments, and label budgets
# that the edge events overflow.
LIVE_OPTIONS = reference.Options(experiments=edge_events.EXPERIMENTS,
                                 budgets=edge_events.BUDGETS)
# The other scenarios: defaults and the simulator's experiment.
SIMULATOR_OPTIONS = reference.Options(experiments=edge_events.EXPERIMENTS[:1])
# The same events replayed with one minute of lateness: order-dependent
# counters then commit within the scenario, and SLA targets and the expiry
# are short enough for the simulated tickets (replies after 15 s to 5 min,
# solves up to 5 min later) to meet and breach them. Also other reactive
# rules, spike settings (a 24 h baseline: with less than an hour of
# lateness the 7d window keeps hourly buckets for 168 hours only) and
# release settings.
SHORT_OPTIONS = reference.Options(
    lateness_s=60,
    first_reply_sla_s={"LOW": 300, "NORMAL": 180, "HIGH": 120, "URGENT": 60},
    resolution_sla_s={"LOW": 600, "NORMAL": 480, "HIGH": 360, "URGENT": 240},
    reactive=(("INCIDENT", "HIGH"), ("BUG", None)), spike_baseline_hours=24,
    spike_mad_floor=0.5, spike_threshold=2.0, closed_ticket_expiry_s=30, impact_hours=2,
    recent_releases=3, experiments=edge_events.EXPERIMENTS, budgets=edge_events.BUDGETS)
# Values within 1e-9 of each other: ratios and statistics of equal counts
# (the exposition prints 15 significant digits).
FLOAT_TOLERANCE = 1e-9
# A ratio of two HyperLogLog estimates, each within HLL_MAX_ERROR.
HLL_RATIO_MAX_ERROR = 2 * HLL_MAX_ERROR / (1 - HLL_MAX_ERROR)
# Metrics that depend on the time they are read at (windows, ages, the
# spike's hours): not expected to be equal between live and replay.
NOW_DEPENDENT = frozenset((
    "prodops_active_users", "prodops_ticket_oldest_open_age_seconds",
    "prodops_firefighting_ratio", "prodops_firefighting_reactive_tickets",
    "prodops_firefighting_tickets", "prodops_firefighting_spike_score",
    "prodops_firefighting_spike", "prodops_feature_adoption_ratio",
    "prodops_feature_tickets_per_1k_users", "prodops_feature_howto_share"))

# The members of the consumer-group scenario: three start, the second is
# killed, the fourth joins.
GROUP_MEMBERS = ("group0", "group1", "group2", "group3")
# The metrics whose sum over the members of a group is the single process's
# value: counts of events, tickets and users, each kept by the task its
# event came from, and a release's ticket counts (every member reads every
# release, and counts the tickets of its tasks). Not the ratios and scores
# computed from them, nor maxima and ages, nor settings
# (prodops_release_impact_window_seconds), nor prodops_change_failures_total
# (a release and the incident that fails it may be in different members'
# tasks), nor prodops_label_overflow_total (each member admits labels on its
# own).
GROUP_ADDITIVE = tuple(sorted(
    name for name, kind in reference.METRIC_KINDS.items()
    if kind == "exact" and name not in (
        "prodops_change_failures_total", "prodops_label_overflow_total",
        "prodops_firefighting_spike", "prodops_release_impact_window_seconds")))

max_hll_error_seen = 0.0
RUN_ID = "%x" % int(time.time())


def log(message):
    print("e2e: " + message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, condition, timeout_s, interval_s=0.2):
    """Calls condition() until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            last = condition()
        except (OSError, ValueError) as e:  # not up yet, or mid-restart
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                                 % (timeout_s, what, last))
        time.sleep(interval_s)


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_labels(text):
    """'a="x",b="y"' -> {'a': 'x', 'b': 'y'} (Prometheus text escaping)."""
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq].strip().lstrip(",").strip()
        j, value = eq + 2, []
        while text[j] != '"':
            if text[j] == "\\":
                j += 1
                value.append({"n": "\n"}.get(text[j], text[j]))
            else:
                value.append(text[j])
            j += 1
        labels[name] = "".join(value)
        i = j + 1
        while i < len(text) and text[i] in ", ":
            i += 1
    return labels


def key(name, labels):
    """A canonical series key: name{sorted labels}, as reference.series()."""
    return reference.series(name, **labels)


def parse_exposition(text):
    """{series key: value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, rest = series.split("{", 1)
            out[key(name, parse_labels(rest[:-1]))] = float(value)
        else:
            out[series] = float(value)
    return out


def only(values, *names):
    return {k: v for k, v in values.items() if k.split("{", 1)[0] in names}


class Process:
    """A child process whose pid is recorded where kafka.sh clean finds it,
    so that even a killed test run leaves nothing behind."""

    def __init__(self, name, args, log_path):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.popen = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        os.makedirs(os.path.join(KAFKA_DIR, "pids"), exist_ok=True)
        self.pid_file = os.path.join(KAFKA_DIR, "pids", "%s-%d" % (name, self.popen.pid))
        with open(self.pid_file, "w") as f:
            f.write(str(self.popen.pid))

    def stop(self, sig=signal.SIGTERM, timeout_s=30):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log_file.close()
        if os.path.exists(self.pid_file):
            os.remove(self.pid_file)
        return self.popen.returncode

    def tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def kafka(command):
    env = dict(os.environ, PRODOPS_KAFKA_DIR=KAFKA_DIR)
    result = subprocess.run([KAFKA_SH, command], env=env, capture_output=True, text=True,
                            timeout=240)
    if result.returncode != 0:
        raise AssertionError("kafka.sh %s failed:\n%s%s" % (command, result.stdout,
                                                            result.stderr))


def topic_configs(prefix):
    """{topic: (cleanup.policy, retention.ms)} of the topics whose names start
    with `prefix`, as the broker describes them (tests/e2e/kafka/TopicConfigs.java,
    on the broker's own client jars)."""
    classpath = subprocess.run([KAFKA_SH, "classpath"], capture_output=True, text=True,
                               env=dict(os.environ, PRODOPS_KAFKA_DIR=KAFKA_DIR),
                               check=True).stdout.strip()
    result = subprocess.run(
        ["java", "-cp", classpath, os.path.join(REPO, "tests", "e2e", "kafka",
                                                "TopicConfigs.java"), bootstrap(), prefix],
        capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError("TopicConfigs failed:\n" + result.stderr[-2000:])
    return {name: (policy, retention) for name, policy, retention in
            (line.split() for line in result.stdout.splitlines())}


def bootstrap():
    if os.environ.get("PRODOPS_KAFKA_BOOTSTRAP"):
        return os.environ["PRODOPS_KAFKA_BOOTSTRAP"]
    with open(os.path.join(KAFKA_DIR, "env")) as f:
        for line in f:
            if line.startswith("PRODOPS_KAFKA_BOOTSTRAP="):
                return line.strip().split("=", 1)[1]
    raise AssertionError("no PRODOPS_KAFKA_BOOTSTRAP in %s/env" % KAFKA_DIR)


class Scenario:
    """One scenario: its topics (prefixed), its daemon port and state."""

    def __init__(self, name, work_dir, port, options=None, edge=False):
        self.name = name
        self.port = port
        self.options = options or reference.Options()
        self.dir = os.path.join(work_dir, name)
        os.makedirs(self.dir)
        # Unique per run, so that a broker kept between runs starts clean.
        self.topics = ["e2e-%s-%s.%s" % (RUN_ID, name, t[0]) for t in TOPICS]
        # Read by the daemon from the start; written to after the scenario.
        self.edge_topic = "e2e-%s-%s.%s" % (RUN_ID, name, EDGE_TOPIC) if edge else None
        self.dead_letter_topic = "e2e-%s-%s.dead-letters" % (RUN_ID, name)
        self.ndjson_dir = os.path.join(self.dir, "ndjson")
        self.config = self.write_config("prodopsd.textproto", self.options)
        self.daemon = None
        self.summary = None

    def all_topics(self):
        return self.topics + ([self.edge_topic] if self.edge_topic else [])

    def write_config(self, file_name, options):
        path = os.path.join(self.dir, file_name)
        with open(path, "w") as f:
            f.write(self.config_text(options))
        return path

    def config_text(self, options, state_dir=None, port=None, changelog=None):
        """The config; a group member's has its own `state_dir` and `port`,
        and hands its state over through the `changelog` topics."""
        lines = ['kafka {', '  bootstrap_servers: "%s"' % bootstrap(),
                 '  group_id: "e2e-%s-%s"' % (RUN_ID, self.name)]
        for k, v in (("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "1000"),
                     ("topic.metadata.refresh.interval.ms", "2000")):
            lines.append('  properties { key: "%s" value: "%s" }' % (k, v))
        lines.append('}')
        for topic, t in zip(self.topics, TOPICS):
            lines.append('topic { name: "%s" format: %s content: %s }' % (topic, t[3], t[4]))
        if self.edge_topic:
            lines.append('topic { name: "%s" format: JSON content: ENVELOPE }' % self.edge_topic)
        lines.append('state { dir: "%s" %s}' % (
            state_dir or os.path.join(self.dir, "state"),
            'changelog { topic_prefix: "%s" } ' % changelog if changelog else ""))
        lines.append('ingest { dead_letter_topic: "%s" }' % self.dead_letter_topic)
        lines.append('http { listen_address: "127.0.0.1:%d" }' % (port or self.port))
        return "\n".join(lines) + "\n" + options.textproto()

    def loadgen(self, events, start_ms, rate=0, users=20000, events_per_second=1000):
        args = [LOADGEN, "--bootstrap", bootstrap(), "--events", str(events),
                "--start-ms", str(start_ms), "--users", str(users),
                "--events-per-second", str(events_per_second), "--rate", str(rate),
                "--ndjson-dir", self.ndjson_dir]
        for topic, t in zip(self.topics, TOPICS):
            args += ["--topic", "%s:%s:%s" % (topic, t[1], t[2])]
        out = open(os.path.join(self.dir, "loadgen.out"), "w")
        proc = subprocess.Popen(args, stdout=out, stderr=open(
            os.path.join(self.dir, "loadgen.log"), "w"), stdin=subprocess.DEVNULL)
        proc.out_path = out.name
        return proc

    def finish_loadgen(self, proc, timeout_s):
        rc = proc.wait(timeout_s)
        if rc != 0:
            with open(os.path.join(self.dir, "loadgen.log")) as f:
                raise AssertionError("prodops-loadgen failed (%d):\n%s" % (rc, f.read()[-3000:]))
        with open(proc.out_path) as f:
            self.summary = json.loads(f.read())
        return self.summary

    def ndjson_files(self):
        """The simulated events' files, then the edge events' if written."""
        files = [os.path.join(self.ndjson_dir, t) for t in self.topics]
        if self.edge_topic and os.path.exists(self.edge_file()):
            files.append(self.edge_file())
        return files

    def edge_file(self):
        return os.path.join(self.ndjson_dir, self.edge_topic)

    def write_edge_events(self, events):
        with open(self.edge_file(), "w") as f:
            for event in events:
                f.write(json.dumps(event) + "\n")

    def create_topics(self):
        """Creates the input topics (the broker creates a topic a producer
        asks metadata for): the consumer group is subscribed to the first,
        which must exist for partitions to be assigned."""
        for topic in self.all_topics():
            poll("topic %s to exist" % topic, lambda: "partition " in subprocess.run(
                ["kcat", "-L", "-b", bootstrap(), "-t", topic], capture_output=True,
                text=True, timeout=30).stdout, 30)

    def produce_edge_events(self):
        """Writes the edge events to the edge topic, all with one key (one
        partition: read in file order). kcat waits for every delivery."""
        with open(self.edge_file()) as f:
            lines = "".join("edge\t" + line for line in f)
        result = subprocess.run(
            ["kcat", "-P", "-b", bootstrap(), "-t", self.edge_topic, "-K", "\t",
             "-X", "enable.idempotence=true"],
            input=lines, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError("kcat failed: %s%s" % (result.stdout, result.stderr))

    def reference(self, options=None, files=None):
        ref = reference.Reference(options or self.options)
        for path in files or self.ndjson_files():
            ref.add_file(path)
        return ref

    def replay(self, config, files):
        """The exposition `prodopsd replay` prints for `files`, in that order."""
        args = [DAEMON, "replay", "--config", config]
        for path in files:
            args += ["--input", path]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise AssertionError("prodopsd replay failed:\n" + result.stderr[-3000:])
        return parse_exposition(result.stdout)

    def start_daemon(self):
        self.daemon = Process("prodopsd-" + self.name, [DAEMON, "--config", self.config],
                              os.path.join(self.dir, "prodopsd.log"))
        poll("prodopsd %s to serve /metrics" % self.name, self.serving, 30)

    def serving(self):
        if self.daemon.popen.poll() is not None:
            raise AssertionError("prodopsd exited (%s):\n%s"
                                 % (self.daemon.popen.returncode, self.daemon.tail()))
        return http_get(self.port, "/metrics")[0] == 200

    def metrics(self):
        status, body = http_get(self.port, "/metrics")
        if status != 200:
            raise ValueError("GET /metrics: %d" % status)
        return body

    def caught_up(self, produced, topics=None):
        """True when every partition of `topics` (default: every topic
        written to) has lag 0 and ingested == produced."""
        if self.daemon.popen.poll() is not None:
            raise AssertionError("prodopsd exited:\n" + self.daemon.tail())
        topics = self.topics if topics is None else topics
        values = parse_exposition(self.metrics())
        lags = {k: v for k, v in only(values, "prodops_consumer_lag_messages").items()
                if any('topic="%s"' % t in k for t in topics)}
        ingested = sum(only(values, "prodops_events_ingested_total").values())
        if ingested > produced:
            raise AssertionError("%d events ingested, only %d produced" % (ingested, produced))
        return (len(lags) == len(topics) * PARTITIONS and not any(lags.values())
                and ingested == produced)

    def assigned(self):
        """Partitions the daemon reports a lag for (those it is assigned)."""
        return len(only(parse_exposition(self.metrics()), "prodops_consumer_lag_messages"))

    def ingested(self):
        values = parse_exposition(self.metrics())
        return sum(only(values, "prodops_events_ingested_total").values())


class EndToEnd(unittest.TestCase):
    maxDiff = 20000
    @classmethod
    def setUpClass(cls):
        for path, what in ((DAEMON, "PRODOPSD_BINARY"), (LOADGEN, "PRODOPS_LOADGEN_BINARY"),
                           (KAFKA_SH, "PRODOPS_KAFKA_SH")):
            if not path or not os.path.exists(path):
                raise AssertionError("%s is not set to an existing file" % what)
        for tool in ("prometheus", "promtool"):
            if shutil.which(tool) is None:
                raise AssertionError(tool + " not found (scripts/setup installs prometheus)")
        cls.work = tempfile.mkdtemp(prefix="prodopsd-e2e-")
        cls.ports = {name: free_port()
                     for name in ("live", "crash", "restart", "deadletters", "spike",
                                  "zombie0", "zombie1") + GROUP_MEMBERS}
        cls.prometheus_port = free_port()
        cls.start_prometheus()
        # Every scenario starts ~45 min ago: all windows cover all its events.
        cls.start_ms = int(time.time() * 1000) - 45 * 60 * 1000
        cls.suite_started = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.stop()
        log("suite took %.1f s; max HyperLogLog relative error seen: %.3f%%"
            % (time.monotonic() - cls.suite_started, 100 * max_hll_error_seen))
        if os.environ.get("PRODOPS_E2E_KEEP"):
            log("kept " + cls.work)
        else:
            shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def start_prometheus(cls):
        config = os.path.join(cls.work, "prometheus.yml")
        with open(config, "w") as f:
            # The shipped rules, as deployments load them: the dashboards'
            # queries read the recorded series. The alerts' `for:` durations
            # (minutes) are cut to 5 s, so that a test sees them fire.
            with open(os.path.join(REPO, "deploy", "prometheus", "alerts.yml")) as shipped:
                alerts = re.sub(r"(?m)^(\s+for:) \S+$", r"\1 5s", shipped.read())
            fast_alerts = os.path.join(cls.work, "alerts.yml")
            with open(fast_alerts, "w") as out:
                out.write(alerts)
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\nrule_files:\n"
                    "  - %s\n  - %s\n" % (
                        os.path.join(REPO, "deploy", "prometheus", "recording.yml"), fast_alerts)
                    + "scrape_configs:\n"
                    "  - job_name: prodopsd\n    static_configs:\n")
            for name, port in cls.ports.items():
                # The members of a group are one scenario.
                labels = ("scenario: group, member: " + name if name in GROUP_MEMBERS
                          else "scenario: " + name)
                f.write("      - targets: ['127.0.0.1:%d']\n        labels: {%s}\n"
                        % (port, labels))
        cls.prometheus = Process("prometheus", [
            "prometheus", "--config.file=" + config,
            "--storage.tsdb.path=" + os.path.join(cls.work, "prometheus-data"),
            "--web.listen-address=127.0.0.1:%d" % cls.prometheus_port,
            "--log.level=warn"], os.path.join(cls.work, "prometheus.log"))
        poll("Prometheus to be ready",
             lambda: http_get(cls.prometheus_port, "/-/ready")[0] == 200, 60)

    def prom_query(self, expr, at=None):
        query = {"query": expr}
        if at is not None:
            query["time"] = "%.3f" % at
        status, body = http_get(self.prometheus_port,
                                "/api/v1/query?" + urllib.parse.urlencode(query))
        self.assertEqual(status, 200, body)
        data = json.loads(body)
        self.assertEqual(data["status"], "success", body)
        return data["data"]["result"]

    def prom_values(self, scenario, names):
        """{series key: value} of the scenario's series, through Prometheus
        (its job/instance/scenario labels removed)."""
        out = {}
        for name in names:
            for sample in self.prom_query('%s{scenario="%s"}' % (name, scenario)):
                labels = {k: v for k, v in sample["metric"].items()
                          if k not in ("__name__", "job", "instance", "scenario")}
                out[key(name, labels)] = float(sample["value"][1])
        return out

    def prom_scrape(self, scenario, at):
        """{series key: value} of every prodops_ series of the scenario as
        of `at` (Unix seconds): one query, so every value comes from the
        same scrape (the last one before `at`) and the same snapshot."""
        out = {}
        for sample in self.prom_query('{__name__=~"prodops_.+",scenario="%s"}' % scenario, at):
            labels = {k: v for k, v in sample["metric"].items()
                      if k not in ("__name__", "job", "instance", "scenario")}
            out[key(sample["metric"]["__name__"], labels)] = float(sample["value"][1])
        return out

    def tearDown(self):
        for scenario in getattr(self, "scenarios", []):
            if scenario.daemon is not None:
                scenario.daemon.stop(signal.SIGKILL)

    def new_scenario(self, name, **options):
        scenario = Scenario(name, self.work, self.ports[name], **options)
        self.scenarios = getattr(self, "scenarios", []) + [scenario]
        return scenario

    # --- assertions ---------------------------------------------------------

    def assert_counters_equal(self, expected, actual, what):
        for name in COUNTERS:
            want, got = only(expected, name), only(actual, name)
            self.assertEqual(sorted(got), sorted(want), "%s: the series of %s" % (what, name))
            diffs = {k: (want[k], got[k]) for k in want if got[k] != want[k]}
            self.assertEqual(diffs, {}, "%s: %s (expected, actual)" % (what, name))
        want, got = only(expected, *GAUGES_EXACT), only(actual, *GAUGES_EXACT)
        self.assertEqual(sorted(got), sorted(want), what)
        for k in want:  # seconds with millisecond precision
            self.assertEqual(round(got[k] * 1000), round(want[k] * 1000), "%s: %s" % (what, k))

    def assert_distinct_close(self, expected, actual, what):
        global max_hll_error_seen
        want, got = only(expected, DISTINCT), only(actual, DISTINCT)
        self.assertEqual(sorted(got), sorted(want), "%s: the series of %s" % (what, DISTINCT))
        worst = (0.0, None)
        for k, v in want.items():
            if v <= EXACT_DISTINCT_LIMIT:
                self.assertEqual(got[k], v, "%s: %s is exact up to %d" % (
                    what, k, EXACT_DISTINCT_LIMIT))
            error = abs(got[k] - v) / v
            worst = max(worst, (error, k), key=lambda pair: pair[0])
            self.assertLessEqual(error, HLL_MAX_ERROR, "%s: %s = %s, reference %s" % (
                what, k, got[k], v))
        max_hll_error_seen = max(max_hll_error_seen, worst[0])
        log("%s: %d distinct-count series, max relative error %.3f%% (%s)"
            % (what, len(want), 100 * worst[0], worst[1]))

    def assert_nothing_late_or_rejected(self, values, what, late=True):
        """No event rejected or a duplicate, nor (with `late`) too late."""
        names = ("prodops_events_rejected_total", "prodops_events_duplicate_total")
        if late:
            names += ("prodops_events_late_total",)
        bad = {k: v for k, v in only(values, *names).items() if v != 0}
        self.assertEqual(bad, {}, what)

    def assert_signals_match(self, expected, actual, what, names=None):
        """Every metric of reference.METRIC_KINDS (or of `names`): the same
        series, and values equal as the metric's kind allows (see there).
        Returns the metrics with a non-zero expected sample."""
        names = sorted(reference.METRIC_KINDS if names is None else names)
        problems = []
        for name in names:
            want, got = only(expected, name), only(actual, name)
            if sorted(want) != sorted(got):
                problems.append("%s: series expected but missing: %s; not expected: %s" % (
                    name, sorted(set(want) - set(got))[:8], sorted(set(got) - set(want))[:8]))
                continue
            kind = reference.METRIC_KINDS[name]
            if kind == "hll":
                self.assert_distinct_close(expected, actual, what)
                continue
            for k, v in sorted(want.items()):
                if not self.value_matches(kind, k, v, got[k], expected, actual):
                    problems.append("%s = %r, reference %r" % (k, got[k], v))
        self.assertEqual(problems, [], "%s: %d problems" % (what, len(problems)))
        log("%s: %d series of %d metrics as the reference expects" % (
            what, len(only(expected, *names)), len(names)))
        return {reference.metric_of(k) for k, v in expected.items() if v}

    def value_matches(self, kind, k, want, got, expected, actual):
        if kind == "exact":
            return got == want
        if kind == "ms":
            return round(got * 1000) == round(want * 1000)
        if kind == "float":
            return math.isclose(got, want, rel_tol=FLOAT_TOLERANCE, abs_tol=1e-12)
        # hll_ratio: what the daemon divides is its own rounded estimate of
        # the users, as exposed in the same snapshot: exact against that,
        # and within the HyperLogLog bound of the reference's exact ratio.
        labels = parse_labels(k.split("{", 1)[1][:-1])
        feature, window = labels["feature"], labels["window"]
        users = actual[key(DISTINCT, {"feature": feature, "window": window})]
        if k.startswith("prodops_feature_adoption_ratio"):
            everyone = actual[key(DISTINCT, {"feature": reference.ALL_FEATURES,
                                             "window": window})]
            exact = users / everyone
        else:
            true_users = expected[key(DISTINCT, {"feature": feature, "window": window})]
            exact = 1000 * round(want * true_users / 1000) / users
        return (math.isclose(got, exact, rel_tol=FLOAT_TOLERANCE)
                and abs(got - want) <= HLL_RATIO_MAX_ERROR * want)

    def assert_equal_where_now_does_not_matter(self, first, second, what):
        """`first` and `second` read the same events at different times:
        every metric that does not depend on the time read is equal."""
        names = [n for n in reference.METRIC_KINDS if n not in NOW_DEPENDENT]
        problems = []
        for name in names:
            a, b = only(first, name), only(second, name)
            if sorted(a) != sorted(b):
                problems.append("%s: only in the first: %s; only in the second: %s" % (
                    name, sorted(set(a) - set(b))[:8], sorted(set(b) - set(a))[:8]))
                continue
            kind = reference.METRIC_KINDS[name]
            problems += ["%s: %r and %r" % (k, a[k], b[k]) for k in sorted(a)
                         if not self.value_matches(kind, k, a[k], b[k], first, second)]
        self.assertEqual(problems, [], what)

    def as_of_of(self, ref, values, read_at):
        """The time (ms) the daemon's snapshot in `values` was taken at:
        prodops_ticket_oldest_open_age_seconds is that time minus the start
        of each team's oldest open ticket, which the reference knows. Every
        team must give the same time, within a few seconds before the read."""
        starts = ref.oldest_open_starts()
        ages = only(values, "prodops_ticket_oldest_open_age_seconds")
        self.assertTrue(ages, "no prodops_ticket_oldest_open_age_seconds to read the time from")
        times = set()
        for k, age in ages.items():
            team = parse_labels(k.split("{", 1)[1][:-1])["team"]
            self.assertIn(team, starts, "%s: no open ticket of %s in the reference" % (k, team))
            times.add(starts[team] + round(age * 1000))
        self.assertEqual(len(times), 1, "teams disagree about the snapshot's time: %s" % times)
        as_of = times.pop()
        self.assertLessEqual(as_of, read_at * 1000, "a snapshot after the read")
        self.assertGreater(as_of, read_at * 1000 - 10_000, "a snapshot 10 s before the read")
        return as_of

    def assert_all_signals_now(self, scenario, what):
        """The daemon's /metrics, read now, against the reference as of the
        snapshot's time: every signal, plus the foundation counters."""
        read_at = time.time()
        actual = parse_exposition(scenario.metrics())
        ref = scenario.reference()
        expected = ref.values(self.as_of_of(ref, actual, read_at))
        self.assert_counters_equal(expected, actual, what)
        self.assert_signals_match(expected, actual, what)
        self.assert_nothing_late_or_rejected(actual, what)

    # --- tests --------------------------------------------------------------

    def test_live_scenario_through_prometheus_matches_reference_and_replay(self):
        s = self.new_scenario("live", options=LIVE_OPTIONS, edge=True)
        started = time.monotonic()
        proc = s.loadgen(MAIN_EVENTS, self.start_ms)
        summary = s.finish_loadgen(proc, 300)
        produced = summary["events"]
        self.assertEqual(produced, MAIN_EVENTS)
        log("live: produced %d events in %.1f s: %s" % (
            produced, time.monotonic() - started,
            {t: v["events"] for t, v in summary["topics"].items()}))
        # Edge events in the hours and days before the scenario's last hour,
        # at least two hours from it (check_far_from_scenario): the live
        # daemon's commit horizon (now - 1 h) and the replay's (the newest
        # event - 1 h) have then both passed, or both not passed, each edge
        # event, SLA deadline and expiry, for two hours after the scenario.
        hour_ms = reference.bucket_start(
            max(t["last_ms"] for t in summary["topics"].values()), reference.HOUR_MS)
        edges = edge_events.events(hour_ms)
        edge_events.check_far_from_scenario(edges, hour_ms, LIVE_OPTIONS)
        s.write_edge_events(edges)

        daemon_started = time.monotonic()
        s.start_daemon()
        poll("the live daemon to catch up", lambda: s.caught_up(produced), 180)
        log("live: caught up with %d events in %.1f s after start"
            % (produced, time.monotonic() - daemon_started))
        # After every simulated event: the label budgets (exactly the
        # simulated values) are then full whatever the order Kafka delivered
        # those in, and the edge events' new values are the ones refused.
        edge_read_ms = int(time.time() * 1000)
        s.produce_edge_events()
        total = produced + len(edges)
        poll("the live daemon to read the edge events",
             lambda: s.caught_up(total, s.all_topics()), 60)

        # Prometheus scrapes every second; once a scrape shows every event
        # ingested, every later sample is final but for the time it is taken.
        poll("Prometheus to scrape the final values", lambda: sum(
            self.prom_values("live", ["prodops_events_ingested_total"]).values()) == total, 60)
        read_at = time.time()
        time.sleep(1.5)  # the scrape before read_at is stored
        live = self.prom_scrape("live", read_at)

        reference_started = time.monotonic()
        sim = s.reference(files=s.ndjson_files()[:-1])
        # The replay reads the edge events at the newest event's time; the
        # live daemon at about edge_read_ms.
        replayed_ref = copy.deepcopy(sim)
        replayed_ref.add_file(s.edge_file())
        live_ref = sim
        live_ref.add_file(s.edge_file(), as_of_ms=edge_read_ms)
        as_of_ms = self.as_of_of(live_ref, live, read_at)
        expected = live_ref.values(as_of_ms)
        log("live: reference for %d events in %.1f s; snapshot %.1f s before the read"
            % (total, time.monotonic() - reference_started, read_at - as_of_ms / 1000))
        covered = self.assert_signals_match(expected, live, "live via Prometheus")

        exposition = s.metrics()
        # One edge event is late on purpose: compared with the reference above.
        self.assert_nothing_late_or_rejected(parse_exposition(exposition), "live", late=False)
        check = subprocess.run(["promtool", "check", "metrics"], input=exposition,
                               capture_output=True, text=True, timeout=60)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""),
                         "promtool check metrics on /metrics")

        # The same events through `prodopsd replay`: T = newest event time.
        replay_started = time.monotonic()
        replayed = s.replay(s.config, s.ndjson_files())
        log("live: replay of %d events took %.1f s" % (total, time.monotonic() - replay_started))
        self.assert_nothing_late_or_rejected(replayed, "replay", late=False)
        self.assert_equal_where_now_does_not_matter(live, replayed, "replay vs live")
        self.assertEqual(only(replayed, DISTINCT), only(live, DISTINCT),
                         "replay vs live: %s" % DISTINCT)
        covered |= self.assert_signals_match(replayed_ref.values(), replayed,
                                             "replay vs reference")

        # Again with a minute of lateness, the edge events first and in time
        # order (each the newest so far: committed in event-time order, with
        # every SLA deadline judged on time), the usage last (the goals
        # after their exposures).
        short_started = time.monotonic()
        short_config = s.write_config("short.textproto", SHORT_OPTIONS)
        files = s.ndjson_files()
        files = files[-1:] + files[1:-1] + files[:1]
        short = s.replay(short_config, files)
        expected_short = s.reference(SHORT_OPTIONS, files).values()
        covered |= self.assert_signals_match(expected_short, short, "short lateness replay")
        log("live: short-lateness replay and its reference took %.1f s"
            % (time.monotonic() - short_started))
        self.assertEqual(sorted(set(reference.METRIC_KINDS) - covered), [],
                         "signals never checked with a non-zero value")
        self.check_dashboard_queries()

    def check_dashboard_queries(self):
        """Every Grafana panel and variable query parses and returns data
        from this Prometheus (the shipped recording rules evaluate once a
        minute: wait for a first evaluation)."""
        def run():
            return subprocess.run(
                [sys.executable, os.path.join(REPO, "tests", "deploy", "check_dashboards.py"),
                 "queries", "--prometheus", "http://127.0.0.1:%d" % self.prometheus_port]
                + [arg for key in DASHBOARD_MAY_BE_EMPTY for arg in ("--may-be-empty", key)],
                capture_output=True, text=True, timeout=120)
        result = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            result = run()
            if result.returncode == 0:
                break
            time.sleep(10)
        log("dashboards: " + result.stdout.strip().replace("\n", "\n  "))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_rejected_messages_reach_the_dead_letter_topic_unchanged(self):
        s = self.new_scenario("deadletters")
        summary = s.finish_loadgen(s.loadgen(2000, self.start_ms), 120)
        produced = summary["events"]
        usage_topic = s.topics[0]  # protobuf
        tickets_topic = s.topics[1]  # JSON
        bad = [(tickets_topic, "k1", '{"ticket": not json'),
               (tickets_topic, "k2", '{"eventId":"t-x","occurredAt":"2999-01-01T00:00:00Z",'
                                     '"ticketId":"T","kind":"CREATED"}'),
               (usage_topic, "k3", "\u00ff\u00fe garbage")]
        for topic, key, payload in bad:
            result = subprocess.run(["kcat", "-P", "-b", bootstrap(), "-t", topic, "-k", key],
                                    input=payload, capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
        s.start_daemon()
        poll("the daemon to count the bad messages", lambda: sum(only(
            parse_exposition(s.metrics()), "prodops_events_rejected_total").values()) == len(bad),
            120)
        poll("the daemon to read every event", lambda: s.ingested() == produced, 120)

        def letters():
            result = subprocess.run(
                ["kcat", "-C", "-b", bootstrap(), "-t", s.dead_letter_topic, "-o", "beginning",
                 "-e", "-q", "-J"], capture_output=True, text=True, timeout=60)
            return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        poll("the dead letters", lambda: len(letters()) >= len(bad), 60)
        got = letters()
        self.assertEqual(len(got), len(bad), got)
        by_key = {m["key"]: m for m in got}
        for topic, key, payload in bad:
            message = by_key[key]
            self.assertEqual(message["payload"], payload)
            headers = dict(zip(message["headers"][::2], message["headers"][1::2]))
            self.assertEqual(headers["prodops.source.topic"], topic)
            self.assertIn("prodops.source.partition", headers)
            self.assertIn("prodops.source.offset", headers)
        reasons = sorted(dict(zip(m["headers"][::2], m["headers"][1::2]))["prodops.reject.reason"]
                         for m in got)
        self.assertEqual(reasons, ["malformed", "malformed", "out_of_tolerance"])
        log("dead letters: %d of %d messages rejected, all in %s with their headers"
            % (len(got), produced + len(bad), s.dead_letter_topic))

    def test_release_then_incident_burst_fires_firefighting_spike(self):
        """A week of quiet reactive tickets for team "fire", a DEPLOY of its
        feature, then a burst of incidents in the last complete UTC hour: the
        daemon's spike score jumps and the shipped FirefightingSpike alert
        fires in the real Prometheus."""
        s = self.new_scenario("spike")
        hour_ms = reference.bucket_start(int(time.time() * 1000), reference.HOUR_MS)
        last_hour = hour_ms - reference.HOUR_MS

        def at(ms):
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + "Z"

        def incident(i, ms):
            return json.dumps({"eventId": "spike-%d" % i, "occurredAt": at(ms),
                               "ticketId": "F-%d" % i, "kind": "CREATED", "status": "NEW",
                               "type": "INCIDENT", "priority": "HIGH", "team": "fire",
                               "features": ["checkout"]})
        tickets = []
        # The baseline: one incident in every third hour of the week before.
        for h in range(2, 168, 3):
            tickets.append(incident(len(tickets), last_hour - h * reference.HOUR_MS + 600_000))
        release = json.dumps({"eventId": "spike-r", "occurredAt": at(last_hour + 60_000),
                              "release": "fire-1", "kind": "DEPLOY", "team": "fire",
                              "features": ["checkout"]})
        for i in range(12):  # the burst, after the release
            tickets.append(incident(len(tickets), last_hour + 300_000 + i * 120_000))
        for topic, lines in ((s.topics[2], [release]), (s.topics[1], tickets)):
            result = subprocess.run(["kcat", "-P", "-b", bootstrap(), "-t", topic, "-k", "fire"],
                                    input="\n".join(lines) + "\n", capture_output=True,
                                    text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
        s.create_topics()
        s.start_daemon()
        poll("the daemon to read the tickets", lambda: s.ingested() == len(tickets) + 1, 120)
        values = parse_exposition(s.metrics())
        score = values.get('prodops_firefighting_spike_score{team="fire"}')
        self.assertIsNotNone(score, "no spike score for team fire")
        self.assertEqual(values.get('prodops_firefighting_spike{team="fire"}'), 1, score)

        def firing():
            return self.prom_query('ALERTS{alertname="FirefightingSpike",team="fire",'
                                   'alertstate="firing"}')
        poll("FirefightingSpike to fire in Prometheus", lambda: len(firing()) == 1, 90)
        log("spike: score %.1f for team fire; FirefightingSpike firing in Prometheus" % score)

    def test_sigkill_three_times_while_consuming_counts_exactly_once(self):
        s = self.new_scenario("crash", options=SIMULATOR_OPTIONS)
        events = 60_000
        # Few users: distinct sets stay exact (<= 1024) for most features.
        proc = s.loadgen(events, self.start_ms, rate=4000, users=2000)
        # Topics appear as loadgen writes to them; the daemon may start first.
        s.start_daemon()
        seed = int(os.environ.get("PRODOPS_E2E_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        thresholds = sorted(rng.sample(range(events // 10, events * 9 // 10), 3))
        log("crash: seed %d: SIGKILL after %s events ingested" % (seed, thresholds))
        for threshold in thresholds:
            poll("crash: %d events ingested" % threshold,
                 lambda: s.ingested() >= threshold, 120, interval_s=0.05)
            extra_ms = rng.randrange(0, 1000)  # somewhere between two flushes
            time.sleep(extra_ms / 1000)
            s.daemon.stop(signal.SIGKILL)
            log("crash: killed at >= %d events (+%d ms); restarting" % (threshold, extra_ms))
            s.start_daemon()
        s.finish_loadgen(proc, 180)
        restarted = time.monotonic()
        poll("the crash daemon to catch up", lambda: s.caught_up(events), 180)
        log("crash: caught up %.1f s after the last restart" % (time.monotonic() - restarted))
        self.assert_all_signals_now(s, "after 3 SIGKILLs")

    def group_members(self, s, changelog):
        """Members of scenario `s`'s consumer group, each with its own state
        directory and port (self.ports[name]), handing tasks over through
        the `changelog` topics."""
        test = self

        class Members:
            def __init__(self):
                self.processes = {}

            def start(self, name, static=True):
                config = os.path.join(s.dir, name + ".textproto")
                with open(config, "w") as f:
                    f.write(s.config_text(s.options, os.path.join(s.dir, name),
                                          test.ports[name], changelog=changelog))
                args = [DAEMON, "--config", config]
                if static:  # as the StatefulSet runs them
                    args += ["--group-instance-id", name]
                self.processes[name] = Process("prodopsd-" + name, args,
                                               os.path.join(s.dir, name + ".log"))
                poll(name + " to serve /metrics",
                     lambda: bool(self.values(name)), 30)

            def values(self, name):
                """The member's exposition, parsed; {} while it does not answer."""
                process = self.processes[name]
                if process.popen.poll() is not None:
                    raise AssertionError("%s exited:\n%s" % (name, process.tail()))
                try:
                    status, body = http_get(test.ports[name], "/metrics")
                except OSError:  # a stopped process does not answer
                    return {}
                return parse_exposition(body) if status == 200 else {}

            def held(self, names):
                """{series of a partition's lag: [members reporting it]}, the
                lags, and the events ingested, over `names`."""
                reporters, lags, ingested = {}, {}, 0
                for name in names:
                    values = self.values(name)
                    for k, v in only(values, "prodops_consumer_lag_messages").items():
                        reporters.setdefault(k, []).append(name)
                        lags[k] = v
                    ingested += sum(only(values, "prodops_events_ingested_total").values())
                return reporters, lags, ingested

            def wait_caught_up(self, names, events):
                """Until every partition is held by exactly one of `names`, read
                to its end, and the events ingested add up to `events`."""
                partitions = len(s.topics) * PARTITIONS

                def caught_up():
                    reporters, lags, ingested = self.held(names)
                    return (len(reporters) == partitions and not any(lags.values())
                            and ingested == events)
                poll("%s: the members to catch up" % s.name, caught_up, 180)
                reporters, _, _ = self.held(names)
                test.assertEqual({k: v for k, v in reporters.items() if len(v) != 1}, {},
                                 "partitions reported by more than one member")
                log("%s: partitions (of every topic) per member: %s" % (s.name, {
                    name: sum(1 for v in reporters.values() if v == [name])
                    for name in names}))

            def restored(self, names):
                """{member: (changelog records restored, seconds restoring)}."""
                out = {}
                for name in names:
                    values = self.values(name)
                    out[name] = tuple(sum(only(values, metric).values()) for metric in (
                        "prodops_changelog_records_restored_total",
                        "prodops_changelog_restore_seconds_total"))
                return out

            def stop_all(self):
                for process in self.processes.values():
                    process.stop(signal.SIGKILL)

        return Members()

    def assert_sums_exact(self, expected, actual, what):
        """Every GROUP_ADDITIVE series of `actual` (summed over members) is
        the reference's value."""
        problems = []
        for name in GROUP_ADDITIVE:
            want, got = only(expected, name), only(actual, name)
            # A series that is 0 in the reference may be absent in every
            # member.
            missing = [k for k in want if k not in got and want[k] != 0]
            extra = [k for k in got if k not in want and got[k] != 0]
            wrong = ["%s: %s, not %s" % (k, got[k], want[k])
                     for k in want if k in got and got[k] != want[k]]
            problems += missing + extra + wrong
        self.assertEqual(problems, [], what)

    def test_consumer_group_members_sum_to_a_single_process(self):
        """Three members share the topics; one is SIGKILLed, another joins.
        Each member exposes only the tasks of the partitions it holds, and
        a moved task comes with its state through the changelog, so the
        sums over the members, through Prometheus, are the single process's
        values, and no partition is reported twice."""
        s = Scenario("group", self.work, self.ports["group0"], options=SIMULATOR_OPTIONS)
        self.scenarios = getattr(self, "scenarios", []) + [s]
        events = 60_000
        # The changelog topics get the input topics' partition count: the
        # first input topic must exist when a member starts.
        s.create_topics()
        proc = s.loadgen(events, self.start_ms, rate=3000, users=2000)
        members = self.group_members(s, changelog="e2e-%s-group" % RUN_ID)
        try:
            for name in GROUP_MEMBERS[:3]:
                members.start(name)
            poll("group: 15000 events ingested over three members",
                 lambda: members.held(GROUP_MEMBERS[:3])[2] >= 15_000, 120)
            members.processes["group1"].stop(signal.SIGKILL)
            killed = time.monotonic()
            survivors = ("group0", "group2")
            partitions = len(s.topics) * PARTITIONS
            poll("group: the killed member's partitions assigned to the others",
                 lambda: len(members.held(survivors)[0]) == partitions, 60)
            log("group: every partition held again %.1f s after a member's SIGKILL"
                % (time.monotonic() - killed))
            members.start("group3")
            live = ("group0", "group2", "group3")
            poll("group: the new member holds partitions",
                 lambda: bool(members.held(["group3"])[0]), 60)
            s.finish_loadgen(proc, 180)
            members.wait_caught_up(live, events)
            # Every member has read every partition of the releases topic.
            for name in live:
                broadcast = only(members.values(name), "prodops_broadcast_lag_messages")
                self.assertEqual(len(broadcast), PARTITIONS, name)
                self.assertEqual(set(broadcast.values()), {0}, name)
            # Two scrapes after the last change: every member's latest
            # snapshot is in Prometheus.
            time.sleep(2.5)
            read_at = time.time()
            ref = s.reference()
            expected = ref.values(int(read_at * 1000))
            actual = {}
            for name in GROUP_ADDITIVE + (DISTINCT,):
                for sample in self.prom_query(
                        'sum without (instance, job, member, scenario) (%s{scenario="group"})'
                        % name, read_at):
                    actual[key(name, sample["metric"])] = float(sample["value"][1])
            self.assert_sums_exact(expected, actual, "sums over the group's members")
            self.assert_distinct_close(expected, actual, "group: summed over the members")
            # The moved tasks came from the changelog, not from their
            # partitions read again (that would count them twice).
            restored = members.restored(live)
            log("group: changelog records restored (and seconds) per member: %s" % restored)
            self.assertGreater(sum(r for r, _ in restored.values()), 0,
                               "no member restored a task from the changelog")
            # The changelog topics as created: compacted, and the de-duplication
            # ids also deleted after twice the horizon (24 h by default).
            prefix = "e2e-%s-group-" % RUN_ID
            configs = topic_configs(prefix)
            self.assertEqual({name: policy for name, (policy, _) in configs.items()}, {
                "%s%s-changelog" % (prefix, family):
                    "compact,delete" if family == "dedup" else "compact"
                for family in ("offsets", "counters", "buckets", "tickets", "dedup",
                               "signals")})
            self.assertEqual(configs[prefix + "dedup-changelog"][1], str(2 * 86_400_000))
        finally:
            members.stop_all()

    def test_a_paused_member_is_fenced_and_nothing_counts_twice(self):
        """A member paused (SIGSTOP) past its session loses its partitions;
        the member that takes them over fences its changelog producers. Woken
        (SIGCONT), it can write nothing more of the tasks it lost, rejoins,
        takes some back from the changelog, and the sums stay exact."""
        s = Scenario("zombie", self.work, self.ports["zombie0"], options=SIMULATOR_OPTIONS)
        self.scenarios = getattr(self, "scenarios", []) + [s]
        events = 40_000
        s.create_topics()
        proc = s.loadgen(events, self.start_ms, rate=3000, users=2000)
        members = self.group_members(s, changelog="e2e-%s-zombie" % RUN_ID)
        names = ("zombie0", "zombie1")
        partitions = len(s.topics) * PARTITIONS
        try:
            for name in names:
                members.start(name, static=False)
            poll("zombie: 8000 events ingested over two members",
                 lambda: members.held(names)[2] >= 8_000, 120)
            paused = members.processes["zombie0"].popen
            paused.send_signal(signal.SIGSTOP)
            poll("zombie: the paused member's partitions assigned to the other",
                 lambda: len(members.held(["zombie1"])[0]) == partitions, 60)
            time.sleep(2)  # the new owner flushes (to its changelog) meanwhile
            paused.send_signal(signal.SIGCONT)
            # Its first tasks came from an empty changelog: a record restored
            # is a task taken back after the other member wrote to it.
            poll("zombie: the woken member to take tasks back from the changelog",
                 lambda: members.restored(["zombie0"])["zombie0"][0] > 0, 60)
            s.finish_loadgen(proc, 180)
            members.wait_caught_up(names, events)
            time.sleep(1.5)  # a flush interval: anything counted twice would show
            read_at = time.time()
            expected = s.reference().values(int(read_at * 1000))
            actual = {}
            for name in names:
                for k, v in members.values(name).items():
                    actual[k] = actual.get(k, 0) + v
            self.assert_sums_exact(expected, actual, "sums over the members")
            log("zombie: changelog records restored (and seconds) per member: %s"
                % members.restored(names))
            with open(os.path.join(s.dir, "zombie0.log"), errors="replace") as f:
                fenced = [line.strip() for line in f if "fenced" in line.lower()]
            log("zombie: the woken member's log on fencing: %s"
                % (fenced[:2] or "nothing (it learned of the loss before a flush)"))
        finally:
            members.processes["zombie0"].popen.send_signal(signal.SIGCONT)
            members.stop_all()

    def test_broker_restart_readyz_and_exact_values(self):
        s = self.new_scenario("restart", options=SIMULATOR_OPTIONS)
        events = 60_000
        proc = s.loadgen(events, self.start_ms, rate=2000)
        # Every topic must exist before the outage: a topic that the broker
        # would auto-create while it is down is refused to the producer. (An
        # assigned partition does not say so: the partitions of a topic that
        # does not exist yet are assigned too.)
        s.create_topics()
        s.start_daemon()
        poll("restart: every partition assigned and some events ingested",
             lambda: s.assigned() == len(s.topics) * PARTITIONS and s.ingested() >= events // 5,
             120)
        poll("restart: /readyz 200 before the outage",
             lambda: http_get(s.port, "/readyz")[0] == 200, 30)
        kafka("stop")
        stopped = time.monotonic()
        try:
            poll("/readyz to report 503 while the broker is down",
                 lambda: http_get(s.port, "/readyz")[0] == 503, 19)
            log("restart: /readyz 503 %.1f s after the broker stopped"
                % (time.monotonic() - stopped))
            # The outage itself lasts 20 s; /readyz must stay 503 throughout.
            while time.monotonic() - stopped < 20:
                status, body = http_get(s.port, "/readyz")
                self.assertEqual(status, 503, "/readyz while the broker is down: " + body)
                time.sleep(0.5)
        finally:
            kafka("start")
        started = time.monotonic()
        poll("/readyz 200 after the broker came back",
             lambda: http_get(s.port, "/readyz")[0] == 200, 120)
        log("restart: /readyz 200 %.1f s after the broker was back"
            % (time.monotonic() - started))
        s.finish_loadgen(proc, 300)
        poll("the restart daemon to catch up", lambda: s.caught_up(events), 180)
        self.assertIsNone(s.daemon.popen.poll(), "prodopsd must survive a broker restart")
        self.assert_all_signals_now(s, "after a broker restart")


if __name__ == "__main__":
    unittest.main(verbosity=2)
