#!/usr/bin/env python3
"""Checks the Grafana dashboards of deploy/grafana.

  check_dashboards.py lint-static [--dir DIR]
      Without Grafana or Prometheus: every dashboard has its stable uid (and
      uids are unique); the template variables each board needs are there
      (datasource; team and feature, or job, instance and topic), query
      variables use label_values() of a metric that exists, and every variable
      is used; every panel that shows data has a title, a description, a unit,
      the templated data source and a query; every query names only metrics
      that exist: in the daemon's catalog (parsed from
      daemon/signals/catalog.cc and the *MetricDefs() lists it includes) or
      recorded by deploy/prometheus/recording.yml. Also checks the
      provisioning files.

  check_dashboards.py queries --prometheus URL [--dir DIR] [--var NAME=VALUE]...
                             [--may-be-empty KEY]... [--rate-interval 1m]
      Runs every panel query, and every variable's label_values() as a
      count by (label), against a live Prometheus (/api/v1/query, at the
      current time) and prints one line per query. Fails if a query does not
      parse or returns no series, unless it is allowed to be empty
      (--may-be-empty, repeated; KEY is "UID/PANEL TITLE/REFID",
      "PANEL TITLE/REFID" or "PANEL TITLE"). Variables: --var values first;
      else a custom variable's current value; else ".+" (query variables are
      only used with =~). $__rate_interval, $__interval and $__range become
      --rate-interval, --interval and --range.

Exit status 0 when clean, 1 with problems, 2 on bad usage.
"""

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRAFANA = os.path.join(ROOT, "deploy", "grafana")
SIGNALS = os.path.join(ROOT, "daemon", "signals")
RECORDING = os.path.join(ROOT, "deploy", "prometheus", "recording.yml")

# File name -> (uid, variables it must have). The uids are part of the
# interface: links and bookmarks use them, so they must not change.
BOARDS = {
    "product-operations.json": ("prodops-overview", ("datasource", "team", "feature")),
    "prodopsd-health.json": ("prodopsd-health", ("datasource", "job", "instance", "topic")),
}
DATASOURCE_UIDS = ("$datasource", "${datasource}")
NON_DATA_PANELS = ("row", "text")
MIN_DESCRIPTION = 80  # characters: what the panel shows and what to do

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
    # Aggregation operators: `sum by (x) (...)` leaves `sum` not followed by "(".
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}

problems = []


def fail(message):
    problems.append(message)
    print("FAIL: " + message)


# --- Metric names that exist --------------------------------------------------


def catalog_metrics():
    """{metric name: MetricType} of everything the daemon's catalog holds.

    catalog.cc builds the catalog from MetricDef initializers
    `{std::string(kName), "help", MetricType::Kind, ...}` and appends the
    lists returned by *MetricDefs() functions of the other signal files; the
    kName constants are string_view constants in daemon/signals.
    """
    sources = {}
    for path in glob.glob(os.path.join(SIGNALS, "*.h")) + glob.glob(os.path.join(SIGNALS, "*.cc")):
        if path.endswith("_test.cc"):
            continue
        with open(path) as f:
            sources[path] = f.read()
    constants = {}
    for text in sources.values():
        for name, value in re.findall(
                r'constexpr\s+std::string_view\s+(k\w+)\s*=\s*"([^"]*)"', text):
            constants[name] = value

    def defs_in(body, where):
        found = {}
        for const, kind in re.findall(
                r'\{\s*std::string\((k\w+)\)\s*,.*?MetricType::(\w+)', body, re.S):
            if const not in constants:
                fail("%s: MetricDef names %s, which is not a string_view constant in "
                     "daemon/signals" % (where, const))
                continue
            found[constants[const]] = kind
        return found

    def function_body(text, signature):
        """The text of a function's body: from its `{` to the matching `}`."""
        start = text.index("{", text.index(signature))
        depth = 0
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i + 1]
        raise ValueError("unbalanced braces after " + signature)

    catalog_cc = os.path.join(SIGNALS, "catalog.cc")
    make_catalog = function_body(sources[catalog_cc], "MakeCatalog()")
    metrics = defs_in(make_catalog, "catalog.cc MakeCatalog()")
    for function in re.findall(r"\b(\w+MetricDefs)\(\)", make_catalog):
        signature = "std::vector<MetricDef> %s()" % function
        files = [p for p, text in sources.items() if p.endswith(".cc") and signature in text]
        if len(files) != 1:
            fail("catalog.cc calls %s(), defined in %d file(s) of daemon/signals"
                 % (function, len(files)))
            continue
        body = function_body(sources[files[0]], signature)
        found = defs_in(body, "%s %s()" % (os.path.basename(files[0]), function))
        if not found:
            fail("%s() in %s: found no MetricDef" % (function, os.path.basename(files[0])))
        metrics.update(found)
    return metrics


def recorded_metrics():
    with open(RECORDING) as f:
        doc = yaml.safe_load(f)
    return {rule["record"] for group in doc["groups"] for rule in group["rules"]
            if "record" in rule}


def known_series(catalog, recorded):
    """Series names a query may select: histograms as _bucket/_sum/_count."""
    names = set(recorded)
    for name, kind in catalog.items():
        if kind == "Histogram":
            names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


