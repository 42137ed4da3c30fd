"""``gatewatch server`` and the officer's commands against its API (trajectory, search, alerts)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.topics import ID_PATTERN
from server.clitext import CliSite, helptext, site_of
from server.errors import ApiError

if TYPE_CHECKING:
    from uvicorn import Config
    from uvicorn._types import ASGIApplication

    from contract.http import HttpError
    from server.config import HttpConfig

log = logging.getLogger(__name__)


def cmd_server(args: argparse.Namespace) -> int:
    from server.config import load_server_config

    if args.config is None:
        args.server_parser.error("--config is required")
    cfg = load_server_config(args.config)
    if args.validate_config:
        print(f"{args.config}: ok (site {cfg.site}, database {cfg.db_url().split('://')[0]})")
        return 0
    from contract.config import ConfigError
    from server.api import create_api
    from server.api.serving import Server
    from server.app import ServerApp
    from server.notify.config import SecretError
    from server.tokens import WeakToken

    try:
        app = ServerApp(cfg)
    except (WeakToken, SecretError) as e:
        raise ConfigError(str(e)) from e
    app.start()
    try:
        api = create_api(app)
        Server(http_config(cfg.http, api), api).run()
    finally:
        app.stop()
    return 0


def http_config(http: HttpConfig, api: ASGIApplication, log_level: str = "info") -> Config:
    """uvicorn's settings for the API (server/api/serving.py): address, TLS, timeouts, limits."""
    from server.api.serving import http_config as serving_config

    return serving_config(http, api, log_level)


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return _call_with_headers(args, method, path, body)[0]


def _call_with_headers(
    args: argparse.Namespace, method: str, path: str, body: Any = None
) -> tuple[Any, Mapping[str, str]]:
    """The API's answer and its headers (a list's X-Total-Count, say)."""
    from contract.http import HttpError, JsonClient

    token = os.environ.get("GATEWATCH_TOKEN")
    if not token:
        raise ApiError("set GATEWATCH_TOKEN to your access token")
    client = JsonClient(args.url, token, timeout_s=30)
    try:
        return client.call_with_headers(method, path, body)
    except HttpError as e:
        raise ApiError(_error_text(args, e)) from e
    finally:
        client.close()


def _error_text(args: argparse.Namespace, e: HttpError) -> str:
    """A 404 says what is missing ("no such person: <id>", and in the site's language); other
    failures keep the method, path and status."""
    if e.status != 404:
        return str(e)
    site: CliSite | None = getattr(args, "site_cache", None)
    pid = e.detail.removeprefix("no such person: ")
    if site is not None and pid != e.detail and site.locale != "en":
        return f"{site.t('error.no_such_person', id=pid)} ({e.detail})"
    return str(e.detail)


def _site(args: argparse.Namespace) -> CliSite:
    """The site's language and time zone (``GET /api/site``), asked once per command."""
    site: CliSite | None = getattr(args, "site_cache", None)
    if site is None:
        site = args.site_cache = site_of(lambda path: _call(args, "GET", path))
    return site


def _out(args: argparse.Namespace, obj: Any, text: str) -> int:
    print(json.dumps(obj, indent=1) if args.json else text)
    return 0


class Ambiguous(ApiError):
    """A name several people share, asked without a terminal or --pick: the list was printed."""


def _match_line(s: CliSite, i: int, p: dict[str, Any]) -> str:
    where = [s.t("common.building_n", n=p["building"])] if p.get("building") else []
    where += [s.t("elders.unit_n", n=p["unit"])] if p.get("unit") else []
    age = s.t("elders.age_n", n=p["age"]) if p.get("age") is not None else ""
    return s.t("cli.pick_row", i=i, name=p["name"], where=" ".join(where) or s.label("role",
               p.get("role")), age=age, id=p["id"])  # fmt: skip


