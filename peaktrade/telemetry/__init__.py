"""Telemetry: summaries, replay, exports, alerts and health of the journal."""
