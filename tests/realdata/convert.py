#!/usr/bin/env python3
"""Converts two real incident logs into prodops.v1.Event NDJSON ticket events,
and computes from the rows, independently of prodopsd, what the ticket
counters must say.

Inputs (read straight from the zips in /work/shared/data, see its README):
  servicenow_incident_event_log.zip  (UCI "Incident management process
      enriched event log": one row per update of an incident)
  bpic2013_volvo_incidents.zip       (BPI Challenge 2013, Volvo IT VINST)

Mapping, both logs: one TicketEvent per row; type INCIDENT; actor AGENT.
  ticket_id  ServiceNow `number`            BPI `SR Number`
  team       ServiceNow `assignment_group`  BPI `Involved ST`
  assignee   ServiceNow `assigned_to`       BPI `Resource`
  priority   ServiceNow `priority`: 1 - Critical URGENT, 2 - High HIGH,
             3 - Moderate NORMAL, 4 - Low LOW;
             BPI `SR Latest Impact`: Major URGENT, High HIGH, Medium NORMAL,
             Low LOW
  kind       CREATED for a ticket's first row; ASSIGNED when the team or the
             assignee differs from the previous row's; STATUS_CHANGED else.
  status     ServiceNow `incident_state`: New NEW, Active OPEN, Awaiting User
             Info PENDING, Awaiting Vendor/Problem/Evidence ON_HOLD, Resolved
             SOLVED, Closed CLOSED, -100 (5 rows) left unspecified, i.e. the
             previous status is kept.
             BPI `Status`/`Sub Status`: Queued/Awaiting Assignment OPEN
             (open, waiting in a team's queue), Accepted/In Progress and
             Accepted/Assigned OPEN, Accepted/Wait, Wait - User and Wait -
             Customer PENDING (waiting on the requester), Accepted/Wait -
             Implementation and Wait - Vendor ON_HOLD (waiting on a third
             party), Completed/Resolved and Completed/In Call (solved during
             the call) SOLVED, Completed/Closed and Completed/Cancelled
             CLOSED, Unmatched/Unmatched (5 rows) left unspecified.
  '?' or ''  missing: team and assignee become empty (no team / unassigned),
             a missing priority is left unspecified.
  time       ServiceNow `sys_updated_at` (d/m/yyyy HH:MM, no zone: taken as
             UTC); BPI `Change Date+Time` (ISO 8601 with offset, to UTC).
             A ticket's rows are ordered by (time, ServiceNow sys_mod_count,
             file order); the rows of a ticket that share a minute
             (ServiceNow) or a second (BPI) get their rank in that order
             added in milliseconds, so that prodopsd, which orders a ticket's
             events by (occurred_at, event_id), folds them in the same order.
  event_id   "sn-<line>" / "bpi-<line>", the row's line number in its CSV.
The output is sorted by event time, as a live stream would deliver it.
Rows that cannot be used (no ticket id, unparsable time) are dropped and
reported with the reason; there are none in the current files.

Independent figures, computed over each ticket's rows in the order above
(definitions in docs/signals.md, "Checked against real data"):
  reassignments  rows whose (non-missing) team differs from the last
                 non-missing team of the ticket, after its first one
  pingpong       those of them whose team the ticket had before
  reopens        rows that give an open status to a SOLVED/CLOSED ticket
  solves         rows that give SOLVED/CLOSED to a ticket not SOLVED/CLOSED
                 (a ticket's first row counts when it is already solved)
  solved_tickets tickets solved at least once
each overall and per team (the team after the row, "__none__" if missing);
and, per ticket:
  open           tickets not SOLVED/CLOSED after their last row, per team
  resolutions    tickets SOLVED/CLOSED after their last row, per team: their
                 resolution time, from the first row to the last row that
                 made them SOLVED/CLOSED, in "resolution_seconds"
(the team of a ticket's last row, "__none__" if missing).

Usage: convert.py --data-dir DIR --out-dir DIR
writes servicenow.ndjson, bpic2013.ndjson and expected.json (the figures)
into --out-dir and prints a summary. Python 3 standard library only.
"""

import argparse
import collections
import csv
import datetime
import io
import json
import os
import sys
import zipfile

SERVICENOW_ZIP = "servicenow_incident_event_log.zip"
BPI_ZIP = "bpic2013_volvo_incidents.zip"

DONE = ("SOLVED", "CLOSED")

SN_STATUS = {
    "New": "NEW",
    "Active": "OPEN",
    "Awaiting User Info": "PENDING",
    "Awaiting Vendor": "ON_HOLD",
    "Awaiting Problem": "ON_HOLD",
    "Awaiting Evidence": "ON_HOLD",
    "Resolved": "SOLVED",
    "Closed": "CLOSED",
    "-100": None,  # keep the previous status
}
SN_PRIORITY = {"1 - Critical": "URGENT", "2 - High": "HIGH", "3 - Moderate": "NORMAL",
               "4 - Low": "LOW"}

