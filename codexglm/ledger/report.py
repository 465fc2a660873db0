"""What the ledger says to people: `codexglm usage` (table, bars, JSON, CSV) and the exit line."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Sequence
from datetime import datetime

from ..providers.base import TOKENS_WINDOW, QuotaWindow
from .entry import RunTally, Totals
from .store import DAY_SECONDS, Report
from .terms import SINCE_HELP, Grouping

WIDTH = 80
_SPAN = re.compile(r"(\d{1,5})([hd])")
_EIGHTHS = " ▏▎▍▌▋▊▉"
_FULL = "█"


class SinceError(ValueError):
    """A --since value that names no time range (the message says what would)."""


def since_start(value: str, now: float, windows: Sequence[QuotaWindow] | None) -> float:
    """The unix time a --since VALUE starts at; `window` needs the plan's windows."""
    if value == "today":
        return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    if value == "window":
        start = current_window_start(windows or (), now)
        if start is None:
            raise SinceError(
                "no current plan window is known yet: it is learnt from the provider's usage API "
                "while codexglm runs with a plan key; use --since 5h instead"
            )
        return start
    match = _SPAN.fullmatch(value)
    if match is None:
        raise SinceError(f"--since must be {SINCE_HELP}, not {value!r}")
    amount, unit = int(match.group(1)), match.group(2)
    return now - amount * (3600 if unit == "h" else DAY_SECONDS)


def current_window_start(windows: Sequence[QuotaWindow], now: float) -> float | None:
    """When the shortest token window that has not reset yet began."""
    live = [w for w in windows if w.kind == TOKENS_WINDOW and w.minutes and w.resets_at and w.resets_at > now]
    if not live:
        return None
    window = min(live, key=lambda w: w.minutes or 0)
    assert window.minutes is not None and window.resets_at is not None
    return window.resets_at - window.minutes * 60


# --- numbers ---------------------------------------------------------------------------------


def compact(number: int) -> str:
    """12, 4.5k, 12.3M: short enough for a table column."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if number >= limit:
            value = number / limit
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return str(number)


def dollars(amount: float) -> str:
    if amount == 0:
        return "$0"
    return f"${amount:.4f}" if amount < 0.01 else f"${amount:.2f}"


# --- codexglm usage --------------------------------------------------------------------------


def report_json(report: Report, by: Grouping, since: float) -> str:
    rows = [{by: group.key, **group.totals.as_json()} for group in report.groups]
    windows = [
        {"name": w.name, "minutes": w.minutes, "used_percent": w.used_percent,
         "resets_at": _iso(w.resets_at) if w.resets_at else None}
        for w in _token_windows(report.windows)
    ]
    document = {
        "since": _iso(since),
        "by": by,
        "totals": report.totals.as_json(),
        "rows": rows,
        "plan_windows": windows,
        "plan_windows_seen": _iso(report.windows_seen) if report.windows_seen else None,
    }
    return json.dumps(document, indent=2)


def report_csv(report: Report, by: Grouping) -> str:
    out = io.StringIO()
    columns = list(Totals().as_json())
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *columns])
    for group in report.groups:
        values = group.totals.as_json()
        writer.writerow([group.key, *(values[name] for name in columns)])
    return out.getvalue()


def report_table(report: Report, by: Grouping, since_label: str, *, color: bool, now: float | None = None) -> str:
    """A table with one row per group and a bar of its tokens, within WIDTH columns, and
    the plan's windows as last seen."""
    # Keys take what they need (days 10, sessions and models up to 18), bars the rest.
    key_width = min(18, max([len(by), len("total"), *(len(group.key) for group in report.groups)]))
    header = f"{by.upper():<{key_width}} {'REQS':>5} {'INPUT':>7} {'CACHED':>7} {'OUTPUT':>7} {'COST':>8} {'PLAN':>8}"
    bar_width = WIDTH - len(header) - 2
    biggest = max((_tokens(group.totals) for group in report.groups), default=0)
    lines = [f"codexglm usage, {since_label}, by {by}", "", header]
    for group in report.groups:
        bar = _bar(_tokens(group.totals), biggest, bar_width)
        if color and bar:
            bar = f"\x1b[36m{bar}\x1b[0m"
        lines.append(f"{_row(_fit(group.key, key_width, by), group.totals, key_width)}  {bar}".rstrip())
    lines.append(_row("total", report.totals, key_width))
    notes = []
    if report.totals.plan_usd:
        notes.append("PLAN: list-price value of usage your plan covers (not billed)")
    if report.totals.failed:
        notes.append(f"{report.totals.failed} failed request(s) included, each counted once")
    if report.totals.unpriced:
        notes.append(f"{report.totals.unpriced} request(s) on models without a known price")
    if not report.groups:
        notes.append("no requests in this range")
    windows = _token_windows(report.windows)
    if windows and report.windows_seen:
        now = time.time() if now is None else now
        seen = _clock(report.windows_seen, now)
        notes.append(f"plan windows as of {seen}:")
        notes += [f"  {_window_text(w, now)}" for w in windows]  # one a line: two would pass 80 columns
    return "\n".join(lines + [""] * bool(notes) + notes)


