"""The team tables (members, rate counters, stream leases) beside the ledger's rows.

One implementation for both backends: it runs the same SQL through the ledger store's
`transaction()` (the usage ledger's SQLite file, or PostgreSQL for several instances), so
budgets are read from the very rows the ledger records.  Calls block: the gateway runs
them in worker threads (`gate`), the `keys` command directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ledger.store import LedgerError, SqlLedger
from .members import Member, hash_key, new_key

_COLUMNS = "name, key_tail, budget_usd, period, rpm, max_streams, models, created, revoked"


class TeamError(Exception):
    """A `keys` command cannot do what was asked (an unknown or duplicate name)."""


@dataclass(frozen=True)
class Counters:
    """What an admission found: spend this period, requests this minute, streams open."""

    spent_usd: float
    minute_requests: int
    streams: int


@dataclass(frozen=True)
class UsagePoint:
    day: str
    member: str
    model: str
    requests: int
    tokens: int
    cost_usd: float


class TeamStore:
    def __init__(self, db: SqlLedger) -> None:
        self.db = db

    # --- keys ---------------------------------------------------------------------------

    def create(self, member: Member) -> str:
        """Store MEMBER with a new key; returns the key (the only time it exists in clear)."""
        key = new_key()
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM members WHERE name = ?", (member.name,)).fetchone():
                raise TeamError(f"a member named {member.name!r} exists already (rotate its key instead)")
            db.execute(
                f"INSERT INTO members (key_hash, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    hash_key(key),
                    member.name,
                    key[-4:],
                    member.budget_usd,
                    member.period,
                    member.rpm,
                    member.max_streams,
                    ",".join(member.models) or None,
                    time.time(),
                    None,
                ),
            )
        return key

    def members(self) -> list[Member]:
        with self.db.reading() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM members ORDER BY name").fetchall()
        return [_member(row) for row in rows]

    def member(self, name: str) -> Member:
        with self.db.reading() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM members WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise TeamError(f"no member named {name!r} (see `codexglm keys list`)")
        return _member(row)

    def by_key(self, key: str) -> Member | None:
        with self.db.reading() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM members WHERE key_hash = ?", (hash_key(key),)).fetchone()
        return None if row is None else _member(row)

    def revoke(self, name: str) -> None:
        with self.db.transaction() as db:
            changed = db.execute("UPDATE members SET revoked = ? WHERE name = ? AND revoked IS NULL", (time.time(), name))
        if not changed.rowcount:
            self.member(name)  # unknown: says so; known: it was revoked already, nothing to do

    def rotate(self, name: str) -> str:
        """A new key for NAME (the old one stops working; a revoked member is restored)."""
        key = new_key()
        with self.db.transaction() as db:
            changed = db.execute(
                "UPDATE members SET key_hash = ?, key_tail = ?, revoked = NULL WHERE name = ?", (hash_key(key), key[-4:], name)
            )
        if not changed.rowcount:
            self.member(name)
        return key

    # --- admission ----------------------------------------------------------------------

    def spent(self, name: str, since: float) -> float:
        with self.db.reading() as db:
            row = db.execute("SELECT sum(cost_usd) FROM requests WHERE member = ? AND time >= ?", (name, since)).fetchone()
        return float(row[0] or 0.0)

    def admit(self, name: str, since: float, now: float, lease: str, lease_seconds: float) -> Counters:
        """Count one request in this minute and open a stream lease, in one transaction; returns
        the counters the limits are checked against (the lease is already counted).  The
        upsert of the member's rate row comes first: its row lock makes concurrent admissions
        of one member (from any instance) take turns, so each counts every earlier lease."""
        minute = int(now // 60)
        with self.db.transaction() as db:
            spent = db.execute("SELECT sum(cost_usd) FROM requests WHERE member = ? AND time >= ?", (name, since)).fetchone()
            count = db.execute(
                "INSERT INTO member_rate (name, minute, count) VALUES (?, ?, 1) ON CONFLICT (name, minute) "
                "DO UPDATE SET count = member_rate.count + 1 RETURNING count",
                (name, minute),
            ).fetchone()
            db.execute("DELETE FROM member_streams WHERE expires < ?", (now,))
            db.execute("INSERT INTO member_streams (lease, name, expires) VALUES (?, ?, ?)", (lease, name, now + lease_seconds))
            streams = db.execute("SELECT count(*) FROM member_streams WHERE name = ?", (name,)).fetchone()
        return Counters(float(spent[0] or 0.0), int(count[0]), int(streams[0]))

    def release(self, leases: Sequence[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("DELETE FROM member_streams WHERE lease = ?", [(lease,) for lease in leases])
            db.execute("DELETE FROM member_rate WHERE minute < ?", (int(time.time() // 60) - 2,))

    # --- the shared endpoint memory (team.endpoints) -------------------------------------

    def share_endpoints(self, learned: Mapping[str, str], since: float) -> list[tuple[str, str, float]]:
        """Write LEARNED (key hash -> endpoint label) and read back every row changed after
        SINCE, in one transaction: (key hash, endpoint label, when)."""
        now = time.time()
        with self.db.transaction() as db:
            db.executemany(
                "INSERT INTO key_endpoints (key_hash, endpoint, updated) VALUES (?, ?, ?) ON CONFLICT (key_hash) "
                "DO UPDATE SET endpoint = excluded.endpoint, updated = excluded.updated",
                [(digest, label, now) for digest, label in learned.items()],
            )
            rows = db.execute("SELECT key_hash, endpoint, updated FROM key_endpoints WHERE updated > ?", (since,)).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def ping(self) -> None:
        """Raises LedgerError unless the database answers (the readiness check)."""
        with self.db.reading() as db:
            db.execute("SELECT 1").fetchone()

    # --- the dashboard ------------------------------------------------------------------

    def usage(self, since: float) -> list[UsagePoint]:
        """Per day, member and model since SINCE (UTC days)."""
        day = "day_of"
        with self.db.reading() as db:
            rows = db.execute(
                f"SELECT {day}, coalesce(member, '-'), model, count(*), sum(input_tokens + output_tokens), "
                f"sum(coalesce(cost_usd, 0)) FROM (SELECT *, {self.db.utc_day} AS {day} FROM requests "
                "WHERE time >= ?) AS recent GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                (since,),
            ).fetchall()
        return [UsagePoint(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4] or 0), float(r[5] or 0)) for r in rows]

    def recent_errors(self, limit: int = 20) -> list[tuple[float, str, str, str]]:
        """The latest failed requests: (time, member, model, outcome)."""
        with self.db.reading() as db:
            rows = db.execute(
                "SELECT time, coalesce(member, '-'), model, outcome FROM requests WHERE outcome != 'ok' "
                "ORDER BY time DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(float(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def close(self) -> None:
        self.db.close()


def _member(row: Sequence[Any]) -> Member:
    name, tail, budget, period, rpm, streams, models, created, revoked = row
    return Member(
        name=name,
        key_tail=tail,
        budget_usd=None if budget is None else float(budget),
        period=period,
        rpm=rpm,
        max_streams=streams,
        models=tuple(models.split(",")) if models else (),
        created=float(created),
        revoked=None if revoked is None else float(revoked),
    )


def open_team_store(url: str | None, sqlite_path: Any) -> TeamStore:
    """The team store: PostgreSQL when URL is given, else the ledger's SQLite file."""
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise LedgerError(f"--db must be a postgresql:// URL, not {url.split(':', 1)[0]}:…")
        from ..ledger.postgres import PostgresStore

        return TeamStore(PostgresStore(url))
    from ..ledger.store import SqliteStore

    return TeamStore(SqliteStore(sqlite_path))
