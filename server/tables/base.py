"""The one MetaData every table module registers in, and the timestamp type they share."""

from __future__ import annotations

from sqlalchemy import DateTime, MetaData

metadata = MetaData()
TS = DateTime(timezone=True)
