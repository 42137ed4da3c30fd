"""Display names of the compound, its gates and their cameras (``names:`` in server.yaml).

Ids (``north``, ``in-cam``) stay the system's keys everywhere: topics, the database, edges. People
read the names: every page, the wall, the officer CLI and alert texts ask ``SiteNames`` and show
the raw id where no name is set.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contract.topics import ID_PATTERN

GateId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateNames(_Strict):
    """One gate: its name (北门) and its cameras' names (in-cam: 进门)."""

    name: Name | None = Field(None, description="The gate's display name, e.g. 北门.")
    cameras: dict[GateId, Name] = Field(
        default_factory=dict, description="Camera id -> display name, e.g. in-cam: 进门."
    )


class SiteNames(_Strict):
    """The compound's display name and its gates'; the raw id wherever a name is missing."""

    site: Name | None = Field(None, description="The compound's display name, e.g. 曲江花园.")
    gates: dict[GateId, GateNames] = Field(
        default_factory=dict, description="Gate id -> its name and its cameras' names."
    )

    def gate(self, gate: str | None) -> str:
        """The gate's display name, else its id ('' for None)."""
        if gate is None:
            return ""
        g = self.gates.get(gate)
        return g.name if g is not None and g.name else gate

    def camera(self, gate: str | None, camera: str | None) -> str:
        """The camera's display name at ``gate``, else its id ('' for None)."""
        if camera is None:
            return ""
        g = self.gates.get(gate or "")
        return g.cameras.get(camera, camera) if g is not None else camera

    def where(self, gate: str | None, camera: str | None) -> str:
        """'北门（进门）' with names, 'north/in-cam' without; the gate alone without a camera."""
        if not camera:
            return self.gate(gate)
        g, c = self.gate(gate), self.camera(gate, camera)
        if g == gate and c == camera:
            return f"{gate}/{camera}"
        return f"{g}（{c}）"

    def public(self) -> dict[str, object]:
        """For ``/api/site`` and the pages: {site, gates: {id: {name, cameras}}}."""
        return self.model_dump()
