"""gatewatch edge (built by a later issue)."""
