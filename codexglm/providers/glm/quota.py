"""The Coding Plan's usage windows from Z.ai's monitor API.

`GET /api/monitor/usage/quota/limit` answers `{"success": true, "data": {"limits": [...]}}`
with each window as `{"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 12,
"nextResetTime": ms}` (a 5-hour token window).  The parser is total: an answer of any
shape yields the windows it can read and never raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..base import TOKENS_WINDOW, QuotaWindow

# unit code -> (minutes per unit, noun, adjective)
_UNITS: dict[int, tuple[int, str, str]] = {
    1: (24 * 60, "day", "daily"),
    3: (60, "hour", "hourly"),
    5: (30 * 24 * 60, "month", "monthly"),
    6: (7 * 24 * 60, "week", "weekly"),
}
_TOKENS = "TOKENS_LIMIT"
# Nothing real lasts longer than this; bigger numbers are garbage, not windows.
_MAX_NUMBER = 1e6
_MAX_RESET_MS = 1e14


def _number(value: Any, limit: float = _MAX_NUMBER) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= limit else None


def _window(limit: Mapping[str, Any]) -> QuotaWindow:
    used, total = _number(limit.get("currentValue"), 1e18), _number(limit.get("usage"), 1e18)
    percent = _number(limit.get("percentage"))
    if percent is None and used is not None and total:
        percent = 100 * used / total
    reset_ms = _number(limit.get("nextResetTime"), _MAX_RESET_MS)
    unit_code = _number(limit.get("unit"))
    number = _number(limit.get("number"))
    unit = _UNITS.get(int(unit_code)) if unit_code is not None else None
    if unit is None:
        minutes, name = None, "usage"
    else:
        minutes = int(unit[0] * (number or 1))
        name = unit[2] if number is None or number == 1 else f"{number:g}-{unit[1]}"
    return QuotaWindow(
        kind=TOKENS_WINDOW if limit.get("type") == _TOKENS else str(limit.get("type") or ""),
        minutes=minutes,
        name=name,
        used_percent=percent,
        used=used,
        total=total,
        resets_at=reset_ms / 1000 if reset_ms and reset_ms > 0 else None,
    )


def parse_quota(document: Any) -> list[QuotaWindow]:
    """The windows of a monitor-API answer; malformed answers and entries yield nothing."""
    if not isinstance(document, Mapping) or document.get("success") is not True:
        return []
    data = document.get("data")
    limits = data.get("limits") if isinstance(data, Mapping) else None
    if not isinstance(limits, list):
        return []
    return [_window(limit) for limit in limits if isinstance(limit, Mapping)]
