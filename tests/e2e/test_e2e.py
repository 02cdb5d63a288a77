#!/usr/bin/env python3
"""End-to-end tests of prodopsd: a real Apache Kafka broker (tests/e2e/kafka.sh,
started once for the suite by ctest), Debian's Prometheus scraping the
daemon every second, scenarios written by prodops-loadgen, and expected
values from tests/e2e/reference.py, which shares no code with the daemon.

Environment (set by tests/e2e/CMakeLists.txt):
  PRODOPSD_BINARY, PRODOPS_LOADGEN_BINARY   the binaries under test
  PRODOPS_KAFKA_SH, PRODOPS_KAFKA_DIR       the broker's script and directory
  PRODOPS_E2E_EVENTS                        events of the main scenario (200000)

Every scenario's events occur within the last ~45 minutes, so the 1h, 1d and
7d windows all cover every event for the whole run.
"""

import json
import os
import random
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

    def __init__(self, name, work_dir, port):
        self.name = name
        self.port = port
        self.dir = os.path.join(work_dir, name)
        os.makedirs(self.dir)
        # Unique per run, so that a broker kept between runs starts clean.
        self.topics = ["e2e-%s-%s.%s" % (RUN_ID, name, t[0]) for t in TOPICS]
        self.ndjson_dir = os.path.join(self.dir, "ndjson")
        self.config = os.path.join(self.dir, "prodopsd.textproto")
        with open(self.config, "w") as f:
            f.write(self.config_text())
        self.daemon = None
        self.summary = None

    def config_text(self):
        lines = ['kafka {', '  bootstrap_servers: "%s"' % bootstrap(),
                 '  group_id: "e2e-%s-%s"' % (RUN_ID, self.name)]
        for k, v in (("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "1000"),
                     ("topic.metadata.refresh.interval.ms", "2000")):
            lines.append('  properties { key: "%s" value: "%s" }' % (k, v))
        lines.append('}')
        for topic, t in zip(self.topics, TOPICS):
            lines.append('topic { name: "%s" format: %s content: %s }' % (topic, t[3], t[4]))
        lines.append('state { dir: "%s" }' % os.path.join(self.dir, "state"))
        lines.append('http { listen_address: "127.0.0.1:%d" }' % self.port)
        return "\n".join(lines) + "\n"

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
        return [os.path.join(self.ndjson_dir, t) for t in self.topics]

    def reference(self):
        ref = reference.Reference()
        for path in self.ndjson_files():
            ref.add_file(path)
        return ref

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

    def caught_up(self, produced):
        """True when every partition has lag 0 and ingested == produced."""
        if self.daemon.popen.poll() is not None:
            raise AssertionError("prodopsd exited:\n" + self.daemon.tail())
        values = parse_exposition(self.metrics())
        lags = only(values, "prodops_consumer_lag_messages")
        ingested = sum(only(values, "prodops_events_ingested_total").values())
        if ingested > produced:
            raise AssertionError("%d events ingested, only %d produced" % (ingested, produced))
        return (len(lags) == len(self.topics) * PARTITIONS and not any(lags.values())
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
        cls.ports = {name: free_port() for name in ("live", "crash", "restart")}
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
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\nscrape_configs:\n"
                    "  - job_name: prodopsd\n    static_configs:\n")
            for name, port in cls.ports.items():
                f.write("      - targets: ['127.0.0.1:%d']\n        labels: {scenario: %s}\n"
                        % (port, name))
        cls.prometheus = Process("prometheus", [
            "prometheus", "--config.file=" + config,
            "--storage.tsdb.path=" + os.path.join(cls.work, "prometheus-data"),
            "--web.listen-address=127.0.0.1:%d" % cls.prometheus_port,
            "--log.level=warn"], os.path.join(cls.work, "prometheus.log"))
        poll("Prometheus to be ready",
             lambda: http_get(cls.prometheus_port, "/-/ready")[0] == 200, 60)

    def prom_query(self, expr):
        status, body = http_get(self.prometheus_port,
                                "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
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

    def tearDown(self):
        for scenario in getattr(self, "scenarios", []):
            if scenario.daemon is not None:
                scenario.daemon.stop(signal.SIGKILL)

    def new_scenario(self, name):
        scenario = Scenario(name, self.work, self.ports[name])
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
            worst = max(worst, (error, k))
            self.assertLessEqual(error, HLL_MAX_ERROR, "%s: %s = %s, reference %s" % (
                what, k, got[k], v))
        max_hll_error_seen = max(max_hll_error_seen, worst[0])
        log("%s: %d distinct-count series, max relative error %.3f%% (%s)"
            % (what, len(want), 100 * worst[0], worst[1]))

    def assert_nothing_late_or_rejected(self, values, what):
        bad = {k: v for k, v in only(values, "prodops_events_late_total",
                                     "prodops_events_rejected_total").items() if v != 0}
        self.assertEqual(bad, {}, what)

    # --- tests --------------------------------------------------------------

    def test_live_scenario_through_prometheus_matches_reference_and_replay(self):
        s = self.new_scenario("live")
        started = time.monotonic()
        proc = s.loadgen(MAIN_EVENTS, self.start_ms)
        summary = s.finish_loadgen(proc, 300)
        produced = summary["events"]
        self.assertEqual(produced, MAIN_EVENTS)
        log("live: produced %d events in %.1f s: %s" % (
            produced, time.monotonic() - started,
            {t: v["events"] for t, v in summary["topics"].items()}))
        daemon_started = time.monotonic()
        s.start_daemon()
        poll("the live daemon to catch up", lambda: s.caught_up(produced), 180)
        log("live: caught up with %d events in %.1f s after start"
            % (produced, time.monotonic() - daemon_started))

        ref = s.reference()
        # Prometheus scrapes every second; once a scrape shows every event
        # ingested, every later sample is final (nothing more is produced).
        poll("Prometheus to scrape the final values", lambda: sum(
            self.prom_values("live", ["prodops_events_ingested_total"]).values()) == produced,
            60)
        live = self.prom_values("live", COUNTERS + GAUGES_EXACT + (DISTINCT,))
        expected = ref.values(as_of_ms=int(time.time() * 1000))
        self.assert_counters_equal(expected, live, "live via Prometheus")
        self.assert_distinct_close(expected, live, "live via Prometheus")

        exposition = s.metrics()
        self.assert_nothing_late_or_rejected(parse_exposition(exposition), "live")
        check = subprocess.run(["promtool", "check", "metrics"], input=exposition,
                               capture_output=True, text=True, timeout=60)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""),
                         "promtool check metrics on /metrics")

        # The same events through `prodopsd replay`: T = newest event time.
        replay_started = time.monotonic()
        args = [DAEMON, "replay", "--config", s.config]
        for path in s.ndjson_files():
            args += ["--input", path]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        log("live: replay of %d events took %.1f s" % (produced,
                                                       time.monotonic() - replay_started))
        replayed = parse_exposition(result.stdout)
        self.assert_counters_equal(live, replayed, "replay vs live")
        self.assertEqual(only(replayed, DISTINCT), only(live, DISTINCT),
                         "replay vs live: %s" % DISTINCT)
        self.assert_distinct_close(ref.values(), replayed, "replay vs reference")
        self.assert_nothing_late_or_rejected(replayed, "replay")

    def test_sigkill_three_times_while_consuming_counts_exactly_once(self):
        s = self.new_scenario("crash")
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
        actual = parse_exposition(s.metrics())
        expected = s.reference().values(as_of_ms=int(time.time() * 1000))
        self.assert_counters_equal(expected, actual, "after 3 SIGKILLs")
        self.assert_distinct_close(expected, actual, "after 3 SIGKILLs")
        self.assert_nothing_late_or_rejected(actual, "after 3 SIGKILLs")

    def test_broker_restart_readyz_and_exact_values(self):
        s = self.new_scenario("restart")
        events = 60_000
        proc = s.loadgen(events, self.start_ms, rate=2000)
        s.start_daemon()
        # Every topic must exist before the outage: a topic that the broker
        # would auto-create while it is down is refused to the producer.
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
        actual = parse_exposition(s.metrics())
        expected = s.reference().values(as_of_ms=int(time.time() * 1000))
        self.assert_counters_equal(expected, actual, "after a broker restart")
        self.assert_distinct_close(expected, actual, "after a broker restart")
        self.assert_nothing_late_or_rejected(actual, "after a broker restart")


if __name__ == "__main__":
    unittest.main(verbosity=2)
