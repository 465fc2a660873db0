"""The words of `codexglm usage`: how rows are grouped and how a time range is named."""

from __future__ import annotations

from typing import Literal

Grouping = Literal["day", "model", "session", "provider"]
GROUPINGS: tuple[Grouping, ...] = ("day", "model", "session", "provider")
SINCE_WORDS = ("5h", "today", "7d", "30d", "window")
SINCE_HELP = "5h, today, 7d, 30d, window (the current plan window), or any Nh / Nd"
