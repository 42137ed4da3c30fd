"""Active missing-person searches, as the retained orders on ``.../searches/<id>`` say."""

from __future__ import annotations

import logging
import threading

from contract.events import SearchOrder
from models.engine import embedding_space

log = logging.getLogger(__name__)


class SearchRegistry:
    """Written by paho's thread (orders in), read by the frame loop (a copy per frame)."""

    def __init__(self, model_id: str, name: str) -> None:
        self.model_id = model_id
        self.name = name
        self._orders: dict[str, SearchOrder] = {}
        self._lock = threading.Lock()

    def update(self, search_id: str, order: SearchOrder | None) -> None:
        """An order starts or replaces a search; None (an empty retained payload) ends it."""
        with self._lock:
            if order is None:
                if self._orders.pop(search_id, None) is not None:
                    log.info("[%s] search %s ended", self.name, search_id)
                return
            if order.template is not None and (
                order.model_id is None
                or embedding_space(order.model_id) != embedding_space(self.model_id)
            ):
                log.error("[%s] search %s refused: template from model %s, this edge runs %s",
                          self.name, search_id, order.model_id, self.model_id)  # fmt: skip
                return
            self._orders[search_id] = order
            log.info("[%s] search %s active", self.name, search_id)

    def active(self) -> dict[str, SearchOrder]:
        """The searches in force now (a copy: orders may change while a frame is processed)."""
        with self._lock:
            return dict(self._orders)
