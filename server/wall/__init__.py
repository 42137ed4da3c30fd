"""Wall: the police room's public screen (counts, gates, alerts, masked names)."""
