"""/dashboard: one server-rendered HTML page, no scripts, no build step.

Usage per member and model over the last days as an inline SVG bar chart (one bar per
day, one segment per member and model), each member's budget and what is left, the
Coding Plan's windows as last seen, and the latest failed requests.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

from ..providers.base import QuotaWindow
from .members import Member, period_bounds, utc_text
from .store import TeamStore, UsagePoint

DAYS = 14
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
_CHART_W, _CHART_H, _PAD = 720, 240, 40


@dataclass
class DashboardData:
    members: list[Member]
    spent: dict[str, float]
    usage: list[UsagePoint]
    windows: list[QuotaWindow]
    errors: list[tuple[float, str, str, str]]
    now: float


def collect(store: TeamStore, now: float | None = None) -> DashboardData:
    """Everything the page shows, read in one go (blocking: run it in a thread)."""
    now = time.time() if now is None else now
    members = store.members()
    spent = {m.name: store.spent(m.name, period_bounds(m.period, now)[0]) for m in members}
    saved = store.db.windows()
    return DashboardData(members, spent, store.usage(now - DAYS * 86_400), saved[1] if saved else [], store.recent_errors(), now)


def render(data: DashboardData) -> str:
    return "\n".join(
        [
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>codexglm gateway</title>",
            "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}"
            "td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}td.n{text-align:right}"
            ".legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;"
            "margin-right:4px}</style></head><body>",
            f"<h1>codexglm gateway</h1><p>as of {escape(utc_text(data.now))}</p>",
            "<h2>Usage per member and model, last 14 days (tokens)</h2>",
            _chart(data.usage, data.now),
            "<h2>Budgets</h2>",
            _budgets(data),
            "<h2>Coding Plan windows</h2>",
            _windows(data.windows),
            "<h2>Recent errors</h2>",
            _errors(data.errors),
            "</body></html>",
        ]
    )


def _chart(points: list[UsagePoint], now: float) -> str:
    today = datetime.fromtimestamp(now, timezone.utc).date()
    days = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
    series = sorted({(p.member, p.model) for p in points})
    colour = {key: _PALETTE[i % len(_PALETTE)] for i, key in enumerate(series)}
    per_day: dict[str, list[UsagePoint]] = defaultdict(list)
    for point in points:
        per_day[point.day].append(point)
    peak = max((sum(p.tokens for p in per_day[day]) for day in days), default=0) or 1
    slot = (_CHART_W - _PAD) / DAYS
    parts = [
        f'<svg id="usage-chart" xmlns="http://www.w3.org/2000/svg" width="{_CHART_W}" height="{_CHART_H + 30}" '
        f'role="img" aria-label="tokens per day by member and model">',
        f'<text x="0" y="12" font-size="11">{peak:,}</text><text x="0" y="{_CHART_H}" font-size="11">0</text>',
    ]
    for index, day in enumerate(days):
        x, base = _PAD + index * slot, float(_CHART_H)
        for point in sorted(per_day[day], key=lambda p: (p.member, p.model)):
            height = point.tokens / peak * (_CHART_H - 20)
            base -= height
            parts.append(
                f'<rect class="bar" x="{x + 2:.1f}" y="{base:.1f}" width="{slot - 4:.1f}" height="{height:.1f}" '
                f'fill="{colour[(point.member, point.model)]}" data-day="{day}" data-member="{escape(point.member)}" '
                f'data-model="{escape(point.model)}" data-tokens="{point.tokens}"><title>{escape(point.member)} · '
                f"{escape(point.model)} · {day}: {point.tokens:,} tokens, {point.requests} requests, "
                f"${point.cost_usd:.4f}</title></rect>"
            )
        parts.append(f'<text x="{x + 2:.1f}" y="{_CHART_H + 16}" font-size="10">{day[5:]}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{colour[key]}"></i>{escape(key[0])} · {escape(key[1])}</span>' for key in series
    )
    return "".join(parts) + f'<div class="legend">{legend or "no usage yet"}</div>'


def _budgets(data: DashboardData) -> str:
    rows = ["<table id=budgets><tr><th>member</th><th>key</th><th>budget</th><th>spent</th><th>left</th><th>resets</th>"
            "<th>rpm</th><th>streams</th><th>models</th><th>status</th></tr>"]
    for member in data.members:
        spent = data.spent.get(member.name, 0.0)
        budget = "none" if member.budget_usd is None else f"${member.budget_usd:.2f} / {member.period}"
        left = "–" if member.budget_usd is None else f"${max(0.0, member.budget_usd - spent):.2f}"
        resets = utc_text(period_bounds(member.period, data.now)[1])
        status = "revoked" if member.revoked is not None else "active"
        rows.append(
            f'<tr data-member="{escape(member.name)}"><td>{escape(member.name)}</td><td>…{escape(member.key_tail)}</td>'
            f'<td class=n>{budget}</td><td class="n spent">${spent:.2f}</td><td class="n left">{left}</td>'
            f"<td>{resets}</td><td class=n>{member.rpm or '–'}</td><td class=n>{member.max_streams or '–'}</td>"
            f"<td>{escape(', '.join(member.models) or 'all')}</td><td>{status}</td></tr>"
        )
    return "".join(rows) + "</table>"


def _windows(windows: list[QuotaWindow]) -> str:
    if not windows:
        return "<p>none seen yet (a Coding Plan key reports them after the first request)</p>"
    rows = ["<table id=windows><tr><th>window</th><th>used</th><th>resets</th></tr>"]
    for window in windows:
        used = "?" if window.used_percent is None else f"{window.used_percent:.0f}%"
        resets = "?" if window.resets_at is None else utc_text(window.resets_at)
        rows.append(f"<tr><td>{escape(window.name)}</td><td class=n>{used}</td><td>{resets}</td></tr>")
    return "".join(rows) + "</table>"


def _errors(errors: list[tuple[float, str, str, str]]) -> str:
    if not errors:
        return "<p>none</p>"
    rows = ["<table id=errors><tr><th>time</th><th>member</th><th>model</th><th>error</th></tr>"]
    for when, member, model, outcome in errors:
        rows.append(f"<tr><td>{utc_text(when)}</td><td>{escape(member)}</td><td>{escape(model)}</td><td>{escape(outcome)}</td></tr>")
    return "".join(rows) + "</table>"
