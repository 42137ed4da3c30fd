"""gatewatch server: the compound's system of record: ingest, store, elder watch, searches, API."""
