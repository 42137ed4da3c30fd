"""Gallery snapshot file format and the manifest that announces a snapshot.

A snapshot is one ``.npz`` file (numpy's uncompressed zip, loaded with ``allow_pickle=False``)
holding three members:

``header``           uint8 array: UTF-8 JSON of :class:`SnapshotHeader`
``embeddings``       float32 ``[templates, dim]``, every row L2-normalised
``template_person``  int32 ``[templates]``: index of the row's person in ``header.persons``

``header.content_sha256`` is :func:`content_digest` over the arrays and the person table, so a
flipped bit anywhere in the payload is caught on load. The file as a whole has its own SHA-256,
which the :class:`GalleryManifest` published to the edges carries.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field

from contract.roles import EnrolledRole

# The population whose faces the gates serve: which calibration curve sets the operating point.
# "east_asian" (the default of a zh-CN site) or "general" (faces_wide_dev, mostly Western).
Population = Literal["east_asian", "general"]

SNAPSHOT_FORMAT = "gatewatch-gallery"
SNAPSHOT_FORMAT_VERSION = 1
SNAPSHOT_MEMBERS = ("header", "embeddings", "template_person")


class GalleryPerson(BaseModel):
    """One enrolled person as the edge knows them: an opaque id and a role, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, description="Opaque person id.")
    role: EnrolledRole


class SnapshotHeader(BaseModel):
    """The JSON header inside a snapshot file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(SNAPSHOT_FORMAT, pattern=f"^{SNAPSHOT_FORMAT}$")
    format_version: int = Field(SNAPSHOT_FORMAT_VERSION, ge=1, le=SNAPSHOT_FORMAT_VERSION)
    version: int = Field(ge=0, description="Increments with every change of the gallery.")
    model_id: str = Field(min_length=1, description="Model id the embeddings were made with.")
    dim: int = Field(gt=0, description="Embedding dimension.")
    created: datetime = Field(description="UTC time the snapshot was written.")
    persons: list[GalleryPerson]
    template_count: int = Field(ge=0)
    content_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    population: Population | None = Field(
        None,
        description="The site's population setting: the calibration curve edges use (None: the "
        "edge's own setting).",
    )


class GalleryManifest(BaseModel):
    """Retained on ``gatewatch/<site>/gallery``: where the snapshot is and how to check it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(1, ge=1, le=1)
    version: int = Field(ge=0)
    model_id: str = Field(min_length=1)
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="SHA-256 of the whole file.")
    size: int = Field(gt=0, description="File size in bytes.")
    url: AnyUrl | None = Field(None, description="http(s) URL to fetch the snapshot from.")
    path: str | None = Field(None, description="A local path, for edges on the same machine.")
    persons: int = Field(ge=0)
    templates: int = Field(ge=0)
    population: Population | None = Field(None, description="As in the snapshot's header.")


def persons_json(persons: list[GalleryPerson]) -> bytes:
    """Canonical bytes of the person table, as hashed into ``content_sha256``."""
    rows = [[p.id, p.role] for p in persons]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=True).encode()


def content_digest(embeddings_le_f32: bytes, template_person_le_i32: bytes, persons: bytes) -> str:
    """SHA-256 over the payload: embeddings, template owners and person table, length-prefixed."""
    h = hashlib.sha256()
    for part in (embeddings_le_f32, template_person_le_i32, persons):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()
