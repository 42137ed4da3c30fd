"""Edge parts on their own: visitor expiry, the example config, topic builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.topics import Topics
from edge.config import load_edge_config
from edge.visitors import VisitorGallery
from models.imageio import read_image
from tests.conftest import FACES

ROOT = Path(__file__).resolve().parents[2]


def test_visitor_ids_follow_a_face_and_expire(engine) -> None:
    def emb(p: str) -> np.ndarray:
        return engine.analyze(read_image(FACES / p))[0].embedding

    v = VisitorGallery(engine.dim, engine.threshold, expiry_s=100, max_visitors=10)
    a, score = v.match_or_add(emb("bbt_sheldon/1.jpg"), now=0)
    assert score is None and a.startswith("v-")
    again, score = v.match_or_add(emb("bbt_sheldon/2.jpg"), now=50)
    assert again == a and score >= engine.threshold
    other, _ = v.match_or_add(emb("alex_lacamoire/1.jpg"), now=60)
    assert other != a
    # Seen at 50: kept until 150, then forgotten; a new id after that.
    assert v.expire(now=149) == 0
    assert v.expire(now=161) == 2
    later, _ = v.match_or_add(emb("bbt_sheldon/1.jpg"), now=200)
    assert later != a


def test_the_example_gate_config_is_valid() -> None:
    cfg = load_edge_config(ROOT / "configs/gate.yaml")
    assert cfg.mqtt.tls and cfg.mqtt.password_env == "GATEWATCH_MQTT_PASSWORD"


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "", "x" * 65])
def test_topic_ids_cannot_escape_their_level(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics("s1").events(bad)


def test_topic_parsing_round_trip() -> None:
    t = Topics("s1")
    assert t.gate_of(t.events("north")) == "north"
    assert t.gate_of("gatewatch/s2/gates/north/events") is None
    assert t.search_id_of(t.search("s-9")) == "s-9"
