"""Hand-written events for what prodops-loadgen's simulator never produces.

The simulator's tickets all go CREATED -> ASSIGNED -> (mobile: back and
forth) -> public reply -> SOLVED within minutes; its releases are DEPLOYs
and ROLLBACKs; its one experiment has two variants. The events here add,
in the hours and days before the scenario: reopens, CLOSED from open and
after SOLVED, a ticket whose first event is SOLVED, expiry (and an event
after it), priority changes, a team cleared and returned to, unspecified
type, priority and team, replies exactly on a histogram bound or an SLA
deadline, hourly reactive counts for the spike's baseline, HOTFIX, a
ROLLBACK before its DEPLOY, a second DEPLOY, a release without team or
features, a ROLLBACK/HOTFIX-only release, a three-variant experiment with
an unconfigured variant, same-millisecond exposures, a late earlier
exposure, goals before, at and after exposure, an exposure to an
unconfigured experiment, label values beyond their budgets, and an event
too late for the windows.

Every event is a prodops.v1.Event envelope in canonical JSON (some with
snake_case keys, which the mapping also accepts), for one JSON ENVELOPE
topic written with a single key: one partition, so the daemon reads them in
list order.

Times are relative to `hour_ms`, the start of the UTC hour that holds the
scenario's last event. The e2e test writes them after the daemon has read
every simulated event, and replays them after the simulated files (and,
with a short lateness, before them).
"""

import reference

HOUR = reference.HOUR_MS
MINUTE = 60_000

# A budget of exactly the simulator's teams and features, and of its two
# variants plus two: the values below are the first ones beyond it, and as
# they are read after every simulated event, which of them overflow does
# not depend on the order Kafka delivers the simulated events in.
SIM_TEAMS = ("support", "insights", "payments", "growth", "platform", "mobile")
SIM_FEATURES = ("search", "dashboard", "reports", "checkout", "billing", "onboarding",
                "notifications", "export", "integrations", "api", "mobile_app", "settings")
BUDGETS = {"team": len(SIM_TEAMS), "feature": len(SIM_FEATURES), "variant": 4}
NEW_TEAM = "escalations"
NEW_FEATURE = "legacy_sso"

EXPERIMENTS = (
    # The simulator's experiment (daemon/sim, config/demo.textproto).
    reference.Experiment("new_checkout", "checkout", "submit",
                         (("control", 1), ("treatment", 1))),
    # Three variants, 50/25/25: the SRM test with two degrees of freedom.
    reference.Experiment("pricing_page", "billing", "upgrade",
                         (("a", 2), ("b", 1), ("c", 1))),
)


class _Builder:
    def __init__(self, hour_ms):
        self.hour_ms = hour_ms
        self.events = []  # (order_ms, sequence, envelope)
        self.sequence = 0

    def at(self, hours, minutes=0, seconds=0):
        return self.hour_ms + hours * HOUR + minutes * MINUTE + seconds * 1000

    def add(self, kind, ms, payload, order_ms=None):
        """`payload` with an event id and occurred_at, both in the style of
        its other keys (snake_case if it has one)."""
        self.sequence += 1
        payload = dict(payload)
        snake = any("_" in k for k in payload)
        payload.setdefault("event_id" if snake else "eventId", "edge-%d" % self.sequence)
        payload["occurred_at" if snake else "occurredAt"] = reference.ms_to_rfc3339(ms)
        self.events.append((ms if order_ms is None else order_ms, self.sequence,
                            {kind: payload}))

    def ticket(self, ticket_id, ms, kind, **fields):
        payload = {"ticketId": ticket_id, "kind": kind}
        for name, value in fields.items():
            payload[reference._camel(name)] = value
        self.add("ticket", ms, payload)


