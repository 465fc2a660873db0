"""What the workers of one `serve --workers N` share: key cool-downs and the plan's usage windows.

The supervisor creates one small unlinked file and hands its descriptor to every worker,
which maps it.  Readers look at a generation counter first (one aligned 8-byte load), so
a request pays for the lock only when another worker changed something; writers hold a
POSIX record lock (per process, unlike flock, whose locks the inherited descriptor would
share).  Times are `time.monotonic()`, the one clock every process on the machine agrees on.

Layout (little-endian, 8-byte aligned): generation, quota poll claimed at, quota
generation, quota length; then `KEY_SLOTS` pairs of (key digest, cooling until); then the
quota windows as JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import tempfile
import time

from ..providers.base import QuotaWindow
from .reqlog import locked

KEY_SLOTS = 64
QUOTA_BYTES = 8192
_HEADER = 4  # generation, poll claimed at, quota generation, quota length
_KEYS_AT = _HEADER * 8
_QUOTA_AT = _KEYS_AT + KEY_SLOTS * 16
SIZE = _QUOTA_AT + QUOTA_BYTES


def _digest(key: str) -> int:
    """A key's slot tag: never the key (the file is readable by the user's processes)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") or 1


class SharedState:
    """One worker's view of the shared file (the supervisor creates it with `create`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE)
        self._words = memoryview(self._map).cast("Q")
        self._floats = memoryview(self._map).cast("d")
        self._seen = -1
        self._cooling: dict[int, float] = {}
        self._quota_seen = -1
        self._windows: list[QuotaWindow] = []

    @classmethod
    def create(cls) -> SharedState:
        """A new zeroed state in an unlinked file (gone when the last process closes it)."""
        with tempfile.TemporaryFile(prefix="codexglm-workers-") as file:
            fd = os.dup(file.fileno())
        os.ftruncate(fd, SIZE)
        os.set_inheritable(fd, False)
        return cls(fd)

    def close(self) -> None:
        self._words.release()
        self._floats.release()
        self._map.close()
        os.close(self.fd)

    # --- key cool-downs

    def cooling_until(self, key: str) -> float:
        """The monotonic time until which any worker has KEY cooling down (0: not at all)."""
        if self._words[0] != self._seen:
            with locked(self.fd):
                self._seen = self._words[0]
                base = _KEYS_AT // 8
                self._cooling = {
                    self._words[base + 2 * slot]: self._floats[base + 2 * slot + 1]
                    for slot in range(KEY_SLOTS)
                    if self._words[base + 2 * slot]
                }
        return self._cooling.get(_digest(key), 0.0)

    def cool_down(self, key: str, until: float) -> None:
        """KEY cools down until the monotonic time UNTIL in every worker (the later end wins)."""
        tag, base = _digest(key), _KEYS_AT // 8
        with locked(self.fd):
            slots = [base + 2 * slot for slot in range(KEY_SLOTS)]
            slot = next((s for s in slots if self._words[s] == tag), None)
            if slot is None:
                # A new key takes a free slot, else the one whose cool-down ended first.
                slot = next((s for s in slots if not self._words[s]), min(slots, key=lambda s: self._floats[s + 1]))
                self._words[slot], self._floats[slot + 1] = tag, 0.0
            self._floats[slot + 1] = max(self._floats[slot + 1], until)
            self._words[0] += 1

    # --- the plan's usage windows

    def claim_poll(self, every: float) -> float:
        """0 when this worker should ask the usage API now (the claim is recorded), else the
        seconds until the next poll is due: one worker polls per period, for the whole server."""
        now = time.monotonic()
        with locked(self.fd):
            claimed = self._floats[1]
            if claimed and now < claimed + every:
                return claimed + every - now
            self._floats[1] = now
        return 0.0

    def publish_windows(self, windows: list[QuotaWindow]) -> None:
        data = json.dumps([dataclasses.asdict(window) for window in windows]).encode()
        if len(data) > QUOTA_BYTES:
            return  # never with a real plan's few windows; the workers keep the last ones
        with locked(self.fd):
            self._map[_QUOTA_AT : _QUOTA_AT + len(data)] = data
            self._words[3] = len(data)
            self._words[2] += 1

    def windows(self) -> tuple[int, list[QuotaWindow]]:
        """The windows the last poll published, and their generation (0: none yet)."""
        if self._words[2] != self._quota_seen:
            with locked(self.fd):
                self._quota_seen, length = self._words[2], self._words[3]
                data = self._map[_QUOTA_AT : _QUOTA_AT + length]
            self._windows = [QuotaWindow(**window) for window in json.loads(data)] if length else []
        return self._quota_seen, self._windows
