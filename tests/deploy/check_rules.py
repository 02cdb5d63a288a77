#!/usr/bin/env python3
"""Checks deploy/prometheus beyond what promtool checks.

  check_rules.py lint     every required alert exists, with `for:`, a
                          severity label, summary, description and a
                          runbook_url whose anchor is a heading of
                          docs/runbook.md; every prodops_* metric named in
                          rules (and dashboards) is in the daemon's catalog;
                          every alert has unit tests that expect it firing
                          and not firing; every recording rule is tested.
  check_rules.py mutate   breaks each rule in turn (an alert that never
                          fires, one that always fires, a recording rule
                          that records 0) and requires `promtool test rules`
                          to fail: the unit tests can catch a broken rule.
"""

import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROM = os.path.join(ROOT, "deploy", "prometheus")
RULE_FILES = ("alerts.yml", "recording.yml")
TESTS = sorted(glob.glob(os.path.join(PROM, "tests", "*.yml")))
RUNBOOK = os.path.join(ROOT, "docs", "runbook.md")

REQUIRED_ALERTS = (
    "FirefightingSpike", "SLABreachRateHigh", "BacklogGrowing", "ReleaseTicketLift",
    "ExperimentSampleRatioMismatch", "ProdopsdDown", "ConsumerLagHigh",
    "EventsRejectedHigh")
SEVERITIES = ("critical", "warning", "info")
# Metrics the rules may name before the daemon exposes them (being added
# concurrently); each is reported while it is missing from the catalog.
PENDING_METRICS = set()
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def rules(name):
    for group in load(os.path.join(PROM, name))["groups"]:
        for rule in group["rules"]:
            yield rule


def github_anchor(heading):
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def runbook_anchors():
    anchors = set()
    with open(RUNBOOK) as f:
        for line in f:
            m = re.match(r"#{1,6}\s+(.*)", line)
            if m:
                anchors.add(github_anchor(m.group(1)))
    return anchors


