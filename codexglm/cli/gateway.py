"""The team gateway's commands: `codexglm keys ...`, and what `serve --team` opens."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..ledger.store import LedgerError
from ..settings import Settings
from ..team.members import Member, period_bounds, utc_text
from ..team.store import TeamError, TeamStore, open_team_store
from .table import UsageError

DB_ENV = "CODEXGLM_DB"
ADMIN_TOKEN_ENV = "CODEXGLM_ADMIN_TOKEN"


def database_url(options: argparse.Namespace) -> str | None:
    return options.db or os.environ.get(DB_ENV, "").strip() or None


def open_store(options: argparse.Namespace, settings: Settings) -> TeamStore:
    """The team store --db (or CODEXGLM_DB) names, else the usage ledger's SQLite file."""
    from ..ledger.writer import ledger_path

    return open_team_store(database_url(options), ledger_path(settings))


def keys_command(options: argparse.Namespace, settings: Settings) -> int:
    action = options.action
    if action is None:
        raise UsageError("keys: name an action: create, list, show, revoke or rotate")
    try:
        store = open_store(options, settings)
    except LedgerError as exc:
        raise TeamError(f"cannot open the team database: {exc}") from None
    try:
        if action == "create":
            key = store.create(_new_member(options))
            print(f"created member {options.name}; its key (shown only now, give it to {options.name} privately):")
            print(key)
        elif action == "list":
            members = store.members()
            if not members:
                print("no members yet: codexglm keys create NAME")
            for member in members:
                print(_describe(store, member))
        elif action == "show":
            print(_describe(store, store.member(options.name)))
        elif action == "revoke":
            store.revoke(options.name)
            print(f"revoked the key of {options.name}")
        else:
            key = store.rotate(options.name)
            print(f"new key for {options.name} (the old one no longer works):")
            print(key)
    except LedgerError as exc:
        raise TeamError(f"the team database failed: {exc}") from None
    finally:
        store.close()
    return 0


def _number(flag: str, value: str | None, kind: type[int] | type[float]) -> float | None:
    if value is None:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(f"keys create: {flag} must be a number, not {value!r}") from None
    if number <= 0:
        raise UsageError(f"keys create: {flag} must be more than 0, not {value!r}")
    return number


def _new_member(options: argparse.Namespace) -> Member:
    name: str = options.name
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsageError(f"keys create: NAME may hold letters, digits, '-', '_' and '.', not {name!r}")
    rpm, streams = _number("--rpm", options.rpm, int), _number("--max-streams", options.max_streams, int)
    return Member(
        name=name,
        key_tail="",
        budget_usd=_number("--budget-usd", options.budget_usd, float),
        period=options.period or "month",
        rpm=None if rpm is None else int(rpm),
        max_streams=None if streams is None else int(streams),
        models=tuple(m.strip() for m in (options.models or "").split(",") if m.strip()),
    )


def _describe(store: TeamStore, member: Member) -> str:
    now = time.time()
    start, resets = period_bounds(member.period, now)
    spent = store.spent(member.name, start)
    budget = f"${spent:.2f} of ${member.budget_usd:.2f} this {member.period}" if member.budget_usd else f"${spent:.2f} this {member.period}"
    limits = [
        budget + f" (resets {utc_text(resets)})",
        f"rpm {member.rpm}" if member.rpm else "",
        f"streams {member.max_streams}" if member.max_streams else "",
        f"models {','.join(member.models)}" if member.models else "",
        f"revoked {utc_text(member.revoked)}" if member.revoked else "",
    ]
    return f"{member.name}  key …{member.key_tail}  " + "  ".join(part for part in limits if part)


def admin_token() -> str | None:
    return os.environ.get(ADMIN_TOKEN_ENV, "").strip() or None


def warn(message: str) -> None:
    print(f"codexglm: warning: {message}", file=sys.stderr, flush=True)
