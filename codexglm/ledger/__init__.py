"""The usage ledger: one row per upstream request, what it used and what it cost.

`entry` holds the row and its sums, `store` the storage interface and its SQLite
backend, `writer` the recorder the proxy calls, `report` what `codexglm usage` and the
exit line print.  Standard library only (it is read on the launcher's path).
"""

from __future__ import annotations

from .entry import OK, RunTally, Totals, UsageEntry, estimate_cost, tokens_of
from .store import GROUPINGS, Grouping, LedgerError, LedgerStore, Report, SqliteStore
from .writer import Ledger, ledger_path

__all__ = [
    "GROUPINGS",
    "OK",
    "Grouping",
    "Ledger",
    "LedgerError",
    "LedgerStore",
    "Report",
    "RunTally",
    "SqliteStore",
    "Totals",
    "UsageEntry",
    "estimate_cost",
    "ledger_path",
    "tokens_of",
]
