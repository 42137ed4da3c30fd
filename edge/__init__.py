"""gatewatch edge: the gate process (one per camera): capture, detect, track, decide, publish."""
