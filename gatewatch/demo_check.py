"""What ``gatewatch demo --check`` wants to have seen, and the summary it prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatewatch.demo_wall import wall_problems
from server.clitext import CliSite

if TYPE_CHECKING:
    from gatewatch.demo import Demo


def _passage_problems(ps: list[dict[str, Any]], search_id: str) -> list[str]:
    from gatewatch.demo import IN_PHASE1, INSIDE_PHASE2, OUT_PHASE2, PEOPLE

    named = [(p["gate"], p["identity"], p["role"]) for p in ps if p["identity_kind"] == "person"]
    expected = [("in-gate", PEOPLE[p].id, PEOPLE[p].role) for p in IN_PHASE1 if p in PEOPLE]
    expected += [("building-7", PEOPLE[p].id, PEOPLE[p].role) for p in INSIDE_PHASE2]
    expected += [("out-gate", PEOPLE[p].id, PEOPLE[p].role) for p in OUT_PHASE2 if p in PEOPLE]
    problems = [f"missing passage {e}" for e in expected if e not in named]
    visitors_in = [p for p in ps if p["gate"] == "in-gate" and p["identity_kind"] == "visitor"]
    if len(visitors_in) != 2:
        problems.append(f"expected 2 visitor passages at the in-gate, got {len(visitors_in)}")
    left = [p["identity"] for p in ps if p["gate"] == "out-gate" and p["role"] == "visitor"]
    if len(left) != 1 or left[0] not in {p["identity"] for p in visitors_in}:
        problems.append(f"the visitor should leave under its in-gate id, left as {left}")
    if not any(p["search_id"] == search_id and p["identity"] == "p-elder" for p in ps):
        problems.append("no sighting of p-elder for the search")
    wrong = [p["identity"] for p in ps if p["search_id"] and p["identity"] != "p-elder"]
    if wrong:
        problems.append(f"passages of others carry the search id: {wrong}")
    return problems


def _search_problems(answer: dict[str, Any], alerts: list[dict[str, Any]]) -> list[str]:
    problems = []
    for rule, who in (("sighting", "p-elder"), ("out_not_back", "p-elder"),
                      ("watchlist_seen", "w-entry")):  # fmt: skip
        if not any(a["rule"] == rule and a["person_id"] == who for a in alerts):
            problems.append(f"no {rule} alert for {who}")
    if not any(a["rule"] == "watchlist_seen" and a["priority"] == "high" for a in alerts):
        problems.append("the watchlist alert is not high priority")
    if not any(c["has_evidence"] for c in answer["candidates"]):
        problems.append("no sighting candidate with an evidence picture for the search")
    internal = answer.get("last_internal") or {}
    if internal.get("gate") != "building-7":
        problems.append(f"the search answer's last internal camera is {internal or None}")
    return problems


def summarize(demo: Demo, search_id: str, traj: dict[str, Any]) -> dict[str, Any]:
    """The search's answer, the run's numbers and every problem --check fails on."""
    answer = demo.api("GET", f"/api/searches/{search_id}", token=demo.officer)
    internal = answer.get("last_internal") or {}
    print(f"search answer: last internal camera {internal.get('gate')}/"
          f"{internal.get('camera')} at {CliSite('en').local(internal.get('ts'), True)}; "
          f"{len(answer['candidates'])} sighting candidate(s)")  # fmt: skip
    with demo.lock:
        ps = list(demo.passages)
        alerts = list(demo.alerts)
    roles: dict[str, int] = {}
    for p in ps:
        roles[p["role"]] = roles.get(p["role"], 0) + 1
    problems = _passage_problems(ps, search_id) + _search_problems(answer, alerts)
    problems += wall_problems(demo.url, demo.viewer, ps)
    dirs = [p["direction"] for p in traj["passages"]]
    if dirs != ["in", "none", "out"]:
        problems.append(f"p-elder's trajectory should be in, building 7, out; is {dirs}")
    stored = demo.api("GET", "/api/events?since=1h&limit=5000&reason=demo", token=demo.officer)
    if sorted(e["event_id"] for e in stored) != sorted(p["event_id"] for p in ps):
        problems.append(f"server stored {len(stored)} events, the broker carried {len(ps)}")
    out = {
        "events": len(ps),
        "by_role": roles,
        "alerts": [a["rule"] for a in alerts],
        "search_id": search_id,
        "candidates": len(answer["candidates"]),
        "problems": problems,
        "work_dir": str(demo.work),
    }
    print(f"\nsummary: {len(ps)} passages {roles}; alerts {out['alerts']}")
    for p in problems:
        print(f"  PROBLEM: {p}")
    return out
