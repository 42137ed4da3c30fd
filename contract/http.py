"""The one JSON client of the server's HTTP API (enroll, the officer CLI, the demo), on httpx."""

from __future__ import annotations

from typing import Any

import httpx


class HttpError(Exception):
    """A call to the server failed: ``status`` is the HTTP status, or None if none answered."""

    def __init__(
        self, method: str, path: str, status: int | None, detail: str, base_url: str = ""
    ) -> None:
        self.method, self.path, self.status, self.detail = method, path, status, detail
        self.base_url = base_url
        super().__init__(
            f"{method} {path}: {status} {detail}"
            if status is not None
            else f"cannot reach {base_url or 'the server'}: {detail}"
        )


def _detail(r: httpx.Response) -> str:
    """FastAPI's ``{"detail": ...}`` if the body has one, else the reason phrase."""
    try:
        body = r.json()
    except ValueError:
        return r.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's request validation: one line per bad field
        return "; ".join(
            f"{'.'.join(str(x) for x in d.get('loc', []))}: {d.get('msg')}"
            if isinstance(d, dict)
            else str(d)
            for d in detail
        )
    return str(detail) if detail is not None else r.reason_phrase


class JsonClient:
    """Bearer-token calls to one server; JSON in and out, every failure an :class:`HttpError`."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        if not token:
            raise ValueError("a client of the API needs a token")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content: tuple[bytes, str] | None = None,
    ) -> httpx.Response:
        """``body`` goes as JSON; ``content`` as raw bytes with their content type."""
        try:
            if content is not None:
                data, ctype = content
                r = self._http.request(
                    method, path, content=data, params=params, headers={"Content-Type": ctype}
                )
            else:
                r = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as e:
            raise HttpError(method, path, None, str(e) or type(e).__name__, self.base_url) from e
        if r.is_error:
            raise HttpError(method, path, r.status_code, _detail(r), self.base_url)
        return r

    def call(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer (None for an empty body)."""
        return self.call_with_headers(method, path, body, params)[0]

    def call_with_headers(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> tuple[Any, httpx.Headers]:
        """The decoded JSON answer (None for an empty body) and the answer's headers (a list's
        total, say)."""
        r = self._send(method, path, body, params)
        if not r.content:
            return None, r.headers
        try:
            return r.json(), r.headers
        except ValueError as e:
            raise HttpError(method, path, r.status_code, "answer is not JSON", self.base_url) from e

    def get_bytes(self, path: str) -> bytes:
        """The raw body of a GET (a gallery snapshot, say)."""
        return self._send("GET", path).content

    def put_bytes(self, path: str, data: bytes, content_type: str) -> Any:
        """PUT raw bytes (a JPEG, say); the decoded JSON answer (None for an empty body)."""
        r = self._send("PUT", path, content=(data, content_type))
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError as e:
            raise HttpError("PUT", path, r.status_code, "answer is not JSON", self.base_url) from e

    def close(self) -> None:
        self._http.close()
