"""A member and its limits; keys are random, shown once and stored only as a hash."""

from __future__ import annotations

import calendar
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

KEY_PREFIX = "cgm_"
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Member:
    """One member key's owner and limits (None: no limit)."""

    name: str
    key_tail: str  # the key's last four characters, to tell keys apart safely
    budget_usd: float | None = None
    period: str = "month"
    rpm: int | None = None
    max_streams: int | None = None
    models: tuple[str, ...] = ()  # empty: every model
    created: float = 0.0
    revoked: float | None = None


def new_key() -> str:
    """A fresh member key (256 random bits; the prefix makes a leaked one recognisable)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What is stored: SHA-256 suffices, the key is random, not a password to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """The current budget period (UTC) containing NOW: its start and when it resets."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = start + timedelta(days=calendar.monthrange(start.year, start.month)[1])
    return start.timestamp(), end.timestamp()


def utc_text(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
