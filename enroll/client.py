"""A small client of the server's API for the reception desk (token from the environment)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any


class EnrollError(Exception):
    """A refusal or failure the staff can act on; the message says why."""


class Api:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token or os.environ.get("GATEWATCH_TOKEN")
        if not self.token:
            raise EnrollError("set GATEWATCH_TOKEN to an admin token (or pass --token-file)")

    def call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                payload = r.read()
                return payload if raw else json.loads(payload or b"null")
        except urllib.error.HTTPError as e:
            try:
                detail = json.loads(e.read() or b"{}").get("detail", e.reason)
            except ValueError:
                detail = e.reason
            if e.code == 404 and method == "GET":
                return None
            raise EnrollError(f"server refused {method} {path}: {e.code} {detail}") from e
        except urllib.error.URLError as e:
            raise EnrollError(f"cannot reach the server at {self.url}: {e.reason}") from e
