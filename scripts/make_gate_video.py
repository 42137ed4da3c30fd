#!/usr/bin/env python3
"""Write a gate-camera video from real photos (see gatewatch/gatevideo.py for the options)."""

from gatewatch.gatevideo import main

if __name__ == "__main__":
    raise SystemExit(main())
