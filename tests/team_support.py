"""Helpers for the team gateway tests (this module holds no tests itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from codexglm.ledger.writer import Ledger, shared_factory
from codexglm.settings import Settings
from codexglm.team.gate import Gate
from codexglm.team.members import Member
from codexglm.team.store import TeamStore
from tests.mockglm import DEFAULT_KEY, MockGLM
from tests.server_support import running_proxy

ADMIN = "admin-token-for-tests-4567"


def gateway_settings(mock: MockGLM, tmp_path: Path) -> Settings:
    return Settings(
        api_keys=(DEFAULT_KEY,),
        coding_base_url=mock.coding_url,
        base_url=mock.general_url,
        log_dir=str(tmp_path / "logs"),
        connect_timeout=5.0,
        read_timeout=30.0,
    )


def member(name: str, **limits: Any) -> Member:
    return Member(name=name, key_tail="", **limits)


@asynccontextmanager
async def running_gateway(
    mock: MockGLM, tmp_path: Path, store: TeamStore, *, cache_seconds: float = 0.0
) -> AsyncIterator[httpx.AsyncClient]:
    """serve() as a team gateway on STORE; yields a client on its base URL (no auth header)."""
    gate = Gate(store, cache_seconds=cache_seconds)
    ledger = Ledger(shared_factory(store.db))
    async with running_proxy(gateway_settings(mock, tmp_path), ledger=ledger, gate=gate, admin_token=ADMIN) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
