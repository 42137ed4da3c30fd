"""``gatewatch edge --config gate.yaml`` (the gate process) and ``gatewatch edge outbox export``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from edge.config import load_edge_config
from edge.errors import OutboxError

log = logging.getLogger(__name__)


def cmd_edge(args: argparse.Namespace) -> int:
    if args.config is None:
        args.edge_parser.error("--config is required")
    cfg = load_edge_config(args.config)  # ConfigError: exit 2 with every bad key
    cams = cfg.camera_list()
    if args.validate_config:
        if cfg.cameras is None:
            print(f"{args.config}: ok (site {cfg.site}, gate {cfg.gate}, camera {cfg.camera})")
        else:
            each = ", ".join(f"{c.camera} ({c.direction}, {c.source.kind})" for c in cams)
            print(f"{args.config}: ok (site {cfg.site}, gate {cfg.gate}, {len(cams)} cameras: "
                  f"{each})")  # fmt: skip
        return 0
    from edge.app import EdgeApp

    try:
        app = EdgeApp(cfg)
    except OutboxError as e:  # corrupt (with the commands to save its events), unwritable
        log.error("[%s/%s/%s] %s", cfg.site, cfg.gate, "+".join(c.camera for c in cams), e)
        return 3
    stops = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stops
        stops += 1
        log.info("[%s] signal %d: stopping%s", app.name, signum, " now" if stops > 1 else "")
        app.stop(hard=stops > 1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return app.run()


def cmd_outbox_export(args: argparse.Namespace) -> int:
    from edge.outbox_export import export_outbox

    path = args.outbox or load_edge_config(args.config).outbox.path
    if args.file.exists():
        print(f"{args.file} exists; name a new file", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"no outbox at {path}", file=sys.stderr)
        return 2
    with args.file.open("x", encoding="utf-8") as out:
        result = export_outbox(path, out)
    span = f" (seq {result.first_seq}-{result.last_seq})" if result.exported else ""
    print(f"exported {result.exported} unsent passages{span} from {path} to {args.file}")
    if result.unreadable:
        print(f"{result.unreadable} events could not be read (damaged pages) and are NOT in "
              f"{args.file}", file=sys.stderr)  # fmt: skip
    print(f"store them on the server: gatewatch server import-events --config server.yaml "
          f"{args.file}")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="run the gate process for its camera(s)")
    p.add_argument("--config", type=Path, help="gate YAML (EdgeConfig); required to run")
    p.add_argument(
        "--validate-config", action="store_true", help="check the config, print errors, exit"
    )
    p.set_defaults(func=cmd_edge, edge_parser=p)
    tools = p.add_subparsers(dest="edge_command", metavar="outbox")
    outbox = tools.add_parser("outbox", help="the outbox file").add_subparsers(
        dest="outbox_command", required=True
    )
    e = outbox.add_parser(
        "export", help="save the unsent passages of an outbox (even a damaged one) as JSON lines"
    )
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="gate YAML")
    src.add_argument("--outbox", type=Path, help="the outbox file (e.g. one moved aside)")
    e.add_argument("file", type=Path, help="the JSON-lines file to write (must not exist)")
    e.set_defaults(func=cmd_outbox_export)