BPI_STATUS = {
    ("Queued", "Awaiting Assignment"): "OPEN",
    ("Accepted", "In Progress"): "OPEN",
    ("Accepted", "Assigned"): "OPEN",
    ("Accepted", "Wait"): "PENDING",
    ("Accepted", "Wait - User"): "PENDING",
    ("Accepted", "Wait - Customer"): "PENDING",
    ("Accepted", "Wait - Implementation"): "ON_HOLD",
    ("Accepted", "Wait - Vendor"): "ON_HOLD",
    ("Completed", "Resolved"): "SOLVED",
    ("Completed", "In Call"): "SOLVED",
    ("Completed", "Closed"): "CLOSED",
    ("Completed", "Cancelled"): "CLOSED",
    ("Unmatched", "Unmatched"): None,  # keep the previous status
}
BPI_PRIORITY = {"Major": "URGENT", "High": "HIGH", "Medium": "NORMAL", "Low": "LOW"}

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Unusable(Exception):
    """A row that cannot become an event; the message is the reason."""


def missing(value):
    return value is None or value.strip() in ("", "?")


def clean(value):
    return "" if missing(value) else value.strip()


def millis(moment):
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


def rfc3339(ms):
    moment = EPOCH + datetime.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def read_csv(zip_path, member_suffix):
    """The rows (dicts) of the one CSV in the zip whose name ends with
    member_suffix, ignoring macOS resource forks."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist()
                 if n.endswith(member_suffix) and not n.startswith("__MACOSX/")]
        if len(names) != 1:
            raise SystemExit("%s: expected one %s, found %s" % (zip_path, member_suffix, names))
        with archive.open(names[0]) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            # Line 1 is the header: data rows start at line 2.
            return list(enumerate(csv.DictReader(text), start=2))


def servicenow_rows(zip_path, dropped):
    rows = []
    for line, row in read_csv(zip_path, ".csv"):
        try:
            ticket = clean(row.get("number"))
            if not ticket:
                raise Unusable("no incident number")
            try:
                moment = datetime.datetime.strptime(row["sys_updated_at"].strip(),
                                                    "%d/%m/%Y %H:%M")
            except (ValueError, KeyError, AttributeError):
                raise Unusable("unparsable sys_updated_at")
            state = row.get("incident_state", "").strip()
            if state not in SN_STATUS:
                raise Unusable("unknown incident_state %r" % state)
            try:
                mod_count = int(row.get("sys_mod_count", ""))
            except ValueError:
                mod_count = 1 << 30  # unknown: after the known ones of its minute
        except Unusable as reason:
            dropped[str(reason)] += 1
            continue
        rows.append({
            "line": line,
            "ticket": ticket,
            "ms": millis(moment.replace(tzinfo=datetime.timezone.utc)),
            "tie": mod_count,
            "tie_unit_ms": 60_000,
            "status": SN_STATUS[state],
            "priority": SN_PRIORITY.get(clean(row.get("priority"))),
            "team": clean(row.get("assignment_group")),
            "assignee": clean(row.get("assigned_to")),
            "event_id": "sn-%06d" % line,
        })
    return rows


def bpi_rows(zip_path, dropped):
    rows = []
    for line, row in read_csv(zip_path, ".csv"):
        try:
            ticket = clean(row.get("SR Number"))
            if not ticket:
                raise Unusable("no SR Number")
            try:
                moment = datetime.datetime.fromisoformat(row["Change Date+Time"].strip())
            except (ValueError, KeyError, AttributeError):
                raise Unusable("unparsable Change Date+Time")
            if moment.tzinfo is None:
                raise Unusable("Change Date+Time without offset")
            key = (row.get("Status", "").strip(), row.get("Sub Status", "").strip())
            if key not in BPI_STATUS:
                raise Unusable("unknown Status/Sub Status %r" % (key,))
        except Unusable as reason:
            dropped[str(reason)] += 1
            continue
        rows.append({
            "line": line,
            "ticket": ticket,
            "ms": millis(moment),
            "tie": 0,
            "tie_unit_ms": 1000,
            "status": BPI_STATUS[key],
            "priority": BPI_PRIORITY.get(clean(row.get("SR Latest Impact"))),
            "team": clean(row.get("Involved ST")),
            "assignee": clean(row.get("Resource")),
            "event_id": "bpi-%06d" % line,
        })
    return rows


def order_tickets(rows):
    """{ticket: [rows in order]}, each row with its final "at_ms"."""
    tickets = collections.defaultdict(list)
    for row in rows:
        tickets[row["ticket"]].append(row)
    for ticket_rows in tickets.values():
        ticket_rows.sort(key=lambda r: (r["ms"], r["tie"], r["line"]))
        rank, previous_ms = 0, None
        for row in ticket_rows:
            rank = rank + 1 if row["ms"] == previous_ms else 0
            previous_ms = row["ms"]
            if rank >= row["tie_unit_ms"]:
                raise SystemExit("ticket %s: too many rows at one instant" % row["ticket"])
            row["at_ms"] = row["ms"] + rank
    return tickets


def to_events(tickets):
    """The ticket events (dicts of the JSON mapping), sorted by time."""
    events = []
    for ticket_rows in tickets.values():
        previous = None
        for row in ticket_rows:
            if previous is None:
                kind = "CREATED"
            elif (row["team"], row["assignee"]) != (previous["team"], previous["assignee"]):
                kind = "ASSIGNED"
            else:
                kind = "STATUS_CHANGED"
            event = {"eventId": row["event_id"], "occurredAt": rfc3339(row["at_ms"]),
                     "ticketId": row["ticket"], "kind": kind, "type": "INCIDENT",
                     "actor": "AGENT"}
            if row["status"] is not None:
                event["status"] = row["status"]
            if row["priority"] is not None:
                event["priority"] = row["priority"]
            if row["team"]:
                event["team"] = row["team"]
            if row["assignee"]:
                event["assignee"] = row["assignee"]
            events.append((row["at_ms"], row["event_id"], event))
            previous = row
    events.sort(key=lambda e: (e[0], e[1]))
    return [event for _, _, event in events]


def figures(tickets):
    """The expected counters, from the ordered rows (not from the events)."""
    totals = collections.Counter()
    per_team = {name: collections.Counter()
                for name in ("reassignments", "pingpong", "reopens", "solves", "open",
                             "resolutions")}
    resolution_seconds = []
    for ticket_rows in tickets.values():
        status = None  # no status yet: not solved
        last_team = None
        teams_had = set()
        solved_once = False
        last_solved_ms = None
        for index, row in enumerate(ticket_rows):
            label = row["team"] or "__none__"
            team = row["team"]
            if team:
                if last_team is not None and team != last_team:
                    totals["reassignments"] += 1
                    per_team["reassignments"][label] += 1
                    if team in teams_had:
                        totals["pingpong"] += 1
                        per_team["pingpong"][label] += 1
                last_team = team
                teams_had.add(team)
            new_status = row["status"]
            if new_status is None and index == 0:
                new_status = "NEW"
            if new_status is not None:
                was_done = status in DONE
                is_done = new_status in DONE
                if is_done and not was_done:
                    totals["solves"] += 1
                    per_team["solves"][label] += 1
                    solved_once = True
                    last_solved_ms = row["at_ms"]
                elif was_done and not is_done:
                    totals["reopens"] += 1
                    per_team["reopens"][label] += 1
                status = new_status
        totals["solved_tickets"] += solved_once
        final_label = ticket_rows[-1]["team"] or "__none__"
        if status in DONE:
            totals["resolutions"] += 1
            per_team["resolutions"][final_label] += 1
            resolution_seconds.append((last_solved_ms - ticket_rows[0]["at_ms"]) / 1000)
        else:
            totals["open"] += 1
            per_team["open"][final_label] += 1
    return {"totals": dict(totals),
            "per_team": {name: dict(counts) for name, counts in per_team.items()},
            "resolution_seconds": resolution_seconds}


def convert(name, rows, dropped, out_dir, log_lines):
    tickets = order_tickets(rows)
    events = to_events(tickets)
    path = os.path.join(out_dir, name + ".ndjson")
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps({"ticket": event}, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
    result = figures(tickets)
    result["rows"] = len(rows)
    result["tickets"] = len(tickets)
    result["events"] = len(events)
    result["teams"] = len({row["team"] for row in rows if row["team"]})
    result["dropped"] = dict(dropped)
    result["first_ms"] = min(r["at_ms"] for r in rows)
    result["last_ms"] = max(r["at_ms"] for r in rows)
    result["ndjson"] = path
    t = result["totals"]
    log_lines.append(
        "%s: %d rows (%d dropped%s), %d tickets, %d teams; reassignments %d, ping-pong %d, "
        "reopens %d, solves %d, tickets solved at least once %d" %
        (name, len(rows), sum(dropped.values()),
         "".join(": %s %d" % kv for kv in sorted(dropped.items())), len(tickets),
         result["teams"], t.get("reassignments", 0), t.get("pingpong", 0),
         t.get("reopens", 0), t.get("solves", 0), t.get("solved_tickets", 0)))
    return result


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    log_lines = []
    expected = {}
    dropped = collections.Counter()
    rows = servicenow_rows(os.path.join(args.data_dir, SERVICENOW_ZIP), dropped)
    expected["servicenow"] = convert("servicenow", rows, dropped, args.out_dir, log_lines)
    dropped = collections.Counter()
    rows = bpi_rows(os.path.join(args.data_dir, BPI_ZIP), dropped)
    expected["bpic2013"] = convert("bpic2013", rows, dropped, args.out_dir, log_lines)
    with open(os.path.join(args.out_dir, "expected.json"), "w", encoding="utf-8") as out:
        json.dump(expected, out, indent=1, sort_keys=True)
    print("\n".join(log_lines))
    return expected


if __name__ == "__main__":
    main(sys.argv[1:])
