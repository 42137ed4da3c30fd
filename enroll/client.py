"""A small client of the server's API for the reception desk (token from the environment)."""

from __future__ import annotations

import os
from typing import Any

from contract.http import HttpError, JsonClient


class EnrollError(Exception):
    """A refusal or failure the staff can act on; the message says why."""


class Api:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        token = token or os.environ.get("GATEWATCH_TOKEN")
        if not token:
            raise EnrollError("set GATEWATCH_TOKEN to an admin token (or pass --token-file)")
        self._client = JsonClient(self.url, token, timeout_s=120)

    def call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        """The JSON answer (bytes if ``raw``); None for a GET of something that does not exist."""
        try:
            if raw:
                return self._client.get_bytes(path)
            return self._client.call(method, path, body)
        except HttpError as e:
            if e.status == 404 and method == "GET":
                return None
            if e.status is None:
                raise EnrollError(str(e)) from e
            raise EnrollError(f"server refused {e}") from e

    def put_jpeg(self, path: str, jpeg: bytes) -> Any:
        """PUT a JPEG (the reference photo's face crop); the JSON answer."""
        try:
            return self._client.put_bytes(path, jpeg, "image/jpeg")
        except HttpError as e:
            if e.status is None:
                raise EnrollError(str(e)) from e
            raise EnrollError(f"server refused {e}") from e
