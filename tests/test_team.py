"""The team gateway on one instance with no database server: member keys, limits before
any upstream call, refusals Codex shows, usage per member, /metrics, /readyz, /dashboard."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from codexglm.ledger.entry import UsageEntry
from codexglm.ledger.store import SqliteStore
from codexglm.team.gate import Gate
from codexglm.team.members import KEY_PREFIX, hash_key, period_bounds
from codexglm.team.store import TeamError, TeamStore, open_team_store
from tests.mockglm import open_mock_glm
from tests.server_support import codex_body
from tests.team_support import ADMIN, bearer, member, running_gateway


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TeamStore]:
    team = open_team_store(None, tmp_path / "usage.sqlite3")
    yield team
    team.close()


def test_keys_are_stored_hashed_and_shown_once(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("alice", budget_usd=5.0, rpm=10, models=("glm-5.1",)))
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("usage.sqlite3*"))  # the file and its WAL
    assert key.encode() not in raw and hash_key(key).encode() in raw
    found = store.by_key(key)
    assert found is not None and found.name == "alice" and found.key_tail == key[-4:] and found.models == ("glm-5.1",)
    assert store.by_key(key + "x") is None
    with pytest.raises(TeamError, match="exists already"):
        store.create(member("alice"))


def test_revoke_and_rotate(store: TeamStore) -> None:
    old = store.create(member("bob"))
    store.revoke("bob")
    assert store.member("bob").revoked is not None
    new = store.rotate("bob")
    assert store.by_key(old) is None
    rotated = store.by_key(new)
    assert rotated is not None and rotated.revoked is None
    with pytest.raises(TeamError, match="no member named 'carol'"):
        store.revoke("carol")
    with pytest.raises(TeamError, match="no member named 'carol'"):
        store.rotate("carol")


@given(st.floats(min_value=0, max_value=4e9), st.sampled_from(["day", "week", "month"]))
def test_a_period_contains_its_moment_and_starts_at_midnight_utc(now: float, period: str) -> None:
    start, end = period_bounds(period, now)
    assert start <= now < end and start % 86_400 == 0 and end % 86_400 == 0
    assert 86_400 <= end - start <= 31 * 86_400


def test_spend_counts_this_members_rows_in_the_period_only(store: TeamStore) -> None:
    now = time.time()
    rows = [
        UsageEntry(time=now, provider="glm", model="glm-5.1", endpoint="coding", cost_usd=0.25, member="alice"),
        UsageEntry(time=now, provider="glm", model="glm-5.1", endpoint="coding", cost_usd=1.0, member="bob"),
        UsageEntry(time=now - 40 * 86_400, provider="glm", model="glm-5.1", endpoint="coding", cost_usd=9.0, member="alice"),
    ]
    store.db.record(rows)
    assert store.spent("alice", period_bounds("month", now)[0]) == pytest.approx(0.25)


async def test_a_member_key_replaces_the_token_and_usage_is_recorded_per_member(
    tmp_path: Path, store: TeamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer would hold the row for a minute: the member's usage answer must not wait for
    # it (their exit line is asked for as soon as Codex exits).
    monkeypatch.setattr("codexglm.ledger.writer.GATHER_SECONDS", 60.0)
    key = store.create(member("alice"))
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
        answer = await client.post("/v1/responses", json=codex_body(), headers=bearer(key))
        assert answer.status_code == 200 and b"response.completed" in answer.content
        models = await client.get("/v1/models", headers=bearer(key))
        assert models.status_code == 200 and models.json()["data"]
        with trio.fail_after(10):
            mine = await client.get("/v1/codexglm/usage", params={"since": time.time() - 60}, headers=bearer(key))
        bad_since = await client.get("/v1/codexglm/usage", params={"since": "soon"}, headers=bearer(key))
        assert mine.status_code == 200 and mine.json()["member"] == "alice" and mine.json()["totals"]["requests"] == 1
        assert bad_since.status_code == 400 and bad_since.json()["error"]["param"] == "since"
        wrong = await client.post("/v1/responses", json=codex_body(), headers=bearer("cgm_not-a-key"))
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert len(mock.chat_requests) == 1
    rows = sqlite3.connect(tmp_path / "usage.sqlite3").execute("SELECT member, input_tokens FROM requests").fetchall()
    assert [(name, tokens > 0) for name, tokens in rows] == [("alice", True)]


async def test_limits_are_refused_before_any_upstream_call(tmp_path: Path, store: TeamStore) -> None:
    only_air = store.create(member("ann", models=("glm-4.5-air",)))
    broke = store.create(member("bea", budget_usd=0.5, period="day"))
    store.db.record([UsageEntry(time=time.time(), provider="glm", model="glm-5.1", endpoint="coding", cost_usd=0.75, member="bea")])
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
        model = await client.post("/v1/responses", json=codex_body(), headers=bearer(only_air))
        budget = await client.post("/v1/chat/completions", json={"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}]},
                                   headers=bearer(broke))
        assert mock.chat_requests == []
    assert model.status_code == 400 and model.json()["error"]["code"] == "model_not_allowed"
    assert "member ann may not use model glm-5.1; allowed: glm-4.5-air" in model.json()["error"]["message"]
    error = budget.json()["error"]
    assert budget.status_code == 400 and error["code"] == "budget_exceeded" and "Retry-After" not in budget.headers
    assert "member bea has used its budget: $0.75 of $0.50 this day" in error["message"] and "it resets" in error["message"]


async def test_requests_per_minute_and_streams_get_429_with_retry_after(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("cid", rpm=1))
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
        first = await client.post("/v1/responses", json=codex_body(), headers=bearer(key))
        second = await client.post("/v1/responses", json=codex_body(), headers=bearer(key))
        assert len(mock.chat_requests) == 1
    assert first.status_code == 200 and second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    assert "member cid sent 2 requests this minute, the limit is 1 per minute" in second.json()["error"]["message"]


async def test_concurrent_streams_are_limited_and_released(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("dee", max_streams=1))
    gate = Gate(store)
    alice = await gate.member(key)
    lease = await gate.admit(alice, "glm-5.1")
    with pytest.raises(Exception, match="has 1 requests in progress, the limit is 1 at once") as refused:
        await gate.admit(alice, "glm-5.1")
    assert refused.value.status == 429 and refused.value.retry_after == 1  # type: ignore[attr-defined]
    gate.release(lease)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gate.run)
        await trio.sleep(0.8)
        nursery.cancel_scope.cancel()
    gate.release(await gate.admit(alice, "glm-5.1"))


async def test_a_revoked_key_is_refused_within_the_cache_time(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("eve"))
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store, cache_seconds=0.5) as client:
        assert (await client.get("/v1/models", headers=bearer(key))).status_code == 200
        store.revoke("eve")
        await trio.sleep(0.6)
        refused = await client.get("/v1/models", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "key_revoked"
    assert f"the key of member eve (…{key[-4:]}) was revoked" in refused.json()["error"]["message"]


async def test_metrics_readiness_and_the_admin_surface(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("fay"))
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
        await client.post("/v1/responses", json=codex_body(), headers=bearer(key))
        member_metrics = await client.get("/metrics", headers=bearer(key))
        metrics = await client.get("/metrics", headers=bearer(ADMIN))
        ready = await client.get("/readyz")
        health = await client.get("/healthz", headers=bearer(ADMIN))
        member_health = await client.get("/healthz", headers=bearer(key))
        page = await client.get("/dashboard", headers=bearer(ADMIN))
    assert member_metrics.status_code == 401 and member_metrics.json()["error"]["code"] == "invalid_admin_token"
    text = metrics.text
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'codexglm_requests_total{member="fay",model="glm-5.1",outcome="ok",provider="glm"} 1.0' in text
    assert 'codexglm_tokens_total{kind="input",member="fay",model="glm-5.1",provider="glm"}' in text
    assert "codexglm_upstream_latency_seconds_bucket" in text and "codexglm_streams_in_flight 0.0" in text
    assert ready.status_code == 200 and ready.json() == {"status": "ready"} and health.status_code == 200
    assert member_health.status_code == 401
    assert page.status_code == 200 and 'id="usage-chart"' in page.text and 'data-member="fay"' in page.text


async def test_an_unreachable_database_is_a_503_not_a_hang(tmp_path: Path) -> None:
    from tests.pg_support import free_port

    store = open_team_store(f"postgresql://nobody@127.0.0.1:{free_port()}/none", None)
    try:
        async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
            with trio.fail_after(15):
                refused = await client.post("/v1/responses", json=codex_body(), headers=bearer("cgm_whatever"))
                ready = await client.get("/readyz")
            assert mock.chat_requests == []
    finally:
        store.close()
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "database_unavailable"
    assert "try again shortly" in refused.json()["error"]["message"]
    assert ready.status_code == 503 and "unavailable" in ready.json()["reason"]


def test_an_sqlite_team_store_shares_the_usage_ledger_file(tmp_path: Path, store: TeamStore) -> None:
    assert isinstance(store.db, SqliteStore) and store.db.path == tmp_path / "usage.sqlite3"


def _keys(tmp_path: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CODEXGLM_CONFIG_DIR": str(tmp_path / "config"),
        "CODEXGLM_STATE_DIR": str(tmp_path / "state"),
        "CODEXGLM_CACHE_DIR": str(tmp_path / "cache"),
        **({"CODEXGLM_DB": db} if db else {}),
    }
    return subprocess.run([sys.executable, "-m", "codexglm", "keys", *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_keys_command_prints_the_key_last_and_mistakes_in_one_line(tmp_path: Path) -> None:
    created = _keys(tmp_path, "create", "gil", "--budget-usd", "2.5", "--rpm", "5", "--models", "glm-5.1, glm-4.7")
    assert created.returncode == 0 and created.stdout.splitlines()[-1].startswith(KEY_PREFIX)
    shown = _keys(tmp_path, "show", "gil").stdout
    assert "gil  key …" + created.stdout.strip()[-4:] in shown and "$0.00 of $2.50 this month" in shown
    assert "rpm 5" in shown and "models glm-5.1,glm-4.7" in shown
    for args, message in [
        (("create", "gil"), "a member named 'gil' exists already"),
        (("revoke", "nobody"), "no member named 'nobody'"),
        (("create", "bad name"), "NAME may hold letters"),
        (("create", "hal", "--rpm", "many"), "--rpm must be a number"),
        (("create", "hal", "--budget-usd", "-1"), "--budget-usd must be more than 0"),
        (("create", "hal", "--period", "year"), "invalid choice: 'year'"),
        ((), "name an action"),
    ]:
        failed = _keys(tmp_path, *args)
        assert failed.returncode in (1, 2) and message in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    wrong_db = _keys(tmp_path, "list", db="mysql://somewhere/db")
    assert wrong_db.returncode == 1 and "--db must be a postgresql:// URL" in wrong_db.stderr
    secret = _keys(tmp_path, "list", db=f"postgresql://u:hunter2secret@127.0.0.1:{_closed_port()}/x")
    assert secret.returncode == 1 and "hunter2secret" not in secret.stderr and "u:****@" in secret.stderr


def _closed_port() -> int:
    from tests.pg_support import free_port

    return free_port()


def test_doctor_states_the_team_rule_and_checks_a_members_key(tmp_path: Path) -> None:
    from codexglm.doctor.local import gateway_check
    from codexglm.doctor.report import Status
    from codexglm.settings import Settings

    env = {"CODEXGLM_CONFIG_DIR": str(tmp_path)}
    assert gateway_check(Settings(), env) is None  # no gateway: no line
    member_settings = Settings(gateway_url="http://gw.example:8787/v1")
    missing = gateway_check(member_settings, env)
    assert missing is not None and missing.status is Status.FAIL and "config set member_key -" in missing.fix
    key = "cgm_" + "k" * 40 + "WXYZ"
    found = gateway_check(member_settings, {**env, "CODEXGLM_MEMBER_KEY": key})
    assert found is not None and found.status is Status.OK and "****WXYZ" in found.message and key not in found.message
    assert "a personal Coding Plan key may not be shared" in found.message


async def test_opentelemetry_spans_follow_the_genai_conventions(
    tmp_path: Path, store: TeamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from codexglm.server import proxy as proxy_module
    from codexglm.team.tracing import tracer_from_env

    assert tracer_from_env({}) is None
    assert tracer_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) is not None
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(proxy_module, "tracer_from_env", lambda: provider.get_tracer("test"))
    key = store.create(member("ivy"))
    async with open_mock_glm() as mock, running_gateway(mock, tmp_path, store) as client:
        assert (await client.post("/v1/responses", json=codex_body(), headers=bearer(key))).status_code == 200
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert span.name == "chat glm-5.1" and span.kind.name == "CLIENT" and span.end_time > span.start_time
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.provider.name"] == "glm"
    assert attributes["gen_ai.request.model"] == "glm-5.1" and attributes["codexglm.member"] == "ivy"
    assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] > 0


def test_login_with_a_gateway_stores_the_url_and_the_member_key(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CODEXGLM_CONFIG_DIR": str(tmp_path / "config"),
           "CODEXGLM_STATE_DIR": str(tmp_path / "state"), "CODEXGLM_CACHE_DIR": str(tmp_path / "cache")}
    key = "cgm_" + "m" * 40 + "LAST"

    def login(*args: str, stdin: str = key) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "codexglm", "login", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=60)

    done = login("--gateway", "http://gw.example:8787/v1")
    assert done.returncode == 0, done.stderr
    assert key not in done.stdout + done.stderr and "****LAST" in done.stdout
    assert (tmp_path / "config" / "member_key").read_text().strip() == key
    assert (tmp_path / "config" / "member_key").stat().st_mode & 0o777 == 0o600
    assert 'gateway_url = "http://gw.example:8787/v1"' in (tmp_path / "config" / "config.toml").read_text()
    bad = login("--gateway", "gw.example")
    assert bad.returncode == 2 and "--gateway must be an http:// or https:// URL" in bad.stderr


async def test_a_request_for_no_model_still_counts_against_the_rate(tmp_path: Path, store: TeamStore) -> None:
    key = store.create(member("jo", rpm=1, models=("glm-5.1",)))
    gate = Gate(store)
    jo = await gate.member(key)
    gate.release(await gate.admit(jo, ""))  # a web search: no model to check
    with pytest.raises(Exception, match="member jo sent 2 requests this minute"):
        await gate.admit(jo, "")
