"""Auto mode's per-key endpoint memory, shared by a team gateway's instances through the
team database (team/endpoints.py): what one instance learns, the others use at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from codexglm.ledger.store import LedgerError, SqliteStore
from codexglm.ledger.writer import Ledger, shared_factory
from codexglm.providers.glm.endpoints import CODING_PATH, GENERAL_PATH
from codexglm.team import endpoints
from codexglm.team.endpoints import SharedEndpoints
from codexglm.team.gate import Gate
from codexglm.team.members import hash_key
from codexglm.team.store import TeamStore
from tests.mockglm import DEFAULT_KEY, open_mock_glm
from tests.server_support import codex_body, mock_settings, running_proxy
from tests.team_support import ADMIN, bearer, member

KEY, OTHER = "zai-shared-endpoint-key-0001", "zai-shared-endpoint-key-0002"
LABELS = ("coding", "general")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TeamStore]:
    team = TeamStore(SqliteStore(tmp_path / "usage.sqlite3"))
    yield team
    team.close()


def _rows(store: TeamStore) -> dict[str, str]:
    with store.db.reading() as db:
        return {r[0]: r[1] for r in db.execute("SELECT key_hash, endpoint FROM key_endpoints").fetchall()}


async def test_what_one_instance_learns_the_other_uses_after_a_sync(store: TeamStore) -> None:
    a, b = SharedEndpoints(store, (KEY, OTHER), LABELS), SharedEndpoints(store, (KEY, OTHER), LABELS)
    a[KEY] = 1
    assert b.get(KEY, 0) == 0  # not shared before a sync
    await a.sync()
    # Stored by hash and label: no key in the database, the same label on every instance.
    assert _rows(store) == {hash_key(KEY): "general"}
    await b.sync()
    assert b[KEY] == 1 and OTHER not in b
    # Moving back is news as well.
    b[KEY] = 0
    await b.sync()
    await a.sync()
    assert a[KEY] == 0 and _rows(store) == {hash_key(KEY): "coding"}


async def test_only_changes_are_written(store: TeamStore) -> None:
    shared = SharedEndpoints(store, (KEY,), LABELS)
    shared[KEY] = 0  # the default: nothing learned
    await shared.sync()
    assert _rows(store) == {}
    shared[KEY] = 1
    await shared.sync()
    with store.db.transaction() as db:
        db.execute("UPDATE key_endpoints SET updated = 1")
    shared[KEY] = 1  # every success is remembered again: no new write
    await shared.sync()
    with store.db.reading() as db:
        assert db.execute("SELECT updated FROM key_endpoints").fetchone()[0] == 1


async def test_a_key_of_another_pool_or_an_unknown_label_is_ignored(store: TeamStore) -> None:
    with store.db.transaction() as db:
        db.execute("INSERT INTO key_endpoints VALUES (?, 'general', 1e12)", (hash_key("someone-elses-key"),))
        db.execute("INSERT INTO key_endpoints VALUES (?, 'anthropic', 1e12)", (hash_key(KEY),))
    shared = SharedEndpoints(store, (KEY,), LABELS)
    await shared.sync()
    assert dict(shared) == {}


async def test_a_database_that_is_down_keeps_the_finding_for_the_next_sync(store: TeamStore) -> None:
    class Down(TeamStore):
        def share_endpoints(self, learned: object, since: float) -> list[tuple[str, str, float]]:
            raise LedgerError("the database is down", passing=True)

    shared = SharedEndpoints(Down(store.db), (KEY,), LABELS)
    shared[KEY] = 1
    await shared.sync()
    assert shared.error == "the database is down" and shared[KEY] == 1
    shared._store = store  # back up
    await shared.sync()
    assert shared.error is None and _rows(store) == {hash_key(KEY): "general"}


async def test_two_gateway_instances_relearn_nothing(
    tmp_path: Path, store: TeamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endpoints, "SYNC_SECONDS", 0.05)
    alice = store.create(member("alice"))
    # A Standard key is served (and bills cash) on both paths, so auto may fall back; its plan
    # does not match the Coding Plan path, which answers 1113.
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        settings = mock_settings(mock, tmp_path, endpoint_mode="auto", key_type="standard")

        async def ask(url: str) -> int:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(f"{url}/v1/responses", json=codex_body(stream=False), headers=bearer(alice))
            return response.status_code

        ledger = Ledger(shared_factory(store.db))
        async with running_proxy(settings, ledger=ledger, gate=Gate(store), admin_token=ADMIN) as a:
            async with running_proxy(settings, ledger=ledger, gate=Gate(store), admin_token=ADMIN) as b:
                assert await ask(a) == 200
                with trio.fail_after(10):
                    while hash_key(DEFAULT_KEY) not in _rows(store):
                        await trio.sleep(0.05)
                await trio.sleep(0.5)  # B's next syncs read it
                assert await ask(b) == 200
        paths = [r.path.removesuffix("/chat/completions") for r in mock.chat_requests]
    # A was refused once on the Coding Plan path; B went to the general path at once.
    assert paths == [CODING_PATH, GENERAL_PATH, GENERAL_PATH]


async def test_outside_auto_mode_nothing_is_shared(tmp_path: Path, store: TeamStore) -> None:
    alice = store.create(member("alice"))
    async with open_mock_glm() as mock:
        async with running_proxy(mock_settings(mock, tmp_path), ledger=Ledger(shared_factory(store.db)), gate=Gate(store),
                                 admin_token=ADMIN) as url:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(f"{url}/v1/responses", json=codex_body(stream=False), headers=bearer(alice))
    assert response.status_code == 200 and _rows(store) == {}
