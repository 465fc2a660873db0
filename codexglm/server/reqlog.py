"""The request log: one JSON line per proxied request, size-capped and rotated.

Records are small (a few hundred bytes) and appended with one `os.write` on an O_APPEND
descriptor, which costs microseconds, so it runs on the event loop.  Bodies are only
written when `Settings.log_bodies` is on; they are capped per record (keeping each write
short) and scrubbed of every secret the proxy knows.

Several processes may append to one log: the workers of `serve --workers N`, or two
launches sharing the state dir.  So the size that decides rotation is the file's, not
what this process wrote; a rotation happens under a lock on the file, once (whoever
finds it already replaced just reopens); and a writer whose file another process rotated
away moves to the new one before its next record.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import platformdirs

from ..settings import Settings, mask_secret
from ..translate import codec
from ..translate.errors import mask_bearer

LOG_NAME = "requests.jsonl"
SERVER_LOG_NAME = "server.log"
# Per-record cap on logged body text, so a logged 60 MB history cannot stall the loop.
BODY_CAP = 256 * 1024


def log_dir(settings: Settings) -> Path:
    """Where the request log lives: Settings.log_dir, else the platform's state dir."""
    return Path(settings.log_dir) if settings.log_dir else Path(platformdirs.user_state_dir("codexglm"))


def log_path(settings: Settings) -> Path:
    return log_dir(settings) / LOG_NAME


def replaced(path: Path, fd: int) -> bool:
    """Has another process rotated PATH away from the file FD has open?"""
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def locked(fd: int) -> Iterator[None]:
    """The whole of FD's file locked against other processes (a POSIX record lock)."""
    fcntl.lockf(fd, fcntl.LOCK_EX, 0, 0, os.SEEK_SET)
    try:
        yield
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0, os.SEEK_SET)


def rotate(path: Path, fd: int, backups: int) -> None:
    """PATH (open as FD) becomes PATH.1, PATH.1 becomes PATH.2 ... up to BACKUPS (none: it
    is removed), unless another process rotated it already; the caller then reopens PATH."""
    with locked(fd):
        if replaced(path, fd):
            return
        rotated = [path.with_name(f"{path.name}.{n}") for n in range(1, backups + 1)]
        if not rotated:
            path.unlink(missing_ok=True)
            return
        rotated[-1].unlink(missing_ok=True)
        for older, newer in zip(reversed(rotated[1:]), reversed(rotated[:-1]), strict=True):
            if newer.exists():
                os.replace(newer, older)
        os.replace(path, rotated[0])


class Redactor:
    """Replaces known secrets and bearer tokens in text with masked forms."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, mask_secret(secret))
        return mask_bearer(text)


class RequestLog:
    """Appends JSON records to `path`, rotating to path.1 ... path.N past `max_bytes`."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, redact: Redactor) -> None:
        self.path = path
        self._max_bytes = max(max_bytes, 4096)
        self._backups = max(backups, 0)
        self._redact = redact
        self._fd: int | None = None
        self.error: str | None = None  # the last write failure (shown by /healthz)

    @classmethod
    def from_settings(cls, settings: Settings, redact: Redactor) -> RequestLog | None:
        if not settings.log_requests:
            return None
        return cls(log_path(settings), max_bytes=settings.log_max_bytes, backups=settings.log_backups, redact=redact)

    def body(self, text: str | bytes) -> str:
        """Body text as it may appear in a record: capped and redacted."""
        if isinstance(text, bytes):
            text = text[: BODY_CAP + 1].decode("utf-8", "replace")
        clipped = text[:BODY_CAP] + ("...[truncated]" if len(text) > BODY_CAP else "")
        return self._redact(clipped)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record.  Never raises: a broken log must not break the proxy."""
        record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **record}
        # "replace": a lone surrogate from a hostile client must not break the log.
        line = codec.dumps(record, default=str) + b"\n"
        try:
            if self._fd is None or replaced(self.path, self._fd):
                self._open()
            assert self._fd is not None
            size = os.fstat(self._fd).st_size
            if size and size + len(line) > self._max_bytes:
                self._rotate()
            assert self._fd is not None
            os.write(self._fd, line)
            self.error = None
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc.strerror or exc}"
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def _open(self) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _rotate(self) -> None:
        assert self._fd is not None
        rotate(self.path, self._fd, self._backups)
        self._open()


class ServerLog(RotatingFileHandler):
    """server.log, a handler that never raises and never prints.

    logging's default `handleError` prints a traceback to stderr, which is the user's
    terminal (Codex's TUI) in launcher mode, and `close()` raises when the last flush
    fails (a full disk ended `serve()` with an ExceptionGroup).  The first failure is kept
    for /healthz instead; later ones are dropped, as the log itself is.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, delay=True)
        self.path = path
        self.error: str | None = None

    def shouldRollover(self, record: logging.LogRecord) -> int:
        if self.stream is not None and replaced(self.path, self.stream.fileno()):
            self._reopen()  # another process rotated it
        return super().shouldRollover(record)

    def doRollover(self) -> None:
        if self.stream is not None:
            rotate(self.path, self.stream.fileno(), self.backupCount)
            self._reopen()

    def _reopen(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.stream = self._open()

    def handleError(self, record: logging.LogRecord) -> None:
        self._note(sys.exc_info()[1])

    def close(self) -> None:
        try:
            super().close()
        except OSError as exc:
            self._note(exc)

    def _note(self, exc: BaseException | None) -> None:
        if self.error is None:
            strerror = getattr(exc, "strerror", None)
            self.error = f"{type(exc).__name__}: {strerror or exc}"
