"""Two `codexglm serve --team` instances on one throwaway PostgreSQL cluster: budgets,
revocations and usage are shared, and a restart loses nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psycopg
import trio

from codexglm.ledger.postgres import PostgresStore
from codexglm.team.gate import REVOCATION_SECONDS
from tests.mockglm import open_mock_glm
from tests.pg_support import free_port
from tests.server_support import codex_body
from tests.team_support import Instance, bearer, codexglm, gateway_env


def _rows(url: str) -> list[tuple[str, str]]:
    store = PostgresStore(url)
    try:
        with store.reading() as db:
            return [(r[0], r[1]) for r in db.execute("SELECT member, outcome FROM requests ORDER BY id").fetchall()]
    finally:
        store.close()


async def _until_rows(url: str, count: int) -> None:
    with trio.fail_after(10):
        while len(await trio.to_thread.run_sync(_rows, url)) < count:
            await trio.sleep(0.1)


async def test_two_instances_share_budgets_revocations_and_one_ledger(tmp_path: Path, postgres_url: str) -> None:
    # A database of its own inside the session's cluster: other tests' rows stay out.
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS team_two")
        admin.execute("CREATE DATABASE team_two")
    url = postgres_url.rsplit("/", 1)[0] + "/team_two"
    async with open_mock_glm() as mock:
        env = gateway_env(tmp_path, mock, "cli", url)
        alice = codexglm("keys", "create", "alice", "--budget-usd", "0.0000001", "--period", "day", env=env).splitlines()[-1]
        bob = codexglm("keys", "create", "bob", env=env).splitlines()[-1]
        a = Instance(gateway_env(tmp_path, mock, "a", url), free_port())
        b = Instance(gateway_env(tmp_path, mock, "b", url), free_port())
        await a.start()
        await b.start()
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                # A budget spent through A is enforced by B.
                spent = await client.post(f"{a.url}/v1/responses", json=codex_body(), headers=bearer(alice))
                assert spent.status_code == 200
                await _until_rows(url, 1)
                refused = await client.post(f"{b.url}/v1/responses", json=codex_body(), headers=bearer(alice))
                assert refused.status_code == 400 and refused.json()["error"]["code"] == "budget_exceeded"
                assert "member alice has used its budget" in refused.json()["error"]["message"]
                # A key revoked on A's database is refused by B within the cache bound.
                assert (await client.post(f"{b.url}/v1/responses", json=codex_body(), headers=bearer(bob))).status_code == 200
                codexglm("keys", "revoke", "bob", env=env)
                revoked_at = time.monotonic()
                with trio.fail_after(REVOCATION_SECONDS + 3):
                    while (await client.get(f"{b.url}/v1/models", headers=bearer(bob))).status_code != 401:
                        await trio.sleep(0.1)
                assert time.monotonic() - revoked_at <= REVOCATION_SECONDS + 1
                # A request still being recorded when A stops is not lost.
                last = await client.post(f"{a.url}/v1/responses", json=codex_body(), headers=bearer(codexglm(
                    "keys", "create", "carol", env=env).splitlines()[-1]))
                assert last.status_code == 200
        finally:
            await a.stop()
            await b.stop()
        assert len(mock.chat_requests) == 3
        # Usage of both instances in one ledger, and a restart loses nothing.
        assert _rows(url) == [("alice", "ok"), ("bob", "ok"), ("carol", "ok")]
        again = Instance(gateway_env(tmp_path, mock, "a", url), free_port())
        await again.start()
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                still = await client.post(f"{again.url}/v1/responses", json=codex_body(), headers=bearer(alice))
                assert still.status_code == 400 and still.json()["error"]["code"] == "budget_exceeded"
        finally:
            await again.stop()
    listing = codexglm("keys", "list", env=env)
    assert "alice" in listing and "bob" in listing and "revoked" in listing and alice not in listing


def test_concurrent_admissions_never_exceed_the_stream_limit(postgres_url: str) -> None:
    """Eight admissions at once from eight connections (as from several instances): exactly the limit gets in."""
    from concurrent.futures import ThreadPoolExecutor

    from codexglm.team.members import Member
    from codexglm.team.store import Counters, TeamStore

    stores = [TeamStore(PostgresStore(postgres_url, pool_size=1)) for _ in range(8)]
    try:
        name = f"race-{time.time_ns()}"
        stores[0].create(Member(name=name, key_tail="", max_streams=3))
        for store in stores:
            store.ping()  # connected, schema in place: the eight calls below start together
        now = time.time()
        start = threading.Barrier(8)

        def admit(i: int) -> Counters:
            start.wait()
            return stores[i].admit(name, 0, now, f"{name}-{i}", 60)

        with ThreadPoolExecutor(8) as pool:
            counters = list(pool.map(admit, range(8)))
        admitted = sorted(c.streams for c in counters)
        assert admitted == list(range(1, 9))  # each saw every earlier lease: at most 3 pass `streams <= 3`
        assert sum(c.streams <= 3 for c in counters) == 3
    finally:
        for store in stores:
            store.close()


async def test_two_instances_share_which_endpoint_each_key_takes(tmp_path: Path, postgres_url: str) -> None:
    """Auto mode: what instance A learns (this key's plan is refused on the Coding Plan path)
    instance B uses from its first request, instead of being refused once itself."""
    from codexglm.providers.glm.endpoints import CODING_PATH, GENERAL_PATH
    from codexglm.team.endpoints import SYNC_SECONDS
    from codexglm.team.members import hash_key
    from tests.mockglm import DEFAULT_KEY

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS team_endpoints")
        admin.execute("CREATE DATABASE team_endpoints")
    url = postgres_url.rsplit("/", 1)[0] + "/team_endpoints"

    def learned() -> list[tuple[str, str]]:
        with psycopg.connect(url) as db:
            return [(r[0], r[1]) for r in db.execute("SELECT key_hash, endpoint FROM key_endpoints").fetchall()]

    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        envs = {name: {**gateway_env(tmp_path, mock, name, url), "GLM_ZAI_ENDPOINT_MODE": "auto",
                       "GLM_ZAI_KEY_TYPE": "standard"} for name in ("cli", "a", "b")}
        alice = codexglm("keys", "create", "alice", env=envs["cli"]).splitlines()[-1]
        a, b = Instance(envs["a"], free_port()), Instance(envs["b"], free_port())
        await a.start()
        await b.start()
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                assert (await client.post(f"{a.url}/v1/responses", json=codex_body(), headers=bearer(alice))).status_code == 200
                with trio.fail_after(10):
                    while await trio.to_thread.run_sync(learned) != [(hash_key(DEFAULT_KEY), "general")]:
                        await trio.sleep(0.1)
                await trio.sleep(2 * SYNC_SECONDS)  # B's next sync reads it
                assert (await client.post(f"{b.url}/v1/responses", json=codex_body(), headers=bearer(alice))).status_code == 200
        finally:
            await a.stop()
            await b.stop()
    paths = [r.path.removesuffix("/chat/completions") for r in mock.chat_requests]
    assert paths == [CODING_PATH, GENERAL_PATH, GENERAL_PATH]
