"""The demo's people: who each part of the cast is enrolled as (Chinese display names, opaque
ids), and who passes which camera in each phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Person:
    """Who a part of the cast is enrolled as."""

    id: str
    name: str
    role: str
    born: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


# The enrolled parts (the visitor is never enrolled; the newcomer is enrolled between the phases).
PEOPLE = {
    "elder": Person(
        "p-elder", "王秀华", "resident", "1950-08-04",
        {"care": "lives_alone", "building": "7", "unit": "2", "room": "701"},
    ),
    "resident": Person("p-resident", "李明", "resident", "1986-12-26",
                       {"building": "3", "unit": "1", "room": "302"}),
    "courier": Person(
        "c-courier", "刘强（速达快递）", "courier", None,
        {"company": "速达快递", "valid-until": f"{date.today().year + 1}-12-31"},
    ),
    "watchlist": Person("w-entry", "周建国", "watchlist"),
    "newcomer": Person("p-newcomer", "赵平", "resident", "1980-02-26", {"building": "12"}),
}  # fmt: skip
ENROLLED_FIRST = ("elder", "resident", "courier", "watchlist")
IN_PHASE1 = ("elder", "resident", "courier", "watchlist", "visitor", "newcomer")
IN_PHASE2 = ("newcomer",)
INSIDE_PHASE2 = ("elder",)  # seen by the internal camera at building 7's entrance
OUT_PHASE2 = ("elder", "newcomer", "visitor")  # the visitor leaves under the id the in-gate gave
ALERTS_WANTED = {"sighting", "out_not_back", "watchlist_seen"}
# Video name (edge-<first word> is its process), gate, camera, direction ('none': internal camera).
EDGES = (
    ("in-gate", "in-gate", "cam1", "in"),
    ("out-gate", "out-gate", "cam1", "out"),
    ("b7", "building-7", "entrance", "none"),
)
