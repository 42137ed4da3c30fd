"""gatewatch server (built by a later issue)."""
