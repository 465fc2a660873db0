"""Upstream floods, huge histories and leftovers of killed launches (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from codexglm.codex.contract import judge
from codexglm.launcher import ScratchDir, sweep_scratch
from codexglm.server import create_app
from codexglm.server.keys import KeyPool
from codexglm.server.quota import QuotaMonitor
from codexglm.settings import Settings
from tests.mockglm import DEFAULT_KEY, open_mock_glm, text_reply
from tests.server_support import AUTH, TOKEN, Script, codex_body, http_response, make_settings, running_proxy, sse_events

LIMIT = 256 * 1024


async def _post(settings: Settings, script: Script, body: dict) -> tuple[int, bytes]:
    app = create_app(settings, TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/responses", json=body, headers=AUTH)
        return response.status_code, await response.get_data()


async def test_a_huge_json_answer_is_refused_not_buffered(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_answer_bytes=LIMIT)
    huge = {"choices": [{"index": 0, "message": {"content": "x" * (4 * LIMIT)}, "finish_reason": "stop"}]}
    status, data = await _post(settings, Script(http_response(200, huge)), codex_body(stream=False))
    body = json.loads(data)
    assert status == 502 and "answer exceeded" in body["error"]["message"]


@pytest.mark.slow
async def test_a_300000_item_history_keeps_the_loop_responsive(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    body = codex_body(stream=False)
    message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]}
    body["input"] = body["input"] + [message] * 300_000
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(trio.current_time())
            await trio.sleep(0.05)

    script = Script(http_response(200, {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        status, _ = await _post(settings, script, body)
        nursery.cancel_scope.cancel()
    assert status == 200
    sent = script.body()
    assert sent["messages"][-1]["content"].count("more") == 300_000  # merged into one message
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
    # The loop was never held for anything like a keep-alive interval (10 s by default).
    assert max(gaps) < settings.keepalive_interval / 2, max(gaps)


async def test_a_monitor_answer_of_absurd_numbers_changes_nothing() -> None:
    answer = '{"success": true, "data": {"limits": [{"type": "TOKENS_LIMIT", "unit": 1e400, "percentage": 1e400, "nextResetTime": 1e400}]}}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=answer.encode()))
    async with httpx.AsyncClient(transport=transport) as client:
        monitor = QuotaMonitor(Settings(), client, KeyPool(["k" * 12]))
        await monitor.refresh("k" * 12)
    assert monitor.headers() == {}


def test_scratch_dirs_of_killed_launches_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    left = tmp_path / f"codexglm-{dead.stdout.strip()}-abc"
    left.mkdir()
    (left / "catalog.json").write_text("{}")
    mine = tmp_path / f"codexglm-{os.getpid()}-def"
    mine.mkdir()
    unrelated = tmp_path / "codexglm-notapid"
    unrelated.mkdir()
    assert sweep_scratch(tmp_path) == [left]
    assert not left.exists() and mine.exists() and unrelated.exists()


def test_a_scratch_dir_is_named_for_its_launcher(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    scratch = ScratchDir()
    try:
        assert scratch().name.startswith(f"codexglm-{os.getpid()}-")
    finally:
        scratch.remove()


async def test_a_flood_of_stream_deltas_is_cut_off_with_a_clear_error(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("word " * 100_000, chunk_size=8))  # megabytes of SSE deltas
        settings = Settings(api_keys=(DEFAULT_KEY,), coding_base_url=mock.coding_url, log_dir=str(tmp_path / "logs"),
                            max_answer_bytes=LIMIT)
        async with running_proxy(settings) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            with trio.fail_after(30):
                response = await client.post("/v1/responses", json=codex_body())
    events = sse_events(response.content)
    verdict = judge(events)
    assert response.status_code == 200 and verdict.ok and verdict.status == "failed", verdict.problems
    message = events[-1]["response"]["error"]["message"]
    assert "answer exceeded the proxy's limit" in message and "max_answer_bytes" in message
    assert len(response.content) < 4 * LIMIT  # cut off, not relayed whole