def events(hour_ms):
    """The edge events, in the order they are to be read."""
    b = _Builder(hour_ms)
    t = b.ticket
    at = b.at

    # Solved, reopened, solved again, then CLOSED (not a second solve).
    t("E-reopen", at(-50), "CREATED", status="NEW", type="BUG", priority="HIGH",
      team="support", actor="END_USER", public=True, features=["reports"])
    t("E-reopen", at(-50, 10), "ASSIGNED", status="OPEN", team="insights",
      assignee="insights-agent-1", actor="AGENT")
    t("E-reopen", at(-50, 30), "COMMENT_ADDED", status="PENDING", team="insights",
      assignee="insights-agent-1", actor="AGENT", public=True)
    t("E-reopen", at(-48), "STATUS_CHANGED", status="SOLVED", team="insights",
      assignee="insights-agent-1", actor="AGENT")
    t("E-reopen", at(-45), "STATUS_CHANGED", status="OPEN", team="insights",
      assignee="insights-agent-1", actor="END_USER", public=True)
    t("E-reopen", at(-44), "STATUS_CHANGED", status="SOLVED", team="insights",
      assignee="insights-agent-1", actor="AGENT")
    t("E-reopen", at(-43), "STATUS_CHANGED", status="CLOSED", team="insights",
      assignee="insights-agent-1", actor="SYSTEM")

    # CLOSED straight from an open status is a solve; a reply after exactly
    # 300 s lands in the le="300" bucket.
    t("E-closed", at(-40), "CREATED", status="NEW", type="QUESTION", priority="NORMAL",
      team="insights", assignee="insights-agent-2", actor="END_USER", public=True,
      features=["search"])
    t("E-closed", at(-40, 5), "COMMENT_ADDED", status="PENDING", team="insights",
      assignee="insights-agent-2", actor="AGENT", public=True)
    t("E-closed", at(-39), "STATUS_CHANGED", status="CLOSED", team="insights",
      assignee="insights-agent-2", actor="AGENT")

    # Solved long enough ago to expire: resolution 4 h (le="14400"), reply
    # after exactly 60 s (le="60"). A private agent comment is no reply.
    t("E-expired", at(-140), "CREATED", status="NEW", type="TASK", priority="LOW",
      team="platform", assignee="platform-agent-1", actor="END_USER", public=True,
      features=["export"])
    t("E-expired", at(-140, 0, 30), "COMMENT_ADDED", status="OPEN", team="platform",
      assignee="platform-agent-1", actor="AGENT", public=False)
    t("E-expired", at(-140, 1), "COMMENT_ADDED", status="PENDING", team="platform",
      assignee="platform-agent-1", actor="AGENT", public=True)
    t("E-expired", at(-136), "STATUS_CHANGED", status="SOLVED", team="platform",
      assignee="platform-agent-1", actor="AGENT")

    # Resolved in exactly 60 s, expired, then an event: a new, unknown
    # ticket (no reopen), open since that event, unassigned.
    t("E-reborn", at(-150), "CREATED", status="NEW", type="INCIDENT", priority="URGENT",
      team="platform", actor="END_USER", public=True, features=["api"])
    t("E-reborn", at(-150, 1), "STATUS_CHANGED", status="SOLVED", team="platform",
      assignee="platform-agent-2", actor="AGENT")
    t("E-reborn", at(-20), "STATUS_CHANGED", status="OPEN", team="platform",
      actor="END_USER", public=True)

    # Routing: support -> mobile (a reassignment), cleared (none), mobile
    # again (none: compared with the last real team), support (ping-pong),
    # growth, mobile (ping-pong). Left open and assigned, never answered.
    t("E-teams", at(-30), "CREATED", status="NEW", type="FEATURE_REQUEST", priority="NORMAL",
      team="support", actor="END_USER", public=True, features=["mobile_app"])
    for minutes, team, assignee in ((5, "mobile", "mobile-agent-1"), (10, "", ""),
                                    (15, "mobile", "mobile-agent-1"), (20, "support", ""),
                                    (25, "growth", "growth-agent-3"),
                                    (30, "mobile", "mobile-agent-2")):
        t("E-teams", at(-30, minutes), "ASSIGNED", status="OPEN", team=team,
          assignee=assignee, actor="AGENT")

    # LOW raised to URGENT after its URGENT deadline had passed; not
    # reactive (a BUG is, from HIGH, as of the CREATED event).
    t("E-priority", at(-30), "CREATED", status="NEW", type="BUG", priority="LOW",
      team="support", actor="END_USER", public=True, features=["billing"])
    t("E-priority", at(-29), "PRIORITY_CHANGED", status="OPEN", priority="URGENT",
      team="payments", assignee="payments-agent-1", actor="AGENT")
    t("E-priority", at(-28), "COMMENT_ADDED", status="PENDING", team="payments",
      assignee="payments-agent-1", actor="AGENT", public=True)
    t("E-priority", at(-27), "STATUS_CHANGED", status="SOLVED", team="payments",
      assignee="payments-agent-1", actor="AGENT")

    # A reply exactly at the NORMAL first-reply deadline (8 h: le="28800").
    t("E-deadline", at(-60), "CREATED", status="NEW", type="QUESTION", priority="NORMAL",
      team="growth", assignee="growth-agent-1", actor="END_USER", public=True,
      features=["onboarding"])
    t("E-deadline", at(-52), "COMMENT_ADDED", status="PENDING", team="growth",
      assignee="growth-agent-1", actor="AGENT", public=True)

    # No type, priority (NORMAL targets), team (__none__) or assignee.
    t("E-bare", at(-12), "CREATED", actor="END_USER", public=True)

    # First event already SOLVED, no CREATED: one solve, no clocks.
    t("E-first-solved", at(-70), "STATUS_CHANGED", status="SOLVED", type="TASK",
      priority="LOW", team="platform", assignee="platform-agent-3", actor="AGENT")

    # A team beyond the budget: __other__ in every ticket signal,
    # prodops_tickets_created_total included (its team label goes through
    # the same team budget), and one team overflow per event.
    t("E-escalated", at(-8), "CREATED", status="NEW", type="INCIDENT", priority="HIGH",
      team=NEW_TEAM, actor="END_USER", public=True, features=["api"])
    t("E-escalated", at(-7), "ASSIGNED", status="OPEN", team=NEW_TEAM,
      assignee="escalations-agent-1", actor="AGENT")

    # A feature beyond the budget, next to a known one.
    t("E-sso", at(-11), "CREATED", status="NEW", type="QUESTION", priority="NORMAL",
      team="payments", actor="END_USER", public=True, features=[NEW_FEATURE, "checkout"])

    # The lift's baseline: tickets about dashboard in the week before R-h1.
    for n, hours in enumerate((-30, -60, -100)):
        t("E-baseline-%d" % n, at(hours, 15), "CREATED", status="NEW", type="QUESTION",
          priority="LOW", team="insights", actor="END_USER", public=True,
          features=["dashboard"])

    # Reactive tickets of growth, hour by hour: a baseline with a median and
    # a MAD, then six in the hour before the scenario's (a spike). Priorities
    # keep every SLA deadline two hours or more away from the scenario.
    baseline = (1, 0, 2, 1, 1, 0, 3, 1, 0, 1, 2, 1, 1, 0, 1, 2, 1, 0, 1, 1, 2, 0, 1, 1)
    counts = {-1: 6}
    counts.update({-2 - i: n for i, n in enumerate(baseline)})
    for hours, n in sorted(counts.items()):
        priority = ("HIGH" if hours == -1 else "NORMAL" if hours >= -6
                    else "URGENT" if hours <= -22 else "HIGH")
        for i in range(n):
            t("E-spike%d-%d" % (-hours, i), at(hours, 7 * i + 3), "CREATED", status="NEW",
              type="INCIDENT", priority=priority, team="growth", actor="SYSTEM",
              features=["notifications"])

    # Releases. R-h1: two features, a later second DEPLOY (ignored), a
    # HOTFIX in its impact window (a change failure). Snake_case keys.
    b.add("release", at(-20, 30), {"event_id": "edge-r1-deploy", "release": "R-h1",
                                   "kind": "DEPLOY", "team": "insights",
                                   "features": ["reports", "dashboard"]})
    b.add("release", at(-19, 30), {"event_id": "edge-r1-deploy-again", "release": "R-h1",
                                   "kind": "DEPLOY", "team": "insights",
                                   "features": ["reports"]})
    b.add("release", at(-19), {"event_id": "edge-r1-hotfix", "release": "R-h1",
                               "kind": "HOTFIX", "team": "insights"})
    # R-h2: a team beyond the budget; its ROLLBACK occurred before the
    # DEPLOY (outside the impact window) and is read after it.
    b.add("release", at(-10), {"release": "R-h2", "kind": "DEPLOY", "team": NEW_TEAM,
                               "features": ["settings"]})
    b.add("release", at(-11), {"release": "R-h2", "kind": "ROLLBACK", "team": NEW_TEAM},
          order_ms=at(-10) + 1)
    # R-h3: no team, no features.
    b.add("release", at(-5), {"release": "R-h3", "kind": "DEPLOY"})
    # Only a HOTFIX: counted, never exposed.
    b.add("release", at(-6), {"release": "R-ghost", "kind": "HOTFIX", "team": "platform"})

    # Experiments.
    def exposure(user, experiment, variant, ms, order_ms=None):
        b.add("exposure", ms, {"accountId": "edge-account", "userId": user,
                               "experiment": experiment, "variant": variant}, order_ms)

    def goal(user, ms, feature="billing", action="upgrade", order_ms=None):
        b.add("usage", ms, {"accountId": "edge-account", "userId": user, "feature": feature,
                            "action": action}, order_ms)

    exposure("p-1", "pricing_page", "a", at(-30, 1))
    goal("p-1", at(-30, 2))                          # converts
    exposure("p-2", "pricing_page", "b", at(-30, 3))
    goal("p-2", at(-30, 3))                          # same millisecond: does not
    exposure("p-3", "pricing_page", "c", at(-30, 4))  # variant beyond the budget
    goal("p-3", at(-30, 6))                          # converts, under __other__
    exposure("p-4", "pricing_page", "b", at(-29))    # same ms: "a" is first by name
    exposure("p-4", "pricing_page", "a", at(-29))
    exposure("p-5", "pricing_page", "d", at(-29, 1))  # not configured: not in the SRM
    # A goal read before its exposure: waits for the lateness only.
    goal("p-6", at(-28, 5), order_ms=at(-28) - 1)
    exposure("p-6", "pricing_page", "b", at(-28))
    exposure("p-7", "pricing_page", "a", at(-27))
    exposure("p-7", "pricing_page", "b", at(-27, 10))
    # An earlier exposure read last moves the user (and a conversion).
    exposure("p-7", "pricing_page", "c", at(-27, -10), order_ms=at(-27, 10) + 1)
    goal("p-7", at(-27, 5))
    goal("p-8", at(-26))                             # before its exposure: no
    exposure("p-8", "pricing_page", "a", at(-25))
    exposure("p-1", "unconfigured", "a", at(-25, 1))  # ignored
    goal("p-9", at(-9), feature=NEW_FEATURE, action="view")  # a feature beyond the budget
    # Eight days old, read last: too late for the windows (7 d + lateness),
    # counted in the _total counters and prodops_events_late_total.
    goal("p-10", at(-192), feature="search", action="view", order_ms=at(0))

    b.events.sort(key=lambda e: e[:2])
    return [e[2] for e in b.events]


