"""The ledger's writer: requests are recorded without waiting, a thread writes them in batches.

`Ledger.record()` runs on the proxy's event loop for every finished request, so it only
adds to an in-memory tally and a bounded queue.  A writer thread (started on the first
record, ended by `close()` or after a quiet spell) drains the queue in batches into the
store.  Nothing here raises into a request: a store that cannot be opened or written (a
read-only state dir, a full disk, a file locked past the busy timeout) costs one logged
warning per kind of failure and the rows of that batch; a full queue drops rows and
counts them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..providers.base import QuotaWindow
from ..settings import Settings
from .entry import RunTally, UsageEntry
from .report import since_start
from .store import LEDGER_NAME, LedgerError, LedgerStore, Report, SqliteStore
from .terms import Grouping

log = logging.getLogger("codexglm.server.ledger")
QUEUE_SIZE = 10_000
BATCH_SIZE = 500
# A writer thread with nothing to do for this long closes the store and ends.
IDLE_SECONDS = 5.0
# Rows arriving this close together share one transaction: a wake-up and a commit per
# request cost the event loop a fifth of a request's CPU (the GIL changing hands).
GATHER_SECONDS = 0.2
_STOP = object()

# A batch the database refused for a passing reason (PostgreSQL down) is kept and written
# again after this pause; rows beyond the queue's size are dropped and counted.
RETRY_SECONDS = 1.0

StoreFactory = Callable[[], LedgerStore]


class _Borrowed:
    """A store the writer uses but does not own (a gateway's pool): closing it is not the writer's job."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def close(self) -> None:
        pass


def shared_factory(store: LedgerStore) -> StoreFactory:
    """A factory for a store someone else opens and closes (the team gateway's)."""
    borrowed: LedgerStore = _Borrowed(store)  # type: ignore[assignment]
    return lambda: borrowed


def ledger_path(settings: Settings) -> Path:
    """The ledger file: in the state dir, beside the request log (`log_dir`)."""
    import platformdirs

    return Path(settings.log_dir or platformdirs.user_state_dir("codexglm")) / LEDGER_NAME


def sqlite_factory(settings: Settings) -> StoreFactory:
    """Opens the settings' SQLite ledger (in the writer thread, when first needed)."""
    path = ledger_path(settings)
    return lambda: SqliteStore(path, retention_days=settings.ledger_retention_days, max_bytes=settings.ledger_max_bytes)


def read_report(settings: Settings, since: str, by: Grouping, now: float) -> tuple[float, Report] | None:
    """The start of the --since range and the ledger's report for it; None when there
    is no ledger yet.  Raises SinceError or LedgerError."""
    path = ledger_path(settings)
    try:
        exists = path.exists()
    except OSError as exc:  # a state dir this user may not enter
        raise LedgerError(f"cannot open {path}: {exc.strerror or exc}") from None
    if not exists:
        since_start(since, now, None)  # a bad --since is still an error
        return None
    store = SqliteStore(path, read_only=True)
    try:
        seen, windows = store.windows() or (None, [])
        start = since_start(since, now, windows)
        report = store.report(start, by)
    finally:
        store.close()
    report.windows, report.windows_seen = windows, seen
    return start, report


class Ledger:
    """Records entries for one process; `tally` is what this process used."""

    def __init__(self, open_store: StoreFactory | None, *, queue_size: int = QUEUE_SIZE) -> None:
        self._open_store = open_store
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # close() was called: no more gathering
        self._hurry = threading.Event()  # close() or settle() is waiting: write without gathering
        self._written = threading.Condition(self._lock)
        self._queued_count = 0  # items put on the queue
        self._settled_count = 0  # of them, those written or given up on
        self._windows: Sequence[QuotaWindow] = ()
        self._warned: set[str] = set()
        self.tally = RunTally()
        self.dropped = 0  # rows lost to a full queue or a failed write
        self.error: str | None = None  # the last failure (shown by /healthz)

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        return cls(sqlite_factory(settings) if settings.usage_ledger else None)

    def record(self, entry: UsageEntry, windows: Sequence[QuotaWindow] = ()) -> None:
        """Count ENTRY and queue it for the store; WINDOWS are the plan's latest windows."""
        self.tally.add(entry)
        self.note_windows(windows)
        self._put(entry)

    def note_windows(self, windows: Sequence[QuotaWindow]) -> None:
        """The plan's latest windows, for the exit line and `usage --since window` (kept when new)."""
        if windows and list(windows) != list(self._windows):
            self._windows = windows
            self.tally.windows = list(windows)
            self._put(list(windows))

    def _put(self, item: object) -> None:
        if self._open_store is None:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(1)
            self._warn("queue", f"usage ledger queue is full ({self._queue.maxsize} rows); rows are being dropped")
            return
        with self._lock:  # a writer leaves only under this lock, with the queue empty
            self._queued_count += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_loop, name="codexglm-ledger", daemon=True)
                self._thread.start()

    def settle(self, timeout: float) -> bool:
        """Wait (at most TIMEOUT seconds) until every row recorded so far is in the store, or
        given up on; False on timeout.  For readers of the store who must see their own rows
        (a member's exit line), without giving up the batching of everyone else's."""
        with self._lock:
            target = self._queued_count
            if self._settled_count >= target:
                return True
            self._hurry.set()
            return self._written.wait_for(lambda: self._settled_count >= target, timeout)

    def _settled(self, items: int) -> None:
        with self._lock:
            self._settled_count += items
            self._written.notify_all()

    def close(self, timeout: float = 1.0) -> None:
        """Write what is queued (waiting at most TIMEOUT seconds) and stop the writer."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return  # no writer means nothing queued
        self._stopping.set()
        self._hurry.set()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)

    def _write_loop(self) -> None:
        store: LedgerStore | None = None
        stopping = False  # close() asked: leave as soon as the queue is empty, without idling
        unwritten: list[object] = []  # rows a passing failure kept back
        try:
            while True:
                batch = self._take_batch(wait=not stopping and not unwritten)
                if not batch and unwritten and not stopping:
                    batch, unwritten = unwritten, []
                if not batch:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                stopping = stopping or any(item is _STOP for item in batch)
                items = unwritten + [item for item in batch if item is not _STOP]
                unwritten = []
                if items:
                    # A store that cannot be opened now (locked, read-only) is tried again next batch.
                    store = store or self._open()
                    if store is not None:
                        unwritten = self._write(store, items, keep=not stopping)
                    else:
                        self._drop(sum(isinstance(item, UsageEntry) for item in items))
                    self._settled(len(items) - len(unwritten))
                    if unwritten:
                        time.sleep(RETRY_SECONDS)
        finally:
            if store is not None:
                store.close()

    def _take_batch(self, *, wait: bool) -> list[object]:
        """Up to BATCH_SIZE queued items; waits up to IDLE_SECONDS for the first if WAIT,
        then GATHER_SECONDS for the rows that follow it (not when close() is waiting)."""
        try:
            batch = [self._queue.get(timeout=IDLE_SECONDS) if wait else self._queue.get_nowait()]
        except queue.Empty:
            return []
        if wait and batch[0] is not _STOP:
            self._hurry.wait(GATHER_SECONDS)
            if not self._stopping.is_set():
                self._hurry.clear()  # the rows a settle() waits for were queued before it hurried us
        while len(batch) < BATCH_SIZE:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _drop(self, rows: int) -> None:
        with self._lock:
            self.dropped += rows

    def _open(self) -> LedgerStore | None:
        assert self._open_store is not None
        try:
            return self._open_store()
        except LedgerError as exc:
            self._fail("open", f"usage not recorded: {exc}")
            return None

    def _write(self, store: LedgerStore, items: list[object], *, keep: bool) -> list[object]:
        """Write ITEMS; returns those to try again (a passing failure, when KEEP)."""
        entries = [item for item in items if isinstance(item, UsageEntry)]
        windows = [item for item in items if isinstance(item, list)]
        try:
            if entries:
                store.record(entries)
            if windows:
                store.save_windows(windows[-1])
            self.error = None
        except LedgerError as exc:
            if keep and exc.passing:
                kept = entries[-self._queue.maxsize :]
                self._drop(len(entries) - len(kept))
                self._fail("retry", f"usage not written yet, will retry: {exc}")
                return [*kept, *windows[-1:]]
            self._drop(len(entries))
            self._fail("write", f"usage not recorded: {exc}")
        return []

    def _fail(self, kind: str, message: str) -> None:
        self.error = message
        self._warn(kind, message)

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("%s", message)
