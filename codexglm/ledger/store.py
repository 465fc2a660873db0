"""Where ledger rows live: the storage interface, and its SQLite implementation.

Callers (the writer, `codexglm usage`, the exit line) only use `LedgerStore`, so another
backend (a team gateway's PostgreSQL) can be added beside `SqliteStore` without touching
them.  SQLite runs in WAL mode with a busy timeout, and every write is one short
`BEGIN IMMEDIATE` transaction, so several codexglm processes can write at once and
readers never block writers.  The schema version is SQLite's `user_version`; each entry
of `MIGRATIONS` moves the database one version up, inside the transaction that checks it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..providers.base import QuotaWindow
from .entry import ENTRY_FIELDS, Totals, UsageEntry
from .terms import Grouping

LEDGER_NAME = "usage.sqlite3"
# The team gateway's tables, the same in SQLite and PostgreSQL (`team.store` reads them).
TEAM_TABLES = """
    CREATE TABLE members (
        name TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        key_tail TEXT NOT NULL,
        budget_usd DOUBLE PRECISION,
        period TEXT NOT NULL,
        rpm INTEGER,
        max_streams INTEGER,
        models TEXT,
        created DOUBLE PRECISION NOT NULL,
        revoked DOUBLE PRECISION
    );
    CREATE TABLE member_rate (name TEXT NOT NULL, minute BIGINT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (name, minute));
    CREATE TABLE member_streams (lease TEXT PRIMARY KEY, name TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL);
"""
# Which endpoint last worked for each upstream key (auto mode), shared by a team gateway's
# instances so each does not relearn it with a refused request (`team.endpoints`).
ENDPOINT_TABLE = """
    CREATE TABLE key_endpoints (key_hash TEXT PRIMARY KEY, endpoint TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL);
"""
DAY_SECONDS = 86_400
# How long a writer waits for another process's transaction before giving up on a batch.
BUSY_TIMEOUT_SECONDS = 10.0

# Version N+1 is MIGRATIONS[N] applied to version N (version 0: an empty file).
MIGRATIONS: tuple[str, ...] = (
    # v1: one row per upstream request.
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        session_id TEXT,
        thread_id TEXT,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        cached_input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        reasoning_output_tokens INTEGER NOT NULL,
        cost_usd REAL,
        plan INTEGER NOT NULL,
        ttft_ms REAL,
        duration_ms REAL,
        retries INTEGER NOT NULL,
        outcome TEXT NOT NULL
    );
    """,
    # v2: the turn a request belongs to, time-range queries, the plan's last known windows.
    """
    ALTER TABLE requests ADD COLUMN turn_id TEXT;
    CREATE INDEX requests_time ON requests (time);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # v3: the team gateway: who made a request, member keys and their shared counters.
    """
    ALTER TABLE requests ADD COLUMN member TEXT;
    CREATE INDEX requests_member ON requests (member, time);
    """
    + TEAM_TABLES,
    # v4: the team gateway's shared endpoint memory.
    ENDPOINT_TABLE,
)
SCHEMA_VERSION = len(MIGRATIONS)

_GROUP_KEYS: dict[Grouping, str] = {
    "day": "date(time, 'unixepoch', 'localtime')",
    "model": "model",
    "session": "coalesce(session_id, '-')",
    "provider": "provider",
}
_SUMS = (
    "count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), sum(reasoning_output_tokens), "
    "sum(CASE WHEN plan = 0 THEN cost_usd ELSE 0 END), sum(CASE WHEN plan = 1 THEN cost_usd ELSE 0 END), "
    "sum(CASE WHEN outcome != 'ok' THEN 1 ELSE 0 END), sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END)"
)
_WINDOWS_KEY = "plan_windows"


class LedgerError(Exception):
    """The ledger cannot be opened, read or written (the message says where and why);
    PASSING when trying again later may work (a database server that is down)."""

    def __init__(self, message: str, *, passing: bool = False) -> None:
        super().__init__(message)
        self.passing = passing


@dataclass
class Group:
    key: str
    totals: Totals


@dataclass
class Report:
    """What a query returns: the totals over the range and one group per key, in order;
    with the plan's windows as last saved, and when, if the reader asked for them."""

    totals: Totals
    groups: list[Group]
    windows: list[QuotaWindow] = field(default_factory=list)
    windows_seen: float | None = None


class LedgerStore(Protocol):
    """The storage a ledger needs.  Implementations raise LedgerError, nothing else."""

    def record(self, entries: Sequence[UsageEntry]) -> None: ...
    def save_windows(self, windows: Sequence[QuotaWindow]) -> None: ...
    def windows(self) -> tuple[float, list[QuotaWindow]] | None: ...
    def report(self, since: float, by: Grouping) -> Report: ...
    def close(self) -> None: ...


