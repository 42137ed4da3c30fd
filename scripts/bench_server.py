#!/usr/bin/env python3
"""Server speed: ingest through a real broker, trajectory queries at volume, the elder-watch scan.

Usage: python scripts/bench_server.py [--events 20000] [--volume 10000000] [--watched 5000]
                                      [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]

1. Ingest: a publisher sends --events passages at QoS 1 to a private Mosquitto; the server's
   ingest (batched commits, manual acks, acks to the edge) stores them; events/s from the first
   publish to the last commit, into SQLite and (if reachable) PostgreSQL, at batch sizes 1 and 200.
2. Trajectory: --volume events over 30 days for 50,000 identities are bulk-loaded into SQLite;
   then one identity's 48-hour trajectory is queried 300 times: median and p95 ms.
3. Elder watch: --watched residents aged 70+ with a few passages each; one full scan, seconds.
4. Wall: 33,000 residents, 150,000 passages today and on the same weekday of the 4 weeks
   before; /api/wall's data function, median and p95 ms of 50 calls (scripts/bench_wall.py).
5. Elder roster: --residents residents of whom --elders are 70+ (and one in fifty of the others
   carries a care flag), --roster-events passages over 30 days and a few hundred open alerts,
   bulk-loaded into SQLite; GET /api/elders (the whole roster, JSON) as an officer through the
   API, 30 times: median and p95 ms.

``--only ingest|trajectory|watch|wall|roster`` runs one section.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatewatch.broker import Broker  # noqa: E402
from scripts.bench_wall import bench_wall  # noqa: E402
from scripts.standins import connect, passage, server_config  # noqa: E402


def bench_ingest(url: str | None, n: int, batch: int, broker: Broker, work: Path) -> dict:
    from server.app import ServerApp

    site = "bench" + secrets.token_hex(2)
    cfg = server_config(
        work / site, site, broker.port, url, ingest={"batch_max": batch, "batch_wait_ms": 20}
    )
    app = ServerApp(cfg).start()
    while not app.bus.connected:
        time.sleep(0.05)
    time.sleep(0.3)
    events = [passage(site, i + 1, identity=f"p{i % 5000}") for i in range(n)]
    payloads = [p.to_json() for p in events]
    pub = connect(broker.port, "benchpub-" + secrets.token_hex(3))
    topic = app.topics.events("g1")
    t0 = time.perf_counter()
    for p in payloads:
        pub.publish(topic, p, qos=1)
    while app.store.count_events() < n:
        time.sleep(0.02)
    dt = time.perf_counter() - t0
    stats = app.bus.stats
    commit = statistics.median(stats.commit_ms) if stats.commit_ms else 0
    pub.loop_stop()
    app.stop()
    return {
        "db": "postgresql" if url and url.startswith("postgres") else "sqlite",
        "batch": batch,
        "events": n,
        "seconds": round(dt, 2),
        "events_per_s": round(n / dt),
        "batches": stats.batches,
        "median_commit_ms": round(commit, 1),
    }


def bulk_load(db: Path, volume: int, identities: int) -> None:
    """Fill the events table fast with the sqlite3 module (the schema is the server's own)."""
    from server.db import make_engine, migrate

    migrate(make_engine(f"sqlite:///{db}"))
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    start = now - timedelta(days=30)
    chunk = 200_000
    cols = (
        "event_id, seq, gate, camera, direction, ts, track_id, identity, identity_kind, role, "
        "role_source, score, margin, quality, frames_used, gallery_version, model_id, received"
    )
    sql = f"INSERT INTO events ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    for base in range(0, volume, chunk):
        k = min(chunk, volume - base)
        offs = np.sort(rng.uniform(0, 30 * 86400, k))
        who = rng.integers(0, identities, k)
        dirs = rng.integers(0, 2, k)
        rows = [
            (
                uuid.uuid4().hex,
                base + i + 1,
                f"g{who[i] % 10}",
                "c1",
                "in" if dirs[i] else "out",
                (start + timedelta(seconds=float(offs[i]))).strftime("%Y-%m-%d %H:%M:%S.%f"),
                i,
                f"p{who[i]}",
                "person",
                "resident",
                "gallery",
                0.7,
                0.2,
                0.8,
                3,
                1,
                "sface:bench",
                now.strftime("%Y-%m-%d %H:%M:%S.%f"),
            )
            for i in range(k)
        ]
        con.executemany(sql, rows)
        con.commit()
    con.close()


def bench_trajectory(db: Path, identities: int, queries: int = 300) -> dict:
    from server.db import make_engine
    from server.store import Store

    store = Store(make_engine(f"sqlite:///{db}"))
    rng = np.random.default_rng(1)
    lat, rows = [], []
    since = datetime.now(UTC) - timedelta(hours=48)
    for i in rng.integers(0, identities, queries):
        t0 = time.perf_counter()
        ps = store.passages(f"p{i}", since)
        lat.append((time.perf_counter() - t0) * 1000)
        rows.append(len(ps))
    return {
        "events": store.count_events(),
        "median_ms": round(statistics.median(lat), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "passages_per_answer": round(float(np.mean(rows)), 1),
    }


def bench_watch(watched: int, work: Path) -> dict:
    from server.config import ElderWatchConfig
    from server.db import make_engine, migrate
    from server.store import Store
    from server.watch.elder import ElderWatch

    engine = make_engine(f"sqlite:///{work / 'watch.db'}")
    migrate(engine)
    store = Store(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        from server import tables as t

        conn.execute(
            t.persons.insert(),
            [
                {
                    "id": f"e{i}",
                    "name": f"E{i}",
                    "role": "resident",
                    "birth_date": date(1945, 1, 1),
                    "care_flags": ["lives_alone"] if i % 5 == 0 else [],
                    "legal_basis": "consent",
                    "removed": False,
                    "created": now,
                    "updated": now,
                }
                for i in range(watched)
            ],
        )
    evs = []
    for i in range(watched):
        for k in range(4):
            evs.append(
                passage(
                    "b",
                    len(evs) + 1,
                    f"e{i}",
                    "out" if k % 2 == 0 else "in",
                    now - timedelta(hours=(i % 90) + 10 * k),
                )
            )
    store.insert_events(evs)
    watch = ElderWatch(ElderWatchConfig(), store)
    t0 = time.perf_counter()
    findings = watch.findings(now)
    t1 = time.perf_counter()
    alerts = watch.scan(now)
    t2 = time.perf_counter()
    return {
        "watched": watched,
        "events": len(evs),
        "scan_s": round(t1 - t0, 3),
        "first_scan_with_alerts_s": round(t2 - t1, 3),
        "findings": len(findings),
        "alerts": len(alerts),
    }


def load_residents(db: Path, residents: int, elders: int) -> int:
    """Persons p0.. (the identities of bulk_load): the first ``elders`` aged 70-95, one in fifty of
    the others with a care flag; open alerts for one elder in twenty. Returns the roster's size."""
    import json

    con = sqlite3.connect(db)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    year = datetime.now(UTC).year
    rows, watched = [], 0
    flags = ("lives_alone", "disabled", "pregnant", "serious_illness")
    for i in range(residents):
        old = i < elders
        care = [flags[i % 4]] if (old and i % 5 == 0) or (not old and i % 50 == 0) else []
        watched += old or bool(care)
        born = f"{year - (70 + i % 26) if old else year - (20 + i % 49)}-01-01"
        rows.append((f"p{i}", f"居民{i}", "resident", born, str(1 + i % 60), str(1 + i % 4),
                     json.dumps(care), "consent", 0, now, now))  # fmt: skip
    con.executemany(
        "INSERT INTO persons (id, name, role, birth_date, building, unit, care_flags, "
        "legal_basis, removed, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    alerts = [("not_seen", f"p{i}", f"e{i}", "open", "{}", now, now) for i in range(0, elders, 20)]
    con.executemany(
        "INSERT INTO alerts (rule, person_id, episode, state, evidence, created, updated) "
        "VALUES (?,?,?,?,?,?,?)",
        alerts,
    )
    con.commit()
    con.close()
    return watched


def bench_roster(work: Path, residents: int, elders: int, events: int, calls: int = 30) -> dict:
    """GET /api/elders through the API (TestClient), as an officer, on a bulk-loaded compound."""
    from fastapi.testclient import TestClient

    from server.api import create_api
    from server.app import ServerApp

    db = work / "roster.db"
    t0 = time.perf_counter()
    bulk_load(db, events, residents)
    watched = load_residents(db, residents, elders)
    loaded_s = time.perf_counter() - t0
    cfg = server_config(work / "roster", "roster", 1883, f"sqlite:///{db}")
    app = ServerApp(cfg)  # not started: the API reads the store, no broker needed
    token = app.store.add_user("officer1", "officer")
    lat, cpu, rows = [], [], 0
    with TestClient(create_api(app)) as client:
        for _ in range(calls):
            t1, c1 = time.perf_counter(), time.process_time()
            r = client.get("/api/elders", headers={"Authorization": f"Bearer {token}"})
            lat.append((time.perf_counter() - t1) * 1000)
            cpu.append((time.process_time() - c1) * 1000)  # this process: client and server
            r.raise_for_status()
            rows = len(r.json()["rows"])
    from server.watch.roster import RosterFilter, roster

    inner = []
    for _ in range(calls):
        t1 = time.perf_counter()
        roster(app.store, app.cfg.elder, app.tz, datetime.now(UTC), RosterFilter())
        inner.append((time.perf_counter() - t1) * 1000)
    app.engine.dispose()
    return {
        "residents": residents,
        "roster": rows,
        "expected": watched,
        "events": events,
        "load_s": round(loaded_s, 1),
        "median_ms": round(statistics.median(lat), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "query_and_rank_median_ms": round(statistics.median(inner), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--volume", type=int, default=10_000_000)
    ap.add_argument("--identities", type=int, default=50_000)
    ap.add_argument("--watched", type=int, default=5_000)
    ap.add_argument("--residents", type=int, default=33_000)
    ap.add_argument("--elders", type=int, default=5_000)
    ap.add_argument("--roster-events", type=int, default=2_000_000)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--only", choices=("ingest", "trajectory", "watch", "wall", "roster"))
    ap.add_argument("--wall-passages", type=int, default=150_000, help="passages a day (wall)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_server_"))
    if args.only in (None, "ingest"):
        bench_ingest_all(args, work)
    if args.only in (None, "trajectory"):
        db = work / "volume.db"
        t0 = time.perf_counter()
        bulk_load(db, args.volume, args.identities)
        print(f"bulk-loaded {args.volume} events in {time.perf_counter() - t0:.0f} s")
        print("trajectory, one identity, last 48 h:", bench_trajectory(db, args.identities))
    if args.only in (None, "watch"):
        print("elder watch:", bench_watch(args.watched, work))
    if args.only in (None, "wall"):
        print("wall data (GET /api/wall):", bench_wall(work, args.wall_passages))
    if args.only in (None, "roster"):
        print("elder roster, GET /api/elders:", bench_roster(work, args.residents, args.elders,
                                                             args.roster_events))  # fmt: skip
    return 0


def bench_ingest_all(args: argparse.Namespace, work: Path) -> None:
    broker = Broker(work / "mosquitto").start()
    admin = name = None
    try:
        urls: list[str | None] = [None]
        try:
            import sqlalchemy as sa

            sa.create_engine(args.postgres).connect().close()
            name = "gw_bench_" + secrets.token_hex(3)
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f"CREATE DATABASE {name}")
            urls.append(args.postgres.rsplit("/", 1)[0] + "/" + name)
        except Exception as e:  # no PostgreSQL here
            print(f"PostgreSQL skipped: {e}")
        print("ingest through Mosquitto (events/s, first publish to last commit)")
        for url in urls:
            for batch in (1, 200):
                n = args.events if batch > 1 else min(args.events, 3000)
                print("  ", bench_ingest(url, n, batch, broker, work))
    finally:
        broker.stop()
        if admin is not None:
            with admin.connect() as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    raise SystemExit(main())
