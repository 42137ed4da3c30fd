"""gatewatch enroll (built by a later issue)."""
