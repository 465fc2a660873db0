"""The proxy's one ledger hook, through the real server and the strict mock GLM: each
upstream request becomes one row whose numbers are the ones GLM sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from codexglm.ledger.entry import estimate_cost
from codexglm.ledger.store import SqliteStore
from codexglm.ledger.writer import Ledger, ledger_path, sqlite_factory
from codexglm.providers.glm.models import MODELS
from codexglm.settings import Settings
from tests.mockglm import (
    DEFAULT_KEY,
    MockGLM,
    content_filtered,
    finish_reply,
    open_mock_glm,
    overloaded,
    quota_data,
    text_reply,
)
from tests.server_support import AUTH, codex_body, running_proxy, sse_events

SESSION = "01a20827-bfbe-79d2-8a7d-ef90c5f7a230"
CHILD = "01a20834-fb41-7161-9290-af07cbbe790d"


def _settings(mock: MockGLM, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(api_keys=(DEFAULT_KEY,), coding_base_url=mock.coding_url, base_url=mock.general_url,
                    log_dir=str(tmp_path / "state"), read_timeout=30.0, max_attempts=3).replace(**overrides)


def _codex_headers(kind: str = "turn", thread: str = SESSION, **extra: str) -> dict[str, str]:
    """Headers as Codex 0.169 sends them (see the captured requests in the protocol notes)."""
    metadata = {"session_id": SESSION, "thread_id": thread, "turn_id": "01a20827-bfe6-7d70-b32d-b63f56e1214e",
                "request_kind": kind, "thread_source": "subagent" if thread != SESSION else "user"}
    return {**AUTH, "session-id": SESSION, "thread-id": thread, "x-codex-turn-metadata": json.dumps(metadata), **extra}


def _rows(settings: Settings) -> list[dict[str, Any]]:
    import sqlite3

    db = sqlite3.connect(ledger_path(settings))
    db.row_factory = sqlite3.Row
    rows = [dict(row) for row in db.execute("SELECT * FROM requests ORDER BY id")]
    db.close()
    return rows


async def _run(mock: MockGLM, settings: Settings, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> Ledger:
    ledger = Ledger(sqlite_factory(settings))
    async with running_proxy(settings, ledger=ledger) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for body, headers in requests:
                with trio.fail_after(20):
                    response = await client.post("/v1/responses", json=body, headers=headers)
                assert response.status_code in (200, 400), response.text
    return ledger


def _glm_tokens(usage: dict[str, Any]) -> tuple[int, int, int, int]:
    return (usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"], usage["completion_tokens"],
            usage.get("completion_tokens_details", {}).get("reasoning_tokens", 0))


def _row_tokens(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return row["input_tokens"], row["cached_input_tokens"], row["output_tokens"], row["reasoning_output_tokens"]


async def test_each_request_is_one_row_with_the_tokens_glm_sent(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        mock.enqueue(text_reply("One.", reasoning="Think."), text_reply("Two."), text_reply("Summary."))
        ledger = await _run(mock, settings, [
            (codex_body("First"), _codex_headers()),
            (codex_body("Child", model="glm-4.7"), _codex_headers(thread=CHILD, **{"x-openai-subagent": "collab_spawn"})),
            (codex_body("Compact"), _codex_headers(kind="compaction")),
        ])
    rows = _rows(settings)
    assert [_row_tokens(row) for row in rows] == [_glm_tokens(u) for u in mock.usage_sent]
    assert [(r["kind"], r["session_id"], r["thread_id"]) for r in rows] == [
        ("turn", SESSION, SESSION), ("subagent", SESSION, CHILD), ("compaction", SESSION, SESSION)]
    assert [r["model"] for r in rows] == ["glm-5.1", "glm-4.7", "glm-5.1"]
    assert all(r["provider"] == "glm" and r["endpoint"] == "coding" and r["plan"] == 1 for r in rows)
    assert all(r["outcome"] == "ok" and r["retries"] == 0 and r["ttft_ms"] > 0 for r in rows)
    assert all(r["duration_ms"] >= r["ttft_ms"] for r in rows)
    assert rows[0]["turn_id"] == "01a20827-bfe6-7d70-b32d-b63f56e1214e"
    for row in rows:
        expected = estimate_cost(MODELS[row["model"]], row["input_tokens"], row["cached_input_tokens"], row["output_tokens"])
        assert row["cost_usd"] == expected
    # The in-memory tally the exit line prints agrees with the stored rows.
    assert ledger.tally.totals.requests == 3 and ledger.tally.session_id == SESSION
    assert ledger.tally.totals.input_tokens == sum(r["input_tokens"] for r in rows)


async def test_retries_are_counted_and_a_failed_attempts_tokens_are_kept_once(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path, endpoint_mode="base-only")
        mock.fail_next(1, overloaded())  # retried inside the proxy: one row, one retry
        mock.enqueue(
            text_reply("Fine."),
            # GLM bills a stream that ends in network_error; Codex gets response.failed and retries.
            finish_reply("network_error", text="Par"),
            text_reply("Recovered."),
        )
        await _run(mock, settings, [(codex_body("a"), _codex_headers()), (codex_body("b"), _codex_headers()),
                                    (codex_body("b"), _codex_headers())])
    rows = _rows(settings)
    assert [(r["retries"], r["outcome"]) for r in rows] == [(1, "ok"), (0, "server_error"), (0, "ok")]
    # A pay-as-you-go endpoint: cash, not plan usage.
    assert {(r["endpoint"], r["plan"]) for r in rows} == {("general", 0)}
    assert [_row_tokens(row) for row in rows] == [_glm_tokens(u) for u in mock.usage_sent]
    assert len(mock.usage_sent) == 3


async def test_a_request_glm_refuses_is_a_row_with_its_error_code(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        mock.fail_next(1, content_filtered())
        await _run(mock, settings, [(codex_body("x"), _codex_headers())])
    [row] = _rows(settings)
    assert row["outcome"] != "ok" and row["input_tokens"] == 0 and row["ttft_ms"] is None


async def test_non_streaming_requests_are_recorded_too(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        await _run(mock, settings, [(codex_body("x", stream=False), _codex_headers())])
    [row] = _rows(settings)
    assert _row_tokens(row) == _glm_tokens(mock.usage_sent[0]) and row["outcome"] == "ok"


async def test_the_chat_completions_route_is_recorded_with_glms_numbers(tmp_path: Path) -> None:
    chat = {"model": "glm-4.7", "messages": [{"role": "user", "content": "Hi"}]}
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        ledger = Ledger(sqlite_factory(settings))
        async with running_proxy(settings, ledger=ledger) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as client:
                for stream in (False, True):
                    body = {**chat, "stream": stream, "stream_options": {"include_usage": True}}
                    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    rows = _rows(settings)
    assert [_row_tokens(row) for row in rows] == [_glm_tokens(u) for u in mock.usage_sent] and len(rows) == 2
    assert all(row["model"] == "glm-4.7" and row["outcome"] == "ok" and row["cost_usd"] > 0 for row in rows)


async def test_requests_refused_before_going_upstream_are_not_rows(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        ledger = Ledger(sqlite_factory(settings))
        async with running_proxy(settings, ledger=ledger) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                assert (await client.post("/v1/responses", json=codex_body())).status_code == 401
                assert (await client.post("/v1/responses", json={"input": 5}, headers=AUTH)).status_code == 400
                health = (await client.get("/healthz", headers=AUTH)).json()
    assert health["usage_ledger"] == {"error": None, "dropped": 0}
    assert ledger.tally.totals.requests == 0 and _rows(settings) == []


async def test_an_unwritable_ledger_never_fails_a_request(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path, log_dir=str(blocker / "state"), log_requests=False)
        ledger = Ledger(sqlite_factory(settings))
        async with running_proxy(settings, ledger=ledger) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as client:
                for _ in range(3):
                    events = sse_events((await client.post("/v1/responses", json=codex_body())).content)
                    assert events[-1]["type"] == "response.completed"
                await trio.sleep(0.2)
                health = (await client.get("/healthz")).json()
    assert "usage not recorded: cannot open" in health["usage_ledger"]["error"]
    assert ledger.tally.totals.requests == 3


async def test_the_plan_windows_reach_the_ledger(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        ledger = await _run(mock, settings, [(codex_body("x"), _codex_headers())])
        assert ledger.tally.windows[0].used_percent == 12
    store = SqliteStore(ledger_path(settings), read_only=True)
    saved = store.windows()
    store.close()
    assert saved is not None and [w.name for w in saved[1]] == ["5-hour"] == [w.name for w in ledger.tally.windows]


async def test_windows_fetched_after_the_last_request_still_reach_the_exit_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("codexglm.server.quota.REFRESH_SECONDS", 0.05)
    async with open_mock_glm() as mock:
        settings = _settings(mock, tmp_path)
        mock.quota = None  # the usage API does not answer at first
        ledger = Ledger(sqlite_factory(settings))
        async with running_proxy(settings, ledger=ledger) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30, headers=AUTH) as client:
                assert (await client.post("/v1/responses", json=codex_body())).status_code == 200
            assert ledger.tally.windows == []  # the request saw no window
            mock.quota = quota_data(percentage=40)
            await trio.sleep(0.5)  # the monitor's next refresh reads it
    assert [w.used_percent for w in ledger.tally.windows] == [40]