def selected_metrics(expr):
    """Metric names that a PromQL expression selects (names, not functions,
    keywords, label names or strings)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)", text):
        name, rest = m.group(1), text[m.end():]
        if rest.lstrip().startswith("(") or name.lower() in PROMQL_KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


# --- Dashboards ---------------------------------------------------------------


def load_dashboards(directory):
    boards = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path) as f:
                boards[os.path.basename(path)] = json.load(f)
        except (OSError, ValueError) as e:
            fail("%s: not JSON: %s" % (os.path.basename(path), e))
    return boards


def all_panels(board):
    out = []

    def walk(panels):
        for p in panels or []:
            out.append(p)
            walk(p.get("panels"))

    walk(board.get("panels"))
    return out


def variable_query(var):
    query = var.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query if isinstance(query, str) else ""


def uses(text, name):
    return re.search(r"\$\{%s(?::[^}]*)?\}|\$%s\b|\[\[%s\]\]" % (name, name, name), text)


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?(\w+)\s*\)\s*$")


def lint_static(directory):
    catalog = catalog_metrics()
    if len(catalog) < 20:
        fail("found only %d metrics in the catalog: is the parsing of catalog.cc broken?"
             % len(catalog))
    recorded = recorded_metrics()
    known = known_series(catalog, recorded)
    boards = load_dashboards(directory)

    for name in BOARDS:
        if name not in boards:
            fail("%s is missing" % name)
    uids = {}
    for name, board in boards.items():
        uid = board.get("uid", "")
        if name in BOARDS and uid != BOARDS[name][0]:
            fail("%s: uid is %r, must stay %r" % (name, uid, BOARDS[name][0]))
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid or ""):
            fail("%s: uid %r is not 1-40 letters, digits, '-' or '_'" % (name, uid))
        if uid in uids:
            fail("%s: uid %r is also the uid of %s" % (name, uid, uids[uid]))
        uids[uid] = name
        if not board.get("title"):
            fail("%s: no title" % name)
        lint_board(name, board, known)
    lint_provisioning()
    print("lint-static: %d dashboard(s), %d metric(s) in the catalog, %d recorded"
          % (len(boards), len(catalog), len(recorded)))


def lint_board(name, board, known):
    variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
    required = BOARDS.get(name, (None, ("datasource",)))[1]
    for var in required:
        if var not in variables:
            fail("%s: template variable $%s is missing" % (name, var))
    ds = variables.get("datasource")
    if ds and (ds.get("type") != "datasource" or ds.get("query") != "prometheus"):
        fail("%s: $datasource must be a data source variable of type prometheus" % name)

    exprs = []  # every query of the board, to check that variables are used
    for var_name, var in variables.items():
        if var.get("type") != "query":
            continue
        query = variable_query(var)
        m = LABEL_VALUES.match(query)
        if not m or not m.group(1):
            fail("%s: variable $%s: query %r is not label_values(METRIC{...}, LABEL)"
                 % (name, var_name, query))
        else:
            for metric in selected_metrics(m.group(1)) - known:
                fail("%s: variable $%s: metric %s does not exist" % (name, var_name, metric))
        if var.get("datasource", {}).get("uid") not in DATASOURCE_UIDS:
            fail("%s: variable $%s does not use $datasource" % (name, var_name))
        exprs.append(query)

    ids = set()
    for panel in all_panels(board):
        title = panel.get("title") or ""
        where = "%s: panel %r" % (name, title or panel.get("id"))
        if not title:
            fail("%s has no title" % where)
        if panel.get("id") in ids:
            fail("%s: id %s is not unique" % (where, panel.get("id")))
        ids.add(panel.get("id"))
        if panel.get("type") in NON_DATA_PANELS:
            continue
        description = (panel.get("description") or "").strip()
        if not description:
            fail("%s has no description" % where)
        elif len(description) < MIN_DESCRIPTION:
            fail("%s: description too short to say what it shows and what to do (%d < %d "
                 "characters)" % (where, len(description), MIN_DESCRIPTION))
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            fail("%s has no unit" % where)
        if panel.get("datasource", {}).get("uid") not in DATASOURCE_UIDS:
            fail("%s does not use $datasource" % where)
        targets = [t for t in panel.get("targets", []) if (t.get("expr") or "").strip()]
        if not targets:
            fail("%s has no query" % where)
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if len(set(refs)) != len(refs) or None in refs:
            fail("%s: refIds %s are not unique" % (where, refs))
        for t in targets:
            exprs.append(t["expr"])
            for metric in sorted(selected_metrics(t["expr"]) - known):
                fail("%s [%s]: metric %s is neither in the daemon's catalog nor recorded by "
                     "recording.yml" % (where, t.get("refId"), metric))
            for ref in re.findall(r"\$\{?(\w+)", t["expr"]):
                if not ref.startswith("__") and ref not in variables:
                    fail("%s [%s]: uses $%s, which is not a variable of the dashboard"
                         % (where, t.get("refId"), ref))
    for var_name in variables:
        if var_name != "datasource" and not any(uses(e, var_name) for e in exprs):
            fail("%s: variable $%s is not used by any query" % (name, var_name))


def lint_provisioning():
    prov = os.path.join(GRAFANA, "provisioning")
    with open(os.path.join(prov, "datasources", "prometheus.yaml")) as f:
        doc = yaml.safe_load(f)
    sources = doc.get("datasources") or []
    if doc.get("apiVersion") != 1 or not any(s.get("type") == "prometheus" for s in sources):
        fail("provisioning/datasources/prometheus.yaml: no apiVersion 1 prometheus data source")
    with open(os.path.join(prov, "dashboards", "prodopsd.yaml")) as f:
        doc = yaml.safe_load(f)
    providers = doc.get("providers") or []
    if doc.get("apiVersion") != 1 or len(providers) != 1:
        fail("provisioning/dashboards/prodopsd.yaml: want apiVersion 1 and one provider")
    for p in providers:
        if p.get("type") != "file" or not (p.get("options") or {}).get("path"):
            fail("provisioning/dashboards/prodopsd.yaml: provider %r is not a file provider "
                 "with options.path" % p.get("name"))


# --- Queries against a live Prometheus ----------------------------------------


def substitute(expr, variables, overrides, globals_):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in globals_:
            return globals_[name]
        if name in overrides:
            return overrides[name]
        var = variables.get(name)
        if var is None:
            return m.group(0)
        if var.get("type") in ("custom", "constant", "interval"):
            current = (var.get("current") or {}).get("value")
            if isinstance(current, list):
                current = current[0] if current else None
            if current:
                return current
        return ".+"

    return re.sub(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]", value, expr)


def instant_query(base, expr):
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return None, "HTTP %d" % e.code
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, "request failed: %s" % e
    if body.get("status") != "success":
        return None, "%s: %s" % (body.get("errorType"), body.get("error"))
    data = body["data"]
    if data["resultType"] in ("vector", "matrix"):
        return len(data["result"]), None
    return 1, None  # a scalar or string is a value


def queries(args):
    overrides = {}
    for item in args.var:
        name, sep, val = item.partition("=")
        if not sep:
            sys.exit("--var wants NAME=VALUE, got %r" % item)
        overrides[name] = val
    globals_ = {"__rate_interval": args.rate_interval, "__interval": args.interval,
                "__range": args.range}
    allowed = set(args.may_be_empty)
    used_allowances = set()
    counts = {"ok": 0, "empty": 0, "allowed": 0, "error": 0}
    boards = load_dashboards(args.dir)
    if not boards:
        fail("no dashboards in %s" % args.dir)
    for name, board in boards.items():
        uid = board.get("uid")
        variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
        checks = []
        for var_name, var in variables.items():
            m = LABEL_VALUES.match(variable_query(var)) if var.get("type") == "query" else None
            if m:
                selector = substitute(m.group(1) or "", variables, overrides, globals_)
                checks.append(("variable $" + var_name, "query",
                               "count by (%s) (%s)" % (m.group(2), selector)))
        for panel in all_panels(board):
            for t in panel.get("targets", []):
                if (t.get("expr") or "").strip():
                    checks.append((panel.get("title"), t.get("refId"),
                                   substitute(t["expr"], variables, overrides, globals_)))
        for title, ref, expr in checks:
            keys = {"%s/%s/%s" % (uid, title, ref), "%s/%s" % (title, ref), title}
            series, error = instant_query(args.prometheus, expr)
            label = "%s %r %s" % (uid, title, ref)
            if error:
                counts["error"] += 1
                fail("%s: %s\n      %s" % (label, error, expr))
            elif series == 0 and keys & allowed:
                counts["allowed"] += 1
                used_allowances |= keys & allowed
                print("empty (allowed) %s\n      %s" % (label, expr))
            elif series == 0:
                counts["empty"] += 1
                fail("%s returned no data\n      %s" % (label, expr))
            else:
                counts["ok"] += 1
                print("ok    %s: %d series" % (label, series))
    for key in sorted(allowed - used_allowances):
        print("note: --may-be-empty %r: every query it covers returned data (or it matches "
              "no query)" % key)
    print("queries: %(ok)d with data, %(allowed)d empty as allowed, %(empty)d empty, "
          "%(error)d failed" % counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    static = sub.add_parser("lint-static")
    static.add_argument("--dir", default=os.path.join(GRAFANA, "dashboards"))
    live = sub.add_parser("queries")
    live.add_argument("--prometheus", required=True, help="e.g. http://127.0.0.1:9090")
    live.add_argument("--dir", default=os.path.join(GRAFANA, "dashboards"))
    live.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    live.add_argument("--may-be-empty", action="append", default=[], metavar="KEY")
    live.add_argument("--rate-interval", default="1m")
    live.add_argument("--interval", default="15s")
    live.add_argument("--range", default="1h")
    args = parser.parse_args()
    if args.mode == "lint-static":
        lint_static(args.dir)
    else:
        queries(args)
    if problems:
        print("%d problem(s)" % len(problems))
        sys.exit(1)
    print("check_dashboards %s: ok" % args.mode)


if __name__ == "__main__":
    main()
