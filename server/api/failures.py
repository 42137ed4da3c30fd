"""Answers for failures that are not the caller's bug: a body with NaN or Infinity (422, not a
500 from echoing it back), and a database that is down or full (503 with Retry-After)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

OUTAGES = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER_S = 10
NON_FINITE = "NaN, Infinity and numbers beyond ±1.8e308 are not valid JSON numbers here"


def outage_detail(e: BaseException) -> str:
    """What the caller is told when the database cannot answer (no SQL, no connection string)."""
    text = str(e).lower()
    if "disk is full" in text or "no space left" in text or "diskfull" in type(e).__name__.lower():
        return f"the database's disk is full; nothing was stored; retry in {RETRY_AFTER_S} s"
    return f"the database is unavailable; nothing was stored; retry in {RETRY_AFTER_S} s"


def outage_body(e: BaseException) -> dict[str, Any]:
    """The 503's JSON: the English detail, and a catalogue key for the pages."""
    detail = outage_detail(e)
    key = "error.disk_full" if detail.startswith("the database's disk is full") else "error.outage"
    return {"detail": detail, "key": key, "values": {"s": RETRY_AFTER_S}}


class _Once:
    """Logs an outage at most once per 30 s (a down database fails every request)."""

    def __init__(self) -> None:
        self.next = 0.0

    def __call__(self, e: BaseException) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + 30
            log.error("database unavailable: %s", str(e).splitlines()[0][:300])


log_outage = _Once()


def outage_response(e: BaseException) -> JSONResponse:
    log_outage(e)
    return JSONResponse(
        outage_body(e),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install(api: FastAPI) -> None:
    """Register the handlers on ``api``."""

    async def invalid(_request: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, RequestValidationError)
        return JSONResponse({"detail": finite_errors(e.errors())}, status_code=422)

    async def outage(_request: Request, e: Exception) -> JSONResponse:
        return outage_response(e)

    api.add_exception_handler(RequestValidationError, invalid)
    for kind in OUTAGES:
        api.add_exception_handler(kind, outage)


def finite_errors(errors: Any) -> Any:  # noqa: ANN401
    """FastAPI's validation errors, with non-finite numbers in the echoed input written as text
    (JSON has no NaN) and the message saying why."""
    out = []
    for err in jsonable_encoder(errors, custom_encoder={float: _float}):
        if isinstance(err, dict) and _has_non_finite(err.get("input")):
            err = {**err, "msg": f"{err.get('msg', 'invalid')} ({NON_FINITE})"}
        out.append(_strip(err))
    return out


_MARK = "\x00nonfinite:"


def _float(x: float) -> Any:  # noqa: ANN401
    return x if math.isfinite(x) else f"{_MARK}{x}"


def _has_non_finite(v: Any) -> bool:  # noqa: ANN401
    if isinstance(v, str):
        return v.startswith(_MARK)
    if isinstance(v, dict):
        return any(_has_non_finite(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_non_finite(x) for x in v)
    return False


def _strip(v: Any) -> Any:  # noqa: ANN401
    if isinstance(v, str) and v.startswith(_MARK):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[v[len(_MARK) :]]
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v
