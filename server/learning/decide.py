"""The server's own checks of a gate capture (the edge's word is not enough)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from models.engine import embedding_space
from models.learning import LearningPolicy, anchor_score
from server.learning.points import Points
from server.learning.records import CaptureRow, Rejection, TemplateRow
from server.states import TemplateSource
from server.store.records import Person

# Roles whose gallery the gate may add to: a watchlist entry's templates stay as the police
# supplied them (a wrong gate template there would raise red alerts on an innocent face).
LEARNING_ROLES = frozenset({"resident", "staff", "courier"})


def eligible(p: Person, today: date) -> bool:
    """A person the gates may learn or ask about: enrolled, not removed, valid, not watchlist."""
    valid = p.valid_until is None or p.valid_until >= today
    return not p.removed and p.role in LEARNING_ROLES and valid


def same_space(model_id: str, templates: Sequence[TemplateRow]) -> bool:
    """The capture was embedded in the space of the person's enrollment templates."""
    space = embedding_space(model_id)
    return any(
        t.source == TemplateSource.ENROLLMENT and embedding_space(t.model_id) == space
        for t in templates
    )


def learn_outcome(
    c: CaptureRow,
    templates: Sequence[TemplateRow],
    pts: Points,
    policy: LearningPolicy,
    learned_today: int,
) -> str:
    """"learned" when every guard holds, else the first that failed:

    - ``weak``: the passage's own numbers (score, margin, frames) miss the server's learning point
    - ``not_verified``: the capture's template, scored here against the person's templates, does
      not reach the learning point (an edge's claimed score is not taken on trust)
    - ``already_held``: it is (nearly) a template the person has (it would add nothing and use up
      the day's addition)
    - ``anchor_failed``: it does not match an *enrollment* template at the anchor point (learned
      templates never anchor, so a wrong name cannot snowball)
    - ``capped_today``: the person had ``auto_per_day`` automatic additions this local day
    """
    if not policy.may_learn(c.score, c.margin, c.frames, pts.learn):
        return "weak"
    mine = [t for t in templates if embedding_space(t.model_id) == embedding_space(c.model_id)]
    v = c.vector
    best = anchor_score(v, [t.vector for t in mine]) if mine else -1.0
    if best < pts.learn:
        return "not_verified"
    if best >= policy.already_held:
        return "already_held"
    enrolled = [t.vector for t in mine if t.source == TemplateSource.ENROLLMENT]
    if anchor_score(v, enrolled) < pts.anchor:
        return "anchor_failed"
    if learned_today >= policy.auto_per_day:
        return "capped_today"
    return "learned"


def rejected_before(
    c: CaptureRow, visitor_id: str | None, rejections: Sequence[Rejection], same_face: float
) -> bool:
    """The person was rejected for this visitor id, or for a face this one matches."""
    v = c.vector
    return any(
        (visitor_id is not None and r.visitor_id == visitor_id)
        or (len(r.template) == len(v) and float(r.template @ v) >= same_face)
        for r in rejections
    )
