"""Helpers for the team gateway tests (this module holds no tests itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from codexglm.ledger.writer import Ledger, shared_factory
from codexglm.team.gate import Gate
from codexglm.team.members import Member
from codexglm.team.store import TeamStore
from tests.mockglm import DEFAULT_KEY, MockGLM
from tests.server_support import mock_settings, running_proxy

ADMIN = "admin-token-for-tests-4567"


def member(name: str, **limits: Any) -> Member:
    return Member(name=name, key_tail="", **limits)


@asynccontextmanager
async def running_gateway(
    mock: MockGLM, tmp_path: Path, store: TeamStore, *, cache_seconds: float = 0.0
) -> AsyncIterator[httpx.AsyncClient]:
    """serve() as a team gateway on STORE; yields a client on its base URL (no auth header)."""
    gate = Gate(store, cache_seconds=cache_seconds)
    ledger = Ledger(shared_factory(store.db))
    async with running_proxy(mock_settings(mock, tmp_path), ledger=ledger, gate=gate, admin_token=ADMIN) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def gateway_env(tmp: Path, mock: MockGLM, name: str, db: str | None) -> dict[str, str]:
    """The environment of one `codexglm serve --team` instance (or `keys` command) in TMP."""
    import os
    import sys

    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp),
        "CODEXGLM_CONFIG_DIR": str(tmp / "config"),
        "CODEXGLM_STATE_DIR": str(tmp / f"state-{name}"),
        "CODEXGLM_CACHE_DIR": str(tmp / "cache"),
        "ZAI_API_KEY": DEFAULT_KEY,
        "ZAI_CODING_BASE_URL": mock.coding_url,
        "ZAI_BASE_URL": mock.general_url,
        "CODEXGLM_ADMIN_TOKEN": ADMIN,
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    if db:
        env["CODEXGLM_DB"] = db
    return env


def codexglm(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    """Run `codexglm ARGS` to the end; its stdout (fails the test on a non-zero exit)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "codexglm", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Instance:
    """One `codexglm serve --team` child process on a free port, stopped by its owner."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: Any = None

    async def start(self) -> None:
        import subprocess
        import sys

        import trio

        self.process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "codexglm", "serve", "--team", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with trio.fail_after(30):
            async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
                while True:
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops it; killed if it is not gone within 15 s."""
        import signal

        import trio

        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(15):
            await self.process.wait()
            return
        self.process.kill()
        await self.process.wait()
        raise AssertionError(f"the gateway on port {self.port} did not stop within 15 s")