def _row(key: str, totals: Totals, key_width: int) -> str:
    return (
        f"{key:<{key_width}} {totals.requests:>5} {compact(totals.input_tokens):>7} "
        f"{compact(totals.cached_input_tokens):>7} {compact(totals.output_tokens):>7} "
        f"{dollars(totals.cost_usd):>8} {dollars(totals.plan_usd):>8}"
    )


def _tokens(totals: Totals) -> int:
    return totals.input_tokens + totals.output_tokens


def _fit(key: str, width: int, by: Grouping) -> str:
    if len(key) <= width:
        return key
    # Session ids are UUIDv7: the leading characters are a timestamp, the tail tells them apart.
    return "…" + key[-(width - 1):] if by == "session" else key[: width - 1] + "…"


def _bar(value: int, biggest: int, width: int) -> str:
    if biggest <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / biggest * width * 8))
    full, part = divmod(eighths, 8)
    return _FULL * full + (_EIGHTHS[part] if part else "")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().isoformat(timespec="seconds")


# --- the exit line ---------------------------------------------------------------------------


def exit_line(tally: RunTally, now: float | None = None) -> str | None:
    """One line about this run for stderr, or None when nothing ran."""
    totals = tally.totals
    if totals.requests == 0 and tally.session_id is None:
        return None
    now = time.time() if now is None else now
    parts = [
        f"{totals.requests} request{'s' * (totals.requests != 1)}",
        f"{compact(totals.input_tokens)} in ({compact(totals.cached_input_tokens)} cached), "
        f"{compact(totals.output_tokens)} out",
    ]
    costs = []
    if totals.cost_usd or not totals.plan_usd:
        costs.append(f"≈{dollars(totals.cost_usd)}")
    if totals.plan_usd:
        costs.append(f"plan usage worth ≈{dollars(totals.plan_usd)}")
    if totals.unpriced:
        costs.append(f"{totals.unpriced} on models without a known price")
    parts.append(" + ".join(costs))
    windows = [_window_text(w, now) for w in _token_windows(tally.windows)]
    if windows:
        parts.append("plan " + ", ".join(windows))
    if tally.session_id:
        parts.append(f"resume: codexglm resume {tally.session_id}")
    return "codexglm: " + " · ".join(parts)


def _token_windows(windows: Sequence[QuotaWindow]) -> list[QuotaWindow]:
    tokens = [w for w in windows if w.kind == TOKENS_WINDOW and w.used_percent is not None]
    return sorted(tokens, key=lambda w: w.minutes or 1 << 30)


def _window_text(window: QuotaWindow, now: float) -> str:
    text = f"{window.name} {window.used_percent:g}%"
    if window.resets_at and window.resets_at > now:
        text += f" (resets {_clock(window.resets_at, now)})"
    return text


def _clock(moment: float, now: float) -> str:
    when, today = datetime.fromtimestamp(moment), datetime.fromtimestamp(now)
    return when.strftime("%H:%M") if when.date() == today.date() else when.strftime("%a %d %b %H:%M")

