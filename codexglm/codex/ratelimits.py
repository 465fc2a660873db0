"""The rate-limit headers through which Codex shows a plan's usage windows.

Codex reads `x-codex-primary-*` / `x-codex-secondary-*` response headers into the
session's rate limits (`/status` in the TUI, the status line), so a provider's two token
windows, shortest first, become primary and secondary.
"""

from __future__ import annotations

from ..providers.base import TOKENS_WINDOW, QuotaWindow


def codex_rate_limit_headers(windows: list[QuotaWindow]) -> dict[str, str]:
    """`x-codex-{primary,secondary}-*` headers for the token windows, shortest first."""
    tokens = sorted((w for w in windows if w.kind == TOKENS_WINDOW and w.used_percent is not None),
                    key=lambda w: w.minutes if w.minutes is not None else 1 << 30)
    headers: dict[str, str] = {}
    for slot, window in zip(("primary", "secondary"), tokens):
        headers[f"x-codex-{slot}-used-percent"] = f"{window.used_percent:g}"
        if window.minutes is not None:
            headers[f"x-codex-{slot}-window-minutes"] = str(window.minutes)
        if window.resets_at is not None:
            headers[f"x-codex-{slot}-reset-at"] = str(int(window.resets_at))
    return headers