def catalog_metrics():
    """prodops_* names that appear as string literals in daemon/."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "daemon", "**", "*.*"), recursive=True):
        if not path.endswith((".h", ".cc")):
            continue
        with open(path, errors="replace") as f:
            names.update(re.findall(r'"(prodops_[a-z0-9_]+)"', f.read()))
    return names


def metric_names(expr):
    """prodops_* metric names in a PromQL expression (not recording names)."""
    return set(re.findall(r"(?<![:\w])(prodops_[a-z0-9_]+)", expr))


def dashboard_exprs():
    for path in glob.glob(os.path.join(ROOT, "deploy", "grafana", "dashboards", "*.json")):
        with open(path) as f:
            dashboard = json.load(f)
        for panel in dashboard.get("panels", []):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield path, target["expr"]
        for var in dashboard.get("templating", {}).get("list", []):
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if var.get("type") == "query" and isinstance(query, str):
                yield path, query


def lint():
    anchors = runbook_anchors()
    alerts = {r["alert"]: r for r in rules("alerts.yml")}
    for name in REQUIRED_ALERTS:
        if name not in alerts:
            fail("alert %s is missing from alerts.yml" % name)
    for name, rule in alerts.items():
        labels = rule.get("labels", {})
        annotations = rule.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            fail("%s: severity label must be one of %s" % (name, SEVERITIES))
        if "for" not in rule:
            fail("%s: no `for:` duration" % name)
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                fail("%s: annotation %s missing" % (name, key))
        url = annotations.get("runbook_url", "")
        m = re.fullmatch(r"docs/runbook\.md#([\w-]+)", url)
        if not m:
            fail("%s: runbook_url %r is not docs/runbook.md#<anchor>" % (name, url))
        elif m.group(1) not in anchors:
            fail("%s: docs/runbook.md has no heading with anchor #%s" % (name, m.group(1)))
        elif m.group(1) != name.lower():
            fail("%s: runbook anchor should be #%s" % (name, name.lower()))

    known = catalog_metrics()
    if not known:
        fail("found no prodops_* metric names in daemon/")
    exprs = [("alerts.yml", r["expr"]) for r in rules("alerts.yml")]
    exprs += [("recording.yml", r["expr"]) for r in rules("recording.yml")]
    exprs += list(dashboard_exprs())
    for where, expr in exprs:
        for metric in metric_names(expr):
            base = metric
            for suffix in HISTOGRAM_SUFFIXES:
                if metric.endswith(suffix) and metric[:-len(suffix)] in known:
                    base = metric[:-len(suffix)]
            if base in known:
                continue
            if base in PENDING_METRICS:
                print("note: %s (%s) is not in the daemon's catalog yet (pending)"
                      % (metric, os.path.relpath(where, ROOT)))
                continue
            fail("%s: metric %s is not in the daemon's catalog" % (
                os.path.relpath(where, ROOT) if os.path.isabs(where) else where, metric))
    for metric in PENDING_METRICS & known:
        print("note: %s is in the catalog now: remove it from PENDING_METRICS" % metric)

    firing, quiet, recorded = set(), set(), set()
    for path in TESTS:
        for test in load(path).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
            for case in test.get("promql_expr_test", []) or []:
                recorded.add(case["expr"].strip())
    for name in alerts:
        if name not in firing:
            fail("%s: no unit test expects it to fire" % name)
        if name not in quiet:
            fail("%s: no unit test expects it not to fire" % name)
    for rule in rules("recording.yml"):
        if rule["record"] not in recorded:
            fail("recording rule %s has no promql_expr_test" % rule["record"])


def tests_about(test, rule):
    names = [c.get("alertname") for c in test.get("alert_rule_test", []) or []]
    names += [c.get("expr", "").strip() for c in test.get("promql_expr_test", []) or []]
    return rule in names


def promtool_tests_pass(rule_dir, rule=None):
    """Runs the unit tests (only the test groups about `rule`, an alert or
    recorded name, if given) with the rule files of rule_dir."""
    tests_dir = os.path.join(rule_dir, "tests")
    os.makedirs(tests_dir, exist_ok=True)
    selected = []
    for path in TESTS:
        doc = load(path)
        if rule:
            doc["tests"] = [t for t in doc.get("tests", []) if tests_about(t, rule)]
            if not doc["tests"]:
                continue
        selected.append(os.path.join(tests_dir, os.path.basename(path)))
        with open(selected[-1], "w") as dst:
            yaml.safe_dump(doc, dst, sort_keys=False)
    result = subprocess.run(["promtool", "test", "rules"] + selected,
                            capture_output=True, text=True, timeout=300)
    return result.returncode == 0, result.stdout + result.stderr


def mutate():
    with tempfile.TemporaryDirectory(prefix="prodopsd-rules-") as tmp:
        originals = {name: load(os.path.join(PROM, name)) for name in RULE_FILES}

        def write(docs):
            for name, doc in docs.items():
                with open(os.path.join(tmp, name), "w") as f:
                    yaml.safe_dump(doc, f, sort_keys=False)

        write(originals)
        ok, output = promtool_tests_pass(tmp)
        if not ok:
            fail("unit tests fail on the unmodified rules:\n" + output)
            return
        mutants = 0
        for name, doc in originals.items():
            for gi, group in enumerate(doc["groups"]):
                for ri, rule in enumerate(group["rules"]):
                    if "alert" in rule:
                        variants = (("never fires", "vector(1) == 0"),
                                    ("always fires", "vector(1)"))
                        what = "alert " + rule["alert"]
                    else:
                        variants = (("records 0", "vector(0)"),)
                        what = "recording rule " + rule["record"]
                    for label, expr in variants:
                        docs = copy.deepcopy(originals)
                        docs[name]["groups"][gi]["rules"][ri]["expr"] = expr
                        write(docs)
                        ok, _ = promtool_tests_pass(tmp, rule.get("alert") or rule["record"])
                        mutants += 1
                        if ok:
                            fail("%s: the unit tests still pass when it %s" % (what, label))
        write(originals)
        print("mutate: %d broken rules tried" % mutants)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "lint"
    if mode == "lint":
        lint()
    elif mode == "mutate":
        mutate()
    else:
        sys.exit("usage: check_rules.py [lint|mutate]")
    if failures:
        print("%d problem(s)" % len(failures))
        sys.exit(1)
    print("check_rules %s: ok" % mode)


if __name__ == "__main__":
    main()
