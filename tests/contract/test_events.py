"""Search orders: no priority field; one retained by an older server still parses."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contract.events import SearchOrder


def test_an_order_has_no_priority_and_an_old_one_still_parses() -> None:
    order = SearchOrder(search_id="s-1", person_id="p-ada")
    assert "priority" not in json.loads(order.to_json())
    old = b'{"schema_version":1,"search_id":"s-1","person_id":"p-ada","priority":"urgent"}'
    assert SearchOrder.model_validate_json(old) == order


def test_an_unknown_priority_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="priority"):
        SearchOrder.model_validate({"search_id": "s-1", "person_id": "p", "priority": "low"})
