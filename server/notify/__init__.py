"""Alerts pushed to where people already are: WeCom and DingTalk group robots, signed webhooks.

An alert becomes one outbox row per channel that wants it (``Notifier.on_alert_raised``); a
sender delivers each channel's rows in order, rate-limited, retrying with capped exponential
backoff, and records every attempt. See config.py for the settings.
"""
