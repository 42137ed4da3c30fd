"""See a face (issue 18): passage crops asked of the gate machines on demand (MQTT 5
request/response, cached in memory only), watchlist crops pushed by the edges and kept."""