def _person_id(args: argparse.Namespace, asked: str) -> str:
    """The person id for ``asked``: an id as it is, a name looked up (``/api/persons/find``,
    audited); several people of that name: the officer chooses (``--pick N``, else asked on a
    terminal; without one the list is printed and the command fails)."""
    if re.fullmatch(ID_PATTERN, asked):
        return asked
    s = _site(args)
    found = _call(args, "GET", f"/api/persons/find?{urllib.parse.urlencode({'q': asked})}")
    same = [p for p in found if p["name"] == asked] or found
    if not same:
        raise ApiError(s.t("cli.pick_none", q=asked))
    if len(same) == 1:
        return same[0]["id"]
    rows = [_match_line(s, i, p) for i, p in enumerate(same, 1)]
    pick = getattr(args, "pick", None)
    if pick is None and sys.stdin.isatty():
        print("\n".join([s.t("cli.pick_matches", n=len(same), q=asked), *rows]))
        try:
            answer = input(s.t("cli.pick_prompt", n=len(same), q=asked)).strip()
        except EOFError:  # Ctrl-D: no choice
            answer = ""
        pick = int(answer) if answer.isdigit() else 0
    elif pick is None:
        print("\n".join([s.t("cli.pick_list", n=len(same), q=asked), *rows]))
        raise Ambiguous(s.t("cli.pick_list", n=len(same), q=asked).rstrip("：:"))
    if not 1 <= pick <= len(same):
        raise ApiError(s.t("cli.pick_bad", i=pick, n=len(same)))
    return same[pick - 1]["id"]


def cmd_trajectory(args: argparse.Namespace) -> int:
    s = _site(args)
    pid = _person_id(args, args.identity)
    q = urllib.parse.urlencode({"since": args.since, "reason": args.reason})
    t = _call(args, "GET", f"/api/trajectory/{urllib.parse.quote(pid)}?{q}")
    w = t["whereabouts"]
    lines = [
        f"{s.local(p['ts'])}  {s.label('direction', p['direction'])}  "
        f"{s.where(p['gate'], p['camera'])}"
        for p in t["passages"]
    ]
    where = (
        s.t(
            "cli.last_seen",
            time=s.local(w["last_seen"]),
            place=s.where(w["gate"], w["camera"]),
            where=s.inside(w["inside"]),
            since=s.local(w["since"]),
        )  # fmt: skip
        if w["last_seen"]
        else s.t("cli.never_seen")
    )
    return _out(args, t, "\n".join([*lines, where]))


def cmd_search(args: argparse.Namespace) -> int:
    s = _site(args)
    if args.action == "raise":
        pid = _person_id(args, args.person)
        a = _call(args, "POST", "/api/searches", {"person_id": pid, "reason": args.reason})
        answer = (
            s.t("cli.believed", where=s.inside(a.get("believed_inside")))
            if a.get("seen_last_48h")
            else s.t("cli.not_seen_48h")
        )
        return _out(args, a, s.t("cli.search_raised", id=a["search_id"], answer=answer))
    if args.action == "list":
        rows = _call(args, "GET", "/api/searches?state=active")
        text = "\n".join(
            s.t(
                "cli.search_row",
                id=r["id"],
                time=s.local(r["created"]),
                who=r["person_id"] or s.t("cli.photo"),
                reason=r["reason"],
            )  # fmt: skip
            for r in rows
        )
        return _out(args, rows, text or s.t("cli.no_searches"))
    body = {"note": args.note} if args.note else None
    a = _call(args, "POST", f"/api/searches/{urllib.parse.quote(args.search_id)}/close", body)
    n = len(a["sightings"])
    if args.note:
        return _out(args, a, s.t("cli.search_closed_note", id=args.search_id, n=n, note=args.note))
    return _out(args, a, s.t("cli.search_closed", id=args.search_id, n=n))


def _alert_line(a: dict[str, Any], s: CliSite) -> str:
    """One alert as the officer reads it: local time, rule, name, state, evidence as text."""
    from server.i18n import text
    from server.watch.alert_text import summary_text

    locale = s.locale

    pid = a["person_id"]
    if a.get("person_name"):
        who = f"{a['person_name']}（{pid}）"
    elif pid.startswith("v-"):
        who = text(locale, "alerts.visitor", id=pid)
    else:
        who = pid
    state = text(locale, f"alert_state.{a['state']}")
    rule = text(locale, f"rule.{a['rule']}")
    head = f"#{a['id']}  {s.local(a['created'])}  {rule}"
    line = f"{head}  {who}  [{state}]  {summary_text(a['summary'], locale, s.tz, s.names)}"
    if a.get("count", 1) > 1:  # repeats merged into this alert
        line += "  " + text(locale, "alerts.cli_count", n=a["count"], time=s.local(a["last_ts"]))
    notes = [f"    {s.local(h['ts'])} {h['user']}: "
             f"{text(locale, 'alert_state.' + h['state'])}{' — ' + h['note'] if h['note'] else ''}"
             for h in a.get("history", [])]  # fmt: skip
    return "\n".join([line, *notes])


