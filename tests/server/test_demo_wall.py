"""The demo's wall screen: its address and token printed, a browser only where a display is, and
``demo --check``'s look at /wall and its numbers against a real server fed through the ingest."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from gatewatch.demo_wall import banner, has_display, open_wall, wall_problems
from tests.mqtt_helpers import connect, wait_until
from tests.server.conftest import passage


def test_the_banner_names_the_wall_and_the_viewer_token() -> None:
    b = banner("http://127.0.0.1:8123", "tok-123")
    assert "http://127.0.0.1:8123/wall" in b and "tok-123" in b
    assert b.splitlines()[0] == b.splitlines()[-1] == "=" * 72


@pytest.mark.parametrize(
    ("env", "platform", "shown"),
    [
        ({"CI": "true", "DISPLAY": ":0"}, "linux", False),
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"DISPLAY": ":0", "GATEWATCH_NO_BROWSER": "1"}, "linux", False),
        ({}, "darwin", True),
        ({"CI": "1"}, "win32", False),
    ],
)
def test_a_browser_only_where_a_window_can_appear(env, platform, shown) -> None:  # noqa: ANN001
    assert has_display(env, platform) is shown


def test_headless_the_demo_says_so_and_opens_nothing() -> None:
    assert open_wall("http://127.0.0.1:1", {"CI": "true"}).startswith("no display here")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_check_finds_the_wall_and_its_numbers_right_and_wrong(server, broker, http_url) -> None:
    site, now = server.cfg.site, datetime.now(UTC)
    ps = [
        passage(site, 1, "p-a", "in", now - timedelta(seconds=30)),
        passage(site, 2, "p-b", "out", now - timedelta(seconds=20), role="courier"),
        passage(site, 3, "p-a", "out", now - timedelta(seconds=10)),
    ]
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    for p in ps:
        pub.publish(server.topics.events(p.gate), p.to_json(), qos=1)
    wait_until(lambda: server.store.count_events() == len(ps), 120, "the ingest")
    pub.loop_stop()
    pub.disconnect()
    seen = [p.model_dump(mode="json") for p in ps]
    viewer = server.tokens["viewer"]
    assert wall_problems(http_url, viewer, seen) == []
    missing = passage(site, 4, "p-c", "in", now)  # the demo saw it, the server never got it
    [problem] = wall_problems(http_url, viewer, [*seen, missing.model_dump(mode="json")])
    assert "board counts" in problem and "'resident': 3" in problem
    assert wall_problems(http_url, "not-a-token", seen) == [
        "GET /api/site as the viewer answered 401"
    ]
