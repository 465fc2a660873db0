"""The endpoint memory of auto mode, shared by a team gateway's instances.

In auto mode the proxy remembers, per upstream key, the endpoint that last worked (a key
whose plan does not match the Coding Plan path is moved to the general one after one 1113).
Each instance would learn that on its own, paying one refused request per key and
instance; here the instances share it through the team database: `SharedEndpoints` is the
upstream's `endpoint_of` map, and its `run` writes what this instance learned and reads
what the others did, every `SYNC_SECONDS`.  Keys are stored as their SHA-256, endpoints by
label (the same on every instance with the same settings).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence

import trio

from ..ledger.store import LedgerError
from .members import hash_key
from .store import TeamStore

SYNC_SECONDS = 2.0
# Rows are read back from a little before the newest one seen: instances' clocks may differ.
_CLOCK_MARGIN = 60.0


class SharedEndpoints(MutableMapping[str, int]):
    """Key -> endpoint index, as `Upstream.endpoint_of`; changes wait in `_learned` for `run`."""

    def __init__(self, store: TeamStore, keys: Sequence[str], labels: Sequence[str]) -> None:
        self._store = store
        self._labels = list(labels)
        self._by_hash = {hash_key(key): key for key in keys}
        self._known: dict[str, int] = {}
        self._learned: dict[str, str] = {}  # key hash -> label, not written yet
        self._since = 0.0  # rows older than this were read already
        self.error: str | None = None  # the last sync's failure, if it failed

    def __getitem__(self, key: str) -> int:
        return self._known[key]

    def __setitem__(self, key: str, index: int) -> None:
        if self._known.get(key, 0) != index:  # the upstream notes every success: only news is written
            self._learned[hash_key(key)] = self._labels[index]
        self._known[key] = index

    def __delitem__(self, key: str) -> None:
        del self._known[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)

    async def run(self) -> None:
        """Sync with the other instances every SYNC_SECONDS until cancelled."""
        while True:
            await self.sync()
            await trio.sleep(SYNC_SECONDS)

    async def sync(self) -> None:
        """Write what this instance learned, read what the others did; a failed write is kept
        for the next sync (the database may be back by then)."""
        learned, self._learned = self._learned, {}
        try:
            rows = await trio.to_thread.run_sync(self._store.share_endpoints, learned, self._since)
        except LedgerError as exc:
            self.error = str(exc)
            self._learned = {**learned, **self._learned}
            return
        self.error = None
        self._since = max([self._since, *(updated - _CLOCK_MARGIN for _, _, updated in rows)])
        self._adopt(rows)

    def _adopt(self, rows: Sequence[tuple[str, str, float]]) -> None:
        """Take the others' findings for our keys, unless this instance learned newer since."""
        for digest, label, _ in sorted(rows, key=lambda row: row[2]):
            key = self._by_hash.get(digest)
            if key is not None and label in self._labels and digest not in self._learned:
                self._known[key] = self._labels.index(label)