class Connection(Protocol):
    """What the shared queries need of a connection: sqlite3's, or PostgreSQL's adapted to `?`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class SqlLedger:
    """The ledger's queries, written once for both SQL backends (which give `transaction`)."""

    group_keys: dict[Grouping, str] = _GROUP_KEYS
    utc_day = "date(time, 'unixepoch')"  # the day of a row, the same for every instance

    def transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for reads (by default, a transaction too)."""
        return self.transaction()

    def record(self, entries: Sequence[UsageEntry]) -> None:
        names = ", ".join(ENTRY_FIELDS)
        marks = ", ".join("?" * len(ENTRY_FIELDS))
        rows = [tuple(getattr(entry, name) for name in ENTRY_FIELDS) for entry in entries]
        with self.transaction() as db:
            db.executemany(f"INSERT INTO requests ({names}) VALUES ({marks})", rows)

    def save_windows(self, windows: Sequence[QuotaWindow]) -> None:
        value = json.dumps({"seen": time.time(), "windows": [asdict(window) for window in windows]})
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_WINDOWS_KEY, value),
            )

    def windows(self) -> tuple[float, list[QuotaWindow]] | None:
        """The plan windows last saved, and when (None if never)."""
        with self.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (_WINDOWS_KEY,)).fetchone()
        if row is None:
            return None
        try:
            saved = json.loads(row[0])
            return float(saved["seen"]), [QuotaWindow(**window) for window in saved["windows"]]
        except (ValueError, KeyError, TypeError):
            return None  # written by a newer version in a shape this one does not know

    def report(self, since: float, by: Grouping) -> Report:
        key = self.group_keys[by]
        with self.reading() as db:
            total = db.execute(f"SELECT {_SUMS} FROM requests WHERE time >= ?", (since,)).fetchone()
            rows = db.execute(
                f"SELECT {key} AS k, {_SUMS} FROM requests WHERE time >= ? GROUP BY k ORDER BY "
                + ("k" if by == "day" else "min(time), min(id)"),
                (since,),
            ).fetchall()
        return Report(_totals(total), [Group(str(row[0]), _totals(row[1:])) for row in rows])

    def member_run(self, member: str, since: float) -> tuple[Totals, str | None]:
        """A gateway member's totals since SINCE and their latest conversation (for the exit line)."""
        with self.reading() as db:
            total = db.execute(f"SELECT {_SUMS} FROM requests WHERE member = ? AND time >= ?", (member, since)).fetchone()
            last = db.execute(
                "SELECT session_id FROM requests WHERE member = ? AND time >= ? AND session_id IS NOT NULL "
                "ORDER BY time DESC LIMIT 1",
                (member, since),
            ).fetchone()
        return _totals(total), last[0] if last else None


class SqliteStore(SqlLedger):
    """The ledger in one SQLite file; opened (and migrated, and pruned) on creation."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: float = 90,
        max_bytes: int = 64 * 1024 * 1024,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        """Open PATH; for writing it is created, migrated and pruned, READ_ONLY touches nothing."""
        self.path = path
        self._retention = retention_days * DAY_SECONDS
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # one connection: `transaction()` callers take turns
        try:
            if read_only:
                target, uri = f"file:{path}?mode=ro", True
            else:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Private like the request log (SQLite gives its -wal and -shm files the same mode).
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
                target, uri = str(path), False
            self._db = sqlite3.connect(
                target, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=uri
            )
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open {path}: {_reason(exc)}") from None
        try:
            with self._guarded("open"):
                if read_only:
                    self._check_version()
                else:
                    self._setup()
        except LedgerError:
            self._db.close()
            raise

    def _check_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"{self.path} has schema version {version}; this codexglm knows up to {SCHEMA_VERSION}")
        return version

    def _setup(self) -> None:
        db = self._db
        if db.execute("PRAGMA user_version").fetchone()[0] == 0:
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table, or never
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            version = self._check_version()
            for script in MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._prune()

    def _prune(self) -> None:
        """Drop rows past the retention age; past the size cap, the oldest quarter too."""
        db = self._db
        db.execute("DELETE FROM requests WHERE time < ?", (time.time() - self._retention,))
        page_size, pages = db.execute("PRAGMA page_size").fetchone()[0], db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        if (pages - free) * page_size > self._max_bytes:
            db.execute(
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests ORDER BY time LIMIT "
                "(SELECT count(*) / 4 FROM requests))"
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _guarded(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot {what} {self.path}: {_reason(exc)}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (LedgerError if it fails)."""
        with self._lock, self._guarded("use"), self._transaction():
            yield self._db

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        # Autocommit reads: they never block a writer, and work on a read-only file.
        with self._lock, self._guarded("read"):
            yield self._db

    def report(self, since: float, by: Grouping) -> Report:
        if self._check_version() < SCHEMA_VERSION:
            raise LedgerError(f"{self.path} has an older schema; any codexglm session or `serve` upgrades it")
        return super().report(since, by)

    def close(self) -> None:
        self._db.close()


def _totals(row: Sequence[Any]) -> Totals:
    """Totals from the columns of `_SUMS` (SUM over no rows is NULL)."""
    # PostgreSQL sums integers as numeric (Decimal): every count is made an int again.
    count, inp, cached, out, reasoning, cash, plan, failed, unpriced = (value or 0 for value in row)
    return Totals(
        int(count), int(inp), int(cached), int(out), int(reasoning), float(cash), float(plan), int(failed), int(unpriced)
    )


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
