"""``gatewatch edge --config gate.yaml [--validate-config]``."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from edge.config import load_edge_config

log = logging.getLogger(__name__)


def cmd_edge(args: argparse.Namespace) -> int:
    cfg = load_edge_config(args.config)  # ConfigError: exit 2 with every bad key
    if args.validate_config:
        print(f"{args.config}: ok (site {cfg.site}, gate {cfg.gate}, camera {cfg.camera})")
        return 0
    from edge.app import EdgeApp

    app = EdgeApp(cfg)
    stops = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stops
        stops += 1
        log.info("[%s] signal %d: stopping%s", app.name, signum, " now" if stops > 1 else "")
        app.stop(hard=stops > 1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return app.run()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="run the gate process for one camera")
    p.add_argument("--config", type=Path, required=True, help="gate YAML (EdgeConfig)")
    p.add_argument(
        "--validate-config", action="store_true", help="check the config, print errors, exit"
    )
    p.set_defaults(func=cmd_edge)
