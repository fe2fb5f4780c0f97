"""Telemetry: summaries, replay, exports, alerts and health of the journal."""

from peaktrade.telemetry.describe import describe, details
from peaktrade.telemetry.summary import summarize, summarize_path

__all__ = ["describe", "details", "summarize", "summarize_path"]
