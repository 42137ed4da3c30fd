"""Errors that carry a catalogue key: the pages show them in the page's language.

The answer keeps a readable English ``detail`` for API clients and adds ``key`` (a catalogue key,
server/i18n) and ``values`` (its placeholders, raw ids: the page names roles itself).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException


class Refused(HTTPException):
    """An HTTP error with its catalogue key and values besides the English detail."""

    def __init__(self, status: int, detail: str, key: str, **values: Any) -> None:  # noqa: ANN401
        super().__init__(status, detail)
        self.key = key
        self.values = values


def body(detail: str, e: Exception) -> dict[str, Any]:
    """{detail, key, values} for an exception that has a key, else {detail}."""
    key = getattr(e, "key", None)
    return (
        {"detail": detail, "key": key, "values": getattr(e, "values", {})}
        if key
        else {"detail": detail}
    )


async def http_errors(request: Request, e: Exception) -> Response:
    """FastAPI's answer to an HTTPException, with the key and values of a ``Refused``."""
    if isinstance(e, Refused):
        return JSONResponse(body(str(e.detail), e), status_code=e.status_code, headers=e.headers)
    assert isinstance(e, StarletteHTTPException)
    return await http_exception_handler(request, e)