def cmd_alerts(args: argparse.Namespace) -> int:
    """List alerts (local time, names, evidence as text), or acknowledge / close one."""
    from server.i18n import text

    s = _site(args)
    locale = s.locale
    if args.action == "ack" and (args.all or len(args.alert_id) > 1):
        return _ack_many(args, locale)
    if args.action in ("ack", "close"):
        if len(args.alert_id) != 1:
            raise ApiError(f"gatewatch alerts {args.action} ID: give the alert's number")
        verb = "acknowledge" if args.action == "ack" else "close"
        body = {"note": args.note} if args.note else None
        c = _call(args, "POST", f"/api/alerts/{args.alert_id[0]}/{verb}", body)
        state = text(locale, f"alert_state.{c['state']}")
        return _out(args, c, text(locale, "alerts.cli_done", id=c["alert_id"], state=state,
                                  by=c["by"]))  # fmt: skip
    q = urllib.parse.urlencode({k: v for k, v in (("state", args.state), ("rule", args.rule),
                                                  ("person", args.person)) if v})  # fmt: skip
    rows = _call(args, "GET", f"/api/alerts?{q}")
    none = text(locale, "alerts.cli_none", state=text(locale, f"alert_state.{args.state}"))
    return _out(args, rows, "\n".join(_alert_line(a, s) for a in rows) or none)


def _ack_many(args: argparse.Namespace, locale: str) -> int:
    """Acknowledge several alerts: the ids given, or (``--all``) every open one matching
    ``--rule`` / ``--person``, after the officer confirms the number (or ``--yes``)."""
    from server.i18n import text

    if args.all and args.alert_id:
        raise ApiError("gatewatch alerts ack: give alert numbers or --all, not both")
    body: dict[str, Any] = {"ids": args.alert_id}
    if args.all:
        # The number to confirm is the server's count (X-Total-Count), not a capped page; the
        # acknowledgement goes no further than the newest id and the time of this count.
        matching = {k: v for k, v in (("rule", args.rule), ("person", args.person)) if v}
        q = urllib.parse.urlencode({**matching, "state": "open", "limit": 1})
        _rows, head = _call_with_headers(args, "GET", f"/api/alerts?{q}")
        total = int(head.get("X-Total-Count", "0"))
        if not total:
            return _out(args, {"acknowledged": 0, "ids": []}, text(locale, "alerts.confirm_none"))
        if not args.yes:
            if not sys.stdin.isatty():
                raise ApiError(text(locale, "alerts.cli_need_yes", n=total))
            question = text(locale, "alerts.confirm_all", n=total)
            if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
                return 1
        body = {"matching": {**matching, "upto_id": int(head["X-Newest-Id"])},
                "upto_ts": head["X-Listed-At"]}  # fmt: skip
    if args.note:
        body["note"] = args.note
    r = _call(args, "POST", "/api/alerts/acknowledge", body)
    said = text(locale, "alerts.cli_acked", n=r["acknowledged"], by=r["by"])
    if r.get("skipped"):
        said += "\n" + text(locale, "alerts.cli_skipped", n=r["skipped"])
    return _out(args, r, said)


