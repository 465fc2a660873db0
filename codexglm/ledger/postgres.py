"""The ledger (and the team gateway's tables) in PostgreSQL, for several `serve` instances.

psycopg 3's async API is asyncio-only, and the proxy runs on trio; its sync API is
thread-safe, so the store uses psycopg_pool's sync `ConnectionPool` and callers on the
event loop go through `trio.to_thread` with a limiter the size of the pool (see
`team.store`).  Every wait is bounded: connecting, taking a connection from the pool and
each statement; a database that is down makes calls fail fast with LedgerError (which the
gateway answers with a 503), and the pool reconnects on its own when it is back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .store import ENDPOINT_TABLE, TEAM_TABLES, Connection, LedgerError, SqlLedger
from .terms import Grouping

CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 3.0
STATEMENT_TIMEOUT_MS = 5000
POOL_SIZE = 4
# Any two instances starting at once must not both create the schema.
_SETUP_LOCK = 0x636F646578676C6D  # "codexglm"
SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS requests (
        id BIGSERIAL PRIMARY KEY,
        time DOUBLE PRECISION NOT NULL,
        session_id TEXT,
        thread_id TEXT,
        turn_id TEXT,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        cached_input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        reasoning_output_tokens BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION,
        plan INTEGER NOT NULL,
        ttft_ms DOUBLE PRECISION,
        duration_ms DOUBLE PRECISION,
        retries INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        member TEXT
    );
    CREATE INDEX IF NOT EXISTS requests_time ON requests (time);
    CREATE INDEX IF NOT EXISTS requests_member ON requests (member, time);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """
    + (TEAM_TABLES + ENDPOINT_TABLE).replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ")
)


class _Adapted:
    """A psycopg connection that takes the shared queries' `?` placeholders."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self._connection.execute(sql.replace("?", "%s"), parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any:
        with self._connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), [_plain(row) for row in rows])
            return cursor


def _plain(row: Sequence[Any]) -> tuple[Any, ...]:
    # `plan` is stored as 0/1 like in SQLite, so the shared sums read it the same way.
    return tuple(int(value) if isinstance(value, bool) else value for value in row)


class PostgresStore(SqlLedger):
    """The ledger in a PostgreSQL database; the schema is created on first use."""

    group_keys: dict[Grouping, str] = {
        **SqlLedger.group_keys,
        "day": "to_char(to_timestamp(time), 'YYYY-MM-DD')",
    }
    utc_day = "to_char(to_timestamp(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise LedgerError("a postgresql:// database needs psycopg: pip install 'codexglm[postgres]'") from None
        self.where = _public(url)
        self.pool_size = pool_size
        self._ready = False
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=POOL_TIMEOUT_SECONDS,
            open=False,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            },
            reconnect_timeout=0,  # keep trying for as long as the gateway runs
            name="codexglm",
        )
        self._pool.open(wait=False)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        import psycopg

        try:
            with self._pool.connection() as connection, connection.transaction():
                if not self._ready:
                    connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                    connection.execute(SCHEMA)
                yield _Adapted(connection)
            self._ready = True
        except (psycopg.Error, OSError) as exc:
            passing = isinstance(exc, (psycopg.OperationalError, OSError))
            raise LedgerError(f"database {self.where} unavailable: {_first_line(exc)}", passing=passing) from None

    def close(self) -> None:
        self._pool.close(timeout=POOL_TIMEOUT_SECONDS)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _public(url: str) -> str:
    """The URL without its password (it goes into errors and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:****@{netloc}"))
