"""``gatewatch <command>``: the one console script.

This launcher is the only code that reaches into several packages; it imports each package's
``cli.register`` and maps the package's error family onto exit codes (0 ok, 2 bad input, 1
internal failure).
"""

from __future__ import annotations

import argparse
import logging
import sys

COMMAND_PACKAGES = ("models", "edge", "server", "enroll")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="gatewatch", description="Face recognition at the gates of a residential compound."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for pkg in COMMAND_PACKAGES:
        importlib.import_module(f"{pkg}.cli").register(sub)
    from gatewatch.demo import register as register_demo

    register_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: noise in the CLIs' and the demo's output unless -v.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    from contract.config import ConfigError
    from enroll.client import EnrollError
    from gatewatch.demo import DemoError
    from models.cli import BadInput
    from models.errors import GalleryError, ImageError, ModelError, ModelNotFound
    from server.cli import ApiError

    try:
        return int(args.func(args) or 0)
    except (
        BadInput,
        ConfigError,
        ImageError,
        GalleryError,
        ModelNotFound,
        ApiError,
        EnrollError,
        DemoError,
    ) as e:
        print(f"gatewatch {args.command}: {e}", file=sys.stderr)
        return 2
    except ModelError as e:
        print(f"gatewatch {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
