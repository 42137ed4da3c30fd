"""The settings of server/faces/ (``faces:`` in the server's YAML)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FacesConfig(BaseModel):
    """Passage crops stay on the gate machines (each edge's ring, ``faces:`` in gate.yaml); the
    server asks for one when an officer opens it and keeps the answer in memory only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(
        3, gt=0, le=30, description="A gate that has not answered in this time is shown offline."
    )
    max_waiting: int = Field(
        8, ge=1, le=32, description="Asks that may wait for gates at a time (each holds one of "
        "the API's 40 threads for up to timeout_s); one more is told the gate is busy at once.",
    )
    cache_items: int = Field(
        256, ge=0, le=10_000, description="Answers kept in memory (least recently used out)."
    )
    cache_ttl_s: float = Field(300, ge=0, le=3600, description="...each for at most this long.")
    watchlist: bool = Field(
        True, description="Keep the crops the edges push with watchlist passages (evidence)."
    )
    watchlist_days: float = Field(
        30, gt=0, description="A watchlist passage's crop is deleted this long after it arrived."
    )