def check_far_from_scenario(edge_events, hour_ms, options):
    """Raises if an edge ticket's event (other than a lone CREATED), SLA
    deadline or expiry, or any other edge event, falls within two hours of
    `hour_ms`. There, whether it is behind the commit horizon depends on
    when the test reads it; everywhere else the live daemon and a replay of
    the same events must agree."""
    low, high = hour_ms - 2 * HOUR, hour_ms + 2 * HOUR
    near = []
    tickets = {}
    for envelope in edge_events:
        kind, payload = next(iter(envelope.items()))
        ms = reference.rfc3339_to_ms(reference.field(payload, "occurred_at"))
        if kind == "ticket":
            tickets.setdefault(payload["ticketId"], []).append((ms, payload))
        elif low < ms < high:
            near.append((kind, ms))
    for ticket_id, events in tickets.items():
        created = [ms for ms, p in events if p["kind"] == "CREATED"]
        # Every priority the ticket has from its CREATED on (none: NORMAL's targets).
        priorities = {p["priority"] for _, p in events if "priority" in p}
        if not created or "priority" not in events[0][1]:
            priorities.add("NORMAL")
        times = [] if len(events) == 1 and created else [ms for ms, _ in events]
        for c in created[:1]:
            for priority in priorities:
                times += [options.deadline_ms(clock, c, priority)
                          for clock in ("first_reply", "resolution")]
        if events[-1][1].get("status") in reference.DONE:
            times.append(max(ms for ms, _ in events) + options.expiry_ms)
        near += [(ticket_id, ms) for ms in times if low < ms < high]
    if near:
        raise AssertionError("edge events too close to the scenario: %r" % near)
