"""Cost of the usage ledger: what a request pays to be recorded, and how fast rows reach disk.

* record(): the per-request cost on the proxy's event loop (tally + queue), against building
  the request log's JSON line for the same request (work the proxy already does).
* Writer: rows per second from `record()` until `close()` returns (all on disk, WAL).
* Two processes writing the same ledger at once: rows per second, nothing lost.

Run: python bench/bench_ledger.py
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from codexglm.ledger.entry import UsageEntry  # noqa: E402
from codexglm.ledger.store import SqliteStore  # noqa: E402
from codexglm.ledger.writer import Ledger  # noqa: E402

ROWS = 20_000


def _entry(i: int) -> UsageEntry:
    return UsageEntry(time=time.time(), provider="glm", model="glm-5.1", endpoint="coding",
                      session_id="01a20827-bfbe-79d2-8a7d-ef90c5f7a230", thread_id="01a20827-bfbe-79d2-8a7d-ef90c5f7a230",
                      input_tokens=12_000 + i, cached_input_tokens=9_000, output_tokens=40, reasoning_output_tokens=12,
                      cost_usd=0.01, plan=True, ttft_ms=120.0, duration_ms=900.0)


def _record_cost(path: pathlib.Path) -> tuple[float, float]:
    entries = [_entry(i) for i in range(ROWS)]
    ledger = Ledger(lambda: SqliteStore(path), queue_size=ROWS + 1)
    start = time.perf_counter()
    for entry in entries:
        ledger.record(entry)
    per_record = (time.perf_counter() - start) / ROWS
    ledger.close(timeout=120)
    written = time.perf_counter() - start
    log_line = {"id": "req_x", "usage": {"input_tokens": 12_000}, **{f"f{i}": i for i in range(14)}}
    start = time.perf_counter()
    for _ in range(ROWS):
        json.dumps(log_line, separators=(",", ":")).encode()
    baseline = (time.perf_counter() - start) / ROWS
    print(f"record(): {per_record * 1e6:.1f} µs per request ({per_record / baseline:.1f}x one request-log line)")
    return per_record, ROWS / written


_WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench.bench_ledger import _entry
from codexglm.ledger.store import SqliteStore
from codexglm.ledger.writer import Ledger
ledger = Ledger(lambda: SqliteStore(Path(sys.argv[1])), queue_size=int(sys.argv[2]) + 1)
for i in range(int(sys.argv[2])):
    ledger.record(_entry(i))
ledger.close(timeout=120)
print(ledger.dropped)
"""


def _two_processes(path: pathlib.Path) -> float:
    root = str(pathlib.Path(__file__).resolve().parents[1])
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(ROWS), root], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    dropped = [int(proc.communicate(timeout=300)[0]) for proc in procs]
    elapsed = time.perf_counter() - start
    store = SqliteStore(path, read_only=True)
    stored = store.report(0, "day").totals.requests
    store.close()
    print(f"two processes: {2 * ROWS / elapsed:,.0f} rows/s, {stored:,} of {2 * ROWS:,} stored, dropped {sum(dropped)}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, rate = _record_cost(pathlib.Path(tmp) / "one.sqlite3")
        print(f"writer: {rate:,.0f} rows/s to disk (record() until close() returns)")
        _two_processes(pathlib.Path(tmp) / "two.sqlite3")


if __name__ == "__main__":
    main()
