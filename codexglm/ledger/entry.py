"""One ledger row (an upstream request and what it used), its cost, and running totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..providers.base import ModelSpec, QuotaWindow

OK = "ok"
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


@dataclass(frozen=True)
class UsageEntry:
    """What one request upstream used.  `outcome` is "ok" or the error code Codex saw;
    `plan` marks usage on a plan endpoint, whose `cost_usd` is the list-price value of
    tokens the plan covers, not cash."""

    time: float  # unix seconds, when the request finished
    provider: str
    model: str
    endpoint: str
    session_id: str | None = None
    thread_id: str | None = None
    turn_id: str | None = None
    kind: str = "turn"
    input_tokens: int = 0  # including the cached ones, as Codex counts them
    cached_input_tokens: int = 0
    output_tokens: int = 0  # including reasoning
    reasoning_output_tokens: int = 0
    cost_usd: float | None = None  # None: the model table has no price for it
    plan: bool = False
    ttft_ms: float | None = None
    duration_ms: float | None = None
    retries: int = 0
    outcome: str = OK
    # The session is the user's conversation, not one of Codex's side threads (not stored).
    conversation: bool = True


# The stored columns.
ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(UsageEntry) if f.name != "conversation")


def tokens_of(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """The token counts of a `usage` object, Responses-shaped (what Codex gets) or Chat
    Completions-shaped (the pass-through route); missing or malformed parts are 0."""
    usage = usage if isinstance(usage, Mapping) else {}

    def number(value: object) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    def detail(name: str, key: str) -> int:
        part = usage.get(name)
        return number(part.get(key)) if isinstance(part, Mapping) else 0

    chat = "input_tokens" not in usage and "prompt_tokens" in usage
    prompt, completion = ("prompt_tokens", "completion_tokens") if chat else ("input_tokens", "output_tokens")
    return {
        "input_tokens": number(usage.get(prompt)),
        "cached_input_tokens": detail(f"{prompt}_details", "cached_tokens"),
        "output_tokens": number(usage.get(completion)),
        "reasoning_output_tokens": detail(f"{completion}_details", "reasoning_tokens"),
    }


def estimate_cost(spec: ModelSpec | None, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
    """USD at the model table's list prices: uncached input, cached input and output
    (reasoning is part of output).  None when the price is unknown; 0 for free models."""
    if spec is None:
        return None
    if spec.price is None:
        return 0.0
    per_input, per_cached, per_output = spec.price
    cached = min(cached_tokens, input_tokens)
    return ((input_tokens - cached) * per_input + cached * per_cached + output_tokens * per_output) / 1_000_000


@dataclass
class Totals:
    """Sums over entries: what `usage` prints per group and the exit line per run."""

    requests: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    cost_usd: float = 0.0  # estimated cash: usage outside a plan
    plan_usd: float = 0.0  # list-price value of the usage a plan covered
    failed: int = 0  # requests that did not end "ok" (their tokens are counted, once)
    unpriced: int = 0  # requests whose model has no known price

    def add(self, entry: UsageEntry) -> None:
        self.requests += 1
        for name in TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(entry, name))
        if entry.cost_usd is None:
            self.unpriced += 1
        elif entry.plan:
            self.plan_usd += entry.cost_usd
        else:
            self.cost_usd += entry.cost_usd
        if entry.outcome != OK:
            self.failed += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            **{name: getattr(self, name) for name in TOKEN_FIELDS},
            "cost_usd": round(self.cost_usd, 6),
            "plan_usd": round(self.plan_usd, 6),
            "failed_requests": self.failed,
        }


@dataclass
class RunTally:
    """This process's usage, kept in memory for the exit line (no database read, so it
    holds even when the ledger cannot be written)."""

    totals: Totals = field(default_factory=Totals)
    session_id: str | None = None  # the conversation's last seen (sub-agents carry their root's): what `resume` takes
    windows: list[QuotaWindow] = field(default_factory=list)

    def add(self, entry: UsageEntry) -> None:
        self.totals.add(entry)
        if entry.session_id and entry.conversation:
            self.session_id = entry.session_id
