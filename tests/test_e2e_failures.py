"""Failures as the user sees them through `codexglm exec`: every run ends within a bounded
time, either with the answer after a retry or with one clear message naming the cause."""

from __future__ import annotations

import json
import pathlib
import socket
from datetime import datetime, timedelta, timezone

import pytest

from codexglm.codex.overrides import STREAM_MAX_RETRIES
from codexglm.providers.glm.endpoints import CODING_PATH, GENERAL_PATH
from tests.e2e_harness import CodexRun, Sandbox, make_sandbox
from tests.mockglm import (
    DEFAULT_KEY,
    Error,
    MockGLM,
    finish_reply,
    open_mock_glm,
    overloaded,
    text_reply,
    tool_reply,
    usage_limit_reached,
)

pytestmark = pytest.mark.e2e

# Well below the harness default: a failure must surface quickly, not after a long wait.
_TIMEOUT = 50
_PROMPT = "Say hello"
_ANSWER = "Hello after all."


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


async def _run(sandbox: Sandbox, mock: MockGLM) -> CodexRun:
    return await sandbox.exec(mock, _PROMPT, timeout=_TIMEOUT)


def _fatal_message(run: CodexRun) -> str:
    """The one message a failed run ends with; it must be the same on both channels."""
    assert run.returncode == 1, run.describe()
    [failed] = run.of_type("turn.failed")
    assert run.of_type("error")[-1]["message"] == failed["error"]["message"]
    assert run.messages() == []
    return failed["error"]["message"]


def _retries(run: CodexRun) -> list[str]:
    return [e["message"] for e in run.of_type("error") if e["message"].startswith("Reconnecting...")]


def _succeeded(run: CodexRun, *earlier: str) -> None:
    assert run.returncode == 0, run.describe()
    assert run.messages() == [*earlier, _ANSWER]
    assert run.of_type("turn.failed") == []


def _chat_paths(mock: MockGLM) -> list[str]:
    return [r.path.removesuffix("/chat/completions") for r in mock.chat_requests]


@pytest.mark.smoke
@pytest.mark.parametrize("keys", [["not-a-valid-key-9876"], ["not-a-valid-key-9876", "also-invalid-key-5432"]],
                         ids=["one-key", "key-pool"])
async def test_bad_key_fails_at_once_naming_the_key(sandbox: Sandbox, keys: list[str]) -> None:
    sandbox.extra_env["ZAI_API_KEY"] = ",".join(keys)
    async with open_mock_glm() as mock:
        run = await _run(sandbox, mock)
    message = _fatal_message(run)
    assert "rejected the API key" in message and "GLM 1002" in message and "ZAI_API_KEY" in message
    # Each key is tried once, then the run ends: no retries, no reconnect attempts.
    assert sorted(r.key or "" for r in mock.chat_requests) == sorted(keys)
    assert _retries(run) == []
    output = run.stdout + run.stderr
    assert not any(key[:-4] in output for key in keys)


async def test_wrong_plan_on_the_coding_endpoint_explains_endpoint_modes(sandbox: Sandbox) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        run = await _run(sandbox, mock)
    message = _fatal_message(run)
    assert "GLM 1113" in message and "endpoint_mode" in message
    assert _chat_paths(mock) == [CODING_PATH] and _retries(run) == []


async def test_wrong_plan_in_auto_mode_falls_back_to_the_general_endpoint(sandbox: Sandbox) -> None:
    sandbox.extra_env["GLM_ZAI_ENDPOINT_MODE"] = "auto"
    # A Standard key spends cash on either path, so the fallback spends nothing new.
    sandbox.extra_env["GLM_ZAI_KEY_TYPE"] = "standard"
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        mock.enqueue(tool_reply([("exec_command", json.dumps({"cmd": "true"}))]), text_reply(_ANSWER))
        run = await _run(sandbox, mock)
    _succeeded(run)
    # The refused endpoint is tried once; the proxy remembers the one that works.
    assert _chat_paths(mock) == [CODING_PATH, GENERAL_PATH, GENERAL_PATH]
    assert _retries(run) == []


async def test_quota_reached_names_the_reset_time(sandbox: Sandbox) -> None:
    reset = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    beijing = reset.astimezone(timezone(timedelta(hours=8)))
    async with open_mock_glm() as mock:
        mock.fail_next(1, usage_limit_reached(beijing.strftime("%Y-%m-%d %H:%M:%S")))
        run = await _run(sandbox, mock)
    message = _fatal_message(run)
    assert "usage limit is used up" in message and "GLM 1308" in message
    assert f"resets at {reset:%Y-%m-%d %H:%M:%S} UTC" in message
    assert len(mock.chat_requests) == 1 and _retries(run) == []


