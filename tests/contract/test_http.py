"""The one JSON client of the API, against the real server served by uvicorn."""

from __future__ import annotations

import pytest

from contract.http import HttpError, JsonClient
from tests.mqtt_helpers import free_port

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_json_in_and_out_with_the_token(server, http_url: str) -> None:  # noqa: ANN001
    api = JsonClient(http_url, server.tokens["admin"])
    made = api.call("POST", "/api/users", {"name": "desk", "role": "viewer"})
    assert made["name"] == "desk" and made["role"] == "viewer" and len(made["token"]) >= 16
    person = {"id": "p-ada", "name": "Ada", "role": "resident", "birth_date": "1950-01-02"}
    api.call("PUT", "/api/persons/p-ada", person)
    got = api.call("GET", "/api/persons/p-ada", params={"reason": "test"})
    assert (got["id"], got["name"], got["birth_date"]) == ("p-ada", "Ada", "1950-01-02")
    api.close()


@SQLITE_ONLY
def test_raw_bytes_of_a_gallery_snapshot(server, http_url: str) -> None:  # noqa: ANN001
    from models.gallery import Gallery

    api = JsonClient(http_url, server.tokens["admin"])
    version = api.call("POST", "/api/gallery/publish")["version"]
    raw = api.get_bytes(f"/api/gallery/{version}")
    g = Gallery.from_bytes(raw, f"gallery v{version}", server.face.model_id)
    assert g.version == version


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("role", "method", "path", "status", "detail"),
    [
        ("viewer", "POST", "/api/users", 403, "role viewer may not do this (needs admin)"),
        ("admin", "GET", "/api/persons/p-none?reason=test", 404, "no person p-none"),
        ("admin", "GET", "/api/trajectory/p-x?since=soon&reason=test", 400, "since='soon'"),
        (
            "admin",
            "GET",
            "/api/persons/p-none?reason=t",
            422,
            "query.reason: String should have at least 2 characters",  # 家属 is a reason
        ),
        ("bogus", "GET", "/api/persons", 401, "unknown or disabled token"),
    ],
)
def test_a_refusal_is_one_typed_error_with_status_and_detail(
    server,
    http_url: str,
    role: str,
    method: str,
    path: str,
    status: int,
    detail: str,  # noqa: ANN001
) -> None:
    token = server.tokens.get(role, "not-a-token")
    with pytest.raises(HttpError) as e:
        JsonClient(http_url, token).call(method, path, {"name": "x", "role": "viewer"})
    assert e.value.status == status
    assert e.value.detail.startswith(detail)
    assert str(e.value) == f"{method} {path}: {status} {e.value.detail}"


def test_no_server_is_an_error_without_a_status() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HttpError, match=f"cannot reach {url}") as e:
        JsonClient(url, "t", timeout_s=5).call("GET", "/api/health")
    assert e.value.status is None


def test_a_client_without_a_token_is_a_caller_mistake() -> None:
    with pytest.raises(ValueError, match="token"):
        JsonClient("http://127.0.0.1:1", "")
