"""The wall screen's data at a compound's size: 33,000 residents, 150,000 passages today and the
same weekday of the 4 weeks before, bulk-loaded into SQLite; then WallData.build() timed.

Presence and hourly counts are built by the 0007 migration's backfill (the same SQL that
upgrades a running database), then the wall reads only them, the registry and the last passages.
"""

from __future__ import annotations

import importlib
import sqlite3
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

RESIDENTS, ELDERS, COURIERS, STAFF, VISITORS = 33_000, 5_000, 300, 120, 6_000
TS = "%Y-%m-%d %H:%M:%S.%f"


def _people() -> list[tuple[str, str, str]]:
    """(identity, kind, role) of everyone who passes."""
    return (
        [(f"p{i}", "person", "resident") for i in range(RESIDENTS)]
        + [(f"c{i}", "person", "courier") for i in range(COURIERS)]
        + [(f"s{i}", "person", "staff") for i in range(STAFF)]
        + [(f"v-{i:012x}", "visitor", "visitor") for i in range(VISITORS)]
    )


def _persons(con: sqlite3.Connection, now: datetime) -> None:
    stamp = now.strftime(TS)
    rows = []
    for i in range(RESIDENTS):
        born = date(1946, 5, 1) if i < ELDERS else date(1985, 5, 1)
        rows.append((f"p{i}", f"居民{i}", "resident", born.isoformat(), str(i % 60 + 1), stamp))
    rows += [(f"c{i}", f"快递{i}", "courier", None, None, stamp) for i in range(COURIERS)]
    rows += [(f"s{i}", f"员工{i}", "staff", None, None, stamp) for i in range(STAFF)]
    con.executemany(
        "INSERT INTO persons (id, name, role, birth_date, building, care_flags, legal_basis,"
        " removed, created, updated) VALUES (?,?,?,?,?,'[]','consent',0,?,?)",
        [(*r[:5], r[5], r[5]) for r in rows],
    )


def _day(con: sqlite3.Connection, start: datetime, span_s: float, n: int, seq0: int,
         rng: np.random.Generator) -> None:  # fmt: skip
    """``n`` passages of random people in [start, start + span_s)."""
    people = _people()
    # Residents pass most; couriers and visitors are a fifth of the passages.
    weights = np.array([1.0 if k == "resident" else 12.0 if r == "courier" else 2.5
                        for _, k, r in people])  # fmt: skip
    who = rng.choice(len(people), n, p=weights / weights.sum())
    offs = np.sort(rng.uniform(0, span_s, n))
    dirs = rng.integers(0, 2, n)
    stamp = datetime.now(UTC).strftime(TS)
    rows = []
    for i in range(n):
        ident, kind, role = people[who[i]]
        ts = (start + timedelta(seconds=float(offs[i]))).strftime(TS)
        src = "gallery" if kind == "person" else "visitor-gallery"
        rows.append((uuid.uuid4().hex, seq0 + i + 1, f"g{who[i] % 6}", "c1",
                     "in" if dirs[i] else "out", ts, i, ident, kind, role, src, 0.7, 0.2, 0.8,
                     3, 1, "sface:bench", stamp))  # fmt: skip
    con.executemany(
        "INSERT INTO events (event_id, seq, gate, camera, direction, ts, track_id, identity,"
        " identity_kind, role, role_source, score, margin, quality, frames_used,"
        " gallery_version, model_id, received) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def load(db: Path, per_day: int, now: datetime, tz) -> None:  # noqa: ANN001
    """The registry, today's passages (local midnight to now) and the same weekday of the 4
    weeks before (whole days), then presence and hourly counts by the migration's backfill."""
    from server.db import make_engine, migrate
    from server.localtime import local_midnight

    migrate(make_engine(f"sqlite:///{db}"))
    m = importlib.import_module("server.migrations.versions.0007_presence")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(7)
    _persons(con, now)
    midnight = local_midnight(now, tz)
    _day(con, midnight, max(60.0, (now - midnight).total_seconds()), per_day, 0, rng)
    for k in range(1, 5):
        _day(con, local_midnight(now, tz, 7 * k), 86400, per_day, k * per_day, rng)
    con.executemany(  # a few hundred visitors known by two ids (two edges minted one each)
        "INSERT INTO visitor_alias (alias, visitor_id, gate, created) VALUES (?, ?, 'g1', ?)",
        [(f"v-{i + 1:012x}", f"v-{i:012x}", now.strftime(TS)) for i in range(0, 600, 2)],
    )
    con.execute("DELETE FROM presence")
    con.execute("DELETE FROM hourly_counts")
    con.execute(m.BACKFILL_PRESENCE)
    con.execute(m.BACKFILL_HOURS.format(hour=m.HOUR["sqlite"]))
    con.executemany(
        "INSERT INTO gates (gate, camera, state, camera_state, status, last_status)"
        " VALUES (?, 'c1', 'online', 'ok', '{\"fps\": 15.0, \"outbox_depth\": 0}', ?)",
        [(f"g{i}", now.strftime(TS)) for i in range(6)],
    )
    con.commit()
    con.close()


def _times(fn, calls: int) -> dict:  # noqa: ANN001
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        lat.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(lat), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1)}  # fmt: skip


def bench_wall(work: Path, per_day: int = 150_000, calls: int = 50) -> dict:
    """Bulk-load, then time WallData.build(): without its per-day cache (a new WallData each
    call: the weekday average recomputed), with it (one WallData, as the server keeps), and
    latest() (the route's: the whole answer kept for a second)."""
    from scripts.standins import server_config
    from server.db import make_engine
    from server.store import Store
    from server.wall.board import WallData

    cfg = server_config(work, "benchwall", 1883, f"sqlite:///{work / 'wall.db'}")
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    load(work / "wall.db", per_day, now, cfg.tz)
    loaded_s = time.perf_counter() - t0
    store = Store(make_engine(cfg.db_url()))
    kept = WallData(store, cfg)
    w = kept.build()
    return {
        "residents": RESIDENTS,
        "events": store.count_events(),
        "passages_today": w.passages_today,
        "inside": w.inside_total,
        "elders": w.elders.total,
        "load_s": round(loaded_s, 1),
        "uncached": _times(lambda: WallData(store, cfg).build(), calls),
        "weekday_average_cached": _times(kept.build, calls),
        "answer_cached_1s": _times(kept.latest, calls),
    }