@pytest.mark.parametrize(
    ("failure", "times"),
    [
        pytest.param(Error(429, "1302", "Rate limit reached for requests"), 1, id="rate-limit-1302"),
        pytest.param(overloaded(), 1, id="overloaded-1305"),
        pytest.param(Error(500, "500", "Internal Error"), 2, id="http-500-twice"),
        pytest.param(Error(503, "503", "Service Unavailable"), 2, id="http-503-twice"),
    ],
)
async def test_transient_failure_then_success(sandbox: Sandbox, failure: Error, times: int) -> None:
    async with open_mock_glm() as mock:
        mock.fail_next(times, failure)
        mock.enqueue(text_reply(_ANSWER))
        run = await _run(sandbox, mock)
    _succeeded(run)
    # The proxy retried before any byte reached Codex: the same request went upstream again.
    assert _retries(run) == []
    bodies = [r.json for r in mock.chat_requests]
    assert len(bodies) == times + 1 and all(body == bodies[0] for body in bodies)


async def test_rate_limited_key_gives_way_to_the_next_key_of_the_pool(sandbox: Sandbox) -> None:
    sandbox.extra_env["ZAI_API_KEY"] = "first-pool-key-aaaa,second-pool-key-bbbb"
    keys = {"first-pool-key-aaaa": {"coding"}, "second-pool-key-bbbb": {"coding"}}
    async with open_mock_glm(keys=keys) as mock:
        mock.fail_next(1, Error(429, "1302", "Rate limit reached for requests"))
        mock.enqueue(text_reply(_ANSWER))
        run = await _run(sandbox, mock)
    _succeeded(run)
    used = [r.key for r in mock.chat_requests]
    assert len(used) == 2 and used[0] != used[1]


async def test_mid_stream_disconnect_is_retried_without_duplicates(sandbox: Sandbox) -> None:
    call = ("exec_command", json.dumps({"cmd": "echo once >> ran.txt"}))
    cut = tool_reply([call], reasoning="Run it once.", text="Running the command.")
    # Everything but the finish chunk arrives, then the connection drops.
    cut.disconnect_after = len(cut.chunks) - 1
    async with open_mock_glm() as mock:
        mock.enqueue(cut, tool_reply([call], reasoning="Run it once.", text="Running the command."),
                     text_reply(_ANSWER))
        run = await _run(sandbox, mock)
    _succeeded(run, "Running the command.")
    [retry] = _retries(run)
    assert "GLM closed the connection" in retry
    # The broken attempt left nothing behind: one command, one of each item.
    assert (sandbox.workdir / "ran.txt").read_text() == "once\n"
    assert [i["text"] for i in run.items("reasoning")] == ["Run it once."]
    assert len(run.items("command_execution")) == 1
    first, again, final = (r.json["messages"] for r in mock.chat_requests)
    assert again == first
    assert [m["role"] for m in final[len(first):]] == ["assistant", "tool"]
    assert final[-2]["content"] == "Running the command." and len(final[-2]["tool_calls"]) == 1


async def test_content_filter_finish_ends_with_a_clear_message(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(finish_reply("sensitive", text="Partial ans"))
        run = await _run(sandbox, mock)
    message = _fatal_message(run)
    assert "content filter" in message and "sensitive" in message
    assert len(mock.chat_requests) == 1 and _retries(run) == []


async def test_network_error_finish_is_retried(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(finish_reply("network_error", text="Partial ans"), text_reply(_ANSWER))
        run = await _run(sandbox, mock)
    _succeeded(run)
    [retry] = _retries(run)
    assert "network_error" in retry
    assert len(mock.chat_requests) == 2


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_unreachable_upstream_ends_with_a_clear_message(sandbox: Sandbox) -> None:
    sandbox.extra_env["ZAI_CODING_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}{CODING_PATH}"
    async with open_mock_glm() as mock:
        run = await _run(sandbox, mock)
    message = _fatal_message(run)
    assert "cannot reach GLM" in message and "connection failed" in message
    assert mock.requests == []
    # Codex retries the failed stream as often as the launcher allows, then stops.
    assert len(_retries(run)) == STREAM_MAX_RETRIES
