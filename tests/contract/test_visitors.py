"""Visitor payloads and topics: what an edge shares, what it tells the server, what is refused;
the message expiry a retained template carries, over a real Mosquitto."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contract.mqtt import expiring, remaining_expiry_s
from contract.topics import Topics
from contract.visitors import VisitorAlias, VisitorMatch, VisitorTemplate
from tests.mqtt_helpers import Broker, connect

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def template(vid: str = "v-0123456789ab", first: datetime = T0, **kw: object) -> VisitorTemplate:
    fields = {"visitor_id": vid, "model_id": "sface:x", "template": [0.25] * 16,
              "first_seen": first, "last_seen": first, "minted_by": "north", **kw}  # fmt: skip
    return VisitorTemplate.model_validate(fields)


def test_topics_of_visitors() -> None:
    t = Topics("compound-1")
    topic = t.visitor("north", "v-0123456789ab")
    assert topic == "gatewatch/compound-1/visitors/north/v-0123456789ab"
    assert t.visitor_of(topic) == ("north", "v-0123456789ab")
    assert t.visitor_of("gatewatch/compound-2/visitors/north/v-0123456789ab") is None
    assert t.visitor_of("gatewatch/compound-1/visitors/v-0123456789ab") is None  # the old form
    assert t.visitor_of(t.search("s-1")) is None
    assert t.all_visitors() == "gatewatch/compound-1/visitors/+/+"
    assert t.sightings("north") == "gatewatch/compound-1/gates/north/sightings"
    assert t.visitor_aliases("north") == "gatewatch/compound-1/gates/north/visitor-aliases"
    with pytest.raises(ValueError, match="visitor_id"):
        t.visitor("north", "v/../#")
    with pytest.raises(ValueError, match="gate"):
        t.visitor("+", "v-0123456789ab")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"visitor_id": "p-ada"}, "visitor_id"),
        ({"template": [2.0] * 16}, "unit vector"),
        ({"template": [0.1] * 4}, "template"),
        ({"last_seen": T0 - timedelta(seconds=1)}, "before first_seen"),
        ({"first_seen": datetime(2019, 1, 1, tzinfo=UTC)}, "outside"),
    ],
)
def test_a_bad_template_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        template(**change)


def test_the_older_id_precedes_then_the_smaller() -> None:
    old, new = template("v-bbbbbbbbbbbb"), template("v-aaaaaaaaaaaa", T0 + timedelta(seconds=1))
    assert old.precedes(new) and not new.precedes(old)
    a, b = template("v-aaaaaaaaaaaa"), template("v-bbbbbbbbbbbb")
    assert a.precedes(b) and not b.precedes(a)


def test_reports_to_the_server_carry_no_template() -> None:
    alias = VisitorAlias(alias="v-bbbbbbbbbbbb", visitor_id="v-aaaaaaaaaaaa", gate="n", ts=T0)
    match = VisitorMatch(search_id="s-1", visitor_id="v-aaaaaaaaaaaa", score=0.5,
                         threshold=0.36, gate="n", ts=T0)  # fmt: skip
    for payload in (alias, match):
        assert "template" not in payload.model_dump()
    with pytest.raises(ValidationError, match="own alias"):
        VisitorAlias(alias="v-aaaaaaaaaaaa", visitor_id="v-aaaaaaaaaaaa", gate="n", ts=T0)


def test_a_retained_template_carries_its_remaining_expiry(broker: Broker) -> None:
    topic = Topics("exp").visitor("north", "v-0123456789ab")
    pub = connect(broker.port, "exp-pub")
    pub.publish(topic, template().to_json(), qos=1, retain=True, properties=expiring(30.2))
    pub.loop_stop()
    pub.disconnect()
    got = []
    sub = connect(broker.port, "exp-sub")
    sub.on_message = lambda c, u, m: got.append(m)
    sub.subscribe(topic, qos=1)
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()
    assert got and got[0].retain
    left = remaining_expiry_s(got[0])
    assert left is not None and 25 <= left <= 31
    with pytest.raises(ValueError, match="positive"):
        expiring(0)
