"""Z.ai Coding Plan usage windows, and the rate-limit headers Codex shows them through.

Z.ai's monitor API (`GET /api/monitor/usage/quota/limit`) reports each window as
`{"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": 12, "nextResetTime": ms}`
(a 5-hour token window).  Codex reads `x-codex-primary-*` / `x-codex-secondary-*` response
headers into the session's rate limits (`/status` in the TUI), so the two token windows,
shortest first, become primary and secondary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# unit code -> (minutes per unit, noun, adjective)
_UNITS: dict[int, tuple[int, str, str]] = {
    1: (24 * 60, "day", "daily"),
    3: (60, "hour", "hourly"),
    5: (30 * 24 * 60, "month", "monthly"),
    6: (7 * 24 * 60, "week", "weekly"),
}
TOKENS = "TOKENS_LIMIT"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True)
class QuotaWindow:
    kind: str  # TOKENS_LIMIT, TIME_LIMIT (MCP tool calls), ...
    unit: int | None
    number: float | None
    used_percent: float | None
    used: float | None
    total: float | None
    resets_at: float | None  # unix seconds

    @property
    def minutes(self) -> int | None:
        unit = _UNITS.get(int(self.unit)) if self.unit is not None else None
        if unit is None:
            return None
        return int(unit[0] * (self.number or 1))

    @property
    def name(self) -> str:
        """"5-hour", "weekly", or "usage" when the unit is unknown."""
        unit = _UNITS.get(int(self.unit)) if self.unit is not None else None
        if unit is None:
            return "usage"
        if self.number is None or self.number == 1:
            return unit[2]
        return f"{self.number:g}-{unit[1]}"


def parse_quota(data: Mapping[str, Any]) -> list[QuotaWindow]:
    """The windows in the `data` object of a quota answer; malformed entries are skipped."""
    windows = []
    for limit in data.get("limits") or ():
        if not isinstance(limit, Mapping):
            continue
        used, total = _number(limit.get("currentValue")), _number(limit.get("usage"))
        percent = _number(limit.get("percentage"))
        if percent is None and used is not None and total:
            percent = 100 * used / total
        reset_ms = _number(limit.get("nextResetTime"))
        unit = _number(limit.get("unit"))
        windows.append(QuotaWindow(
            kind=str(limit.get("type") or ""),
            unit=int(unit) if unit is not None else None,
            number=_number(limit.get("number")),
            used_percent=percent,
            used=used,
            total=total,
            resets_at=reset_ms / 1000 if reset_ms and reset_ms > 0 else None,
        ))
    return windows


def codex_rate_limit_headers(windows: list[QuotaWindow]) -> dict[str, str]:
    """`x-codex-{primary,secondary}-*` headers for the token windows, shortest first."""
    tokens = sorted((w for w in windows if w.kind == TOKENS and w.used_percent is not None),
                    key=lambda w: w.minutes if w.minutes is not None else 1 << 30)
    headers: dict[str, str] = {}
    for slot, window in zip(("primary", "secondary"), tokens):
        headers[f"x-codex-{slot}-used-percent"] = f"{window.used_percent:g}"
        if window.minutes is not None:
            headers[f"x-codex-{slot}-window-minutes"] = str(window.minutes)
        if window.resets_at is not None:
            headers[f"x-codex-{slot}-reset-at"] = str(int(window.resets_at))
    return headers