def cmd_users(args: argparse.Namespace) -> int:
    """API users (admin): list, add, revoke, rotate a token."""
    s = _site(args)
    if args.action == "list":
        rows = _call(args, "GET", "/api/users")
        text = "\n".join(
            s.t(
                "cli.user_row",
                name=u["name"],
                role=s.label("cli.user_role", u["role"]),
                state=s.t("cli.user_revoked" if u["disabled"] else "cli.user_active"),
                expires=s.t("cli.expires", time=s.local(u["expires"]))
                if u["expires"]
                else s.t("cli.never_expires"),
            )  # fmt: skip
            for u in rows
        )
        return _out(args, rows, text)
    if args.action == "add":
        body = {"name": args.name, "role": args.role, "expires_days": args.days}
        u = _call(args, "POST", "/api/users", body)
        role = s.label("cli.user_role", u["role"])
        return _out(args, u, s.t("cli.user_added", name=u["name"], role=role, token=u["token"]))
    name = urllib.parse.quote(args.name)
    if args.action == "revoke":
        r = _call(args, "DELETE", f"/api/users/{name}")
        return _out(args, r, s.t("cli.user_revoked_done", name=args.name))
    u = _call(args, "POST", f"/api/users/{name}/token")
    return _out(args, u, s.t("cli.user_rotated", name=u["name"], token=u["token"]))


def _register_users(sub: argparse._SubParsersAction, client: Any) -> None:  # noqa: ANN401
    p = sub.add_parser("users", help=helptext("users"))
    usub = p.add_subparsers(dest="action", required=True)
    for action in ("list", "add", "revoke", "rotate"):
        u = usub.add_parser(action)
        if action != "list":
            u.add_argument("name")
        if action == "add":
            u.add_argument("--role", required=True, choices=["admin", "officer", "viewer", "edge"])
            u.add_argument("--days", type=float, default=None, help="token lifetime")
        client(u)
        u.set_defaults(func=cmd_users)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help=helptext("server"))
    p.add_argument("--config", type=Path, help="server YAML (ServerConfig); required to run")
    p.add_argument("--validate-config", action="store_true")
    p.set_defaults(func=cmd_server, server_parser=p)
    from server.ingest.import_events import register as register_import

    register_import(p.add_subparsers(dest="server_command", metavar="import-events"))

    def client(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=os.environ.get("GATEWATCH_URL", "http://127.0.0.1:8080"),
                       help=helptext("url"))  # fmt: skip
        p.add_argument("--json", action="store_true", help=helptext("json"))

    p = sub.add_parser(
        "trajectory", help=helptext("trajectory"), description=helptext("trajectory")
    )
    p.add_argument("identity", help=helptext("identity"))
    p.add_argument("--since", default="48h", help=helptext("since"))
    p.add_argument("--reason", required=True, help=helptext("reason"))
    p.add_argument("--pick", type=int, metavar="N", help=helptext("pick"))
    client(p)
    p.set_defaults(func=cmd_trajectory)

    p = sub.add_parser("search", help=helptext("search"), description=helptext("search"))
    ssub = p.add_subparsers(dest="action", required=True)
    r = ssub.add_parser("raise", help=helptext("search_raise"))
    r.add_argument("person", help=helptext("identity"))
    r.add_argument("--reason", required=True, help=helptext("reason"))
    r.add_argument("--pick", type=int, metavar="N", help=helptext("pick"))
    client(r)
    r.set_defaults(func=cmd_search)
    ls = ssub.add_parser("list", help=helptext("search_list"))
    client(ls)
    ls.set_defaults(func=cmd_search)
    c = ssub.add_parser("close", help=helptext("search_close"))
    c.add_argument("search_id")
    c.add_argument("--note", help=helptext("note"))
    client(c)
    c.set_defaults(func=cmd_search)

    _register_users(sub, client)

    p = sub.add_parser("alerts", help=helptext("alerts"), description=helptext("alerts"))
    p.add_argument("action", nargs="?", default="list", choices=["list", "ack", "close"])
    p.add_argument("alert_id", nargs="*", type=int)
    p.add_argument("--note", help=helptext("alert_note"))
    p.add_argument("--all", action="store_true", help=helptext("alert_all"))
    p.add_argument("--yes", action="store_true", help=helptext("alert_yes"))
    p.add_argument("--state", default="open",
                   choices=["open", "acknowledged", "resolved", "closed"])  # fmt: skip
    p.add_argument("--rule")
    p.add_argument("--person", help=helptext("alert_person"))
    client(p)
    p.set_defaults(func=cmd_alerts)
