"""Ingest: the MQTT bus (passages, status, captures in; acks, orders, alerts out), the batches it
stores, and passages imported from an edge's exported outbox."""
