"""The usage ledger through the real Codex CLI: `codexglm exec` runs against the mock GLM,
then `codexglm usage` must agree with what GLM sent and with Codex's own
`turn.completed.usage`; the exit line on stderr; concurrent launches; a read-only state dir."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import trio

from tests.e2e_harness import CODEX_FLAGS, CodexRun, Sandbox, make_sandbox
from tests.mockglm import MockGLM, finish_reply, open_mock_glm, overloaded, text_reply, tool_reply

pytestmark = pytest.mark.e2e
TOKEN_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _glm_totals(usages: list[dict[str, Any]]) -> dict[str, int]:
    """What GLM sent, in Codex's terms: prompt tokens include the cached ones."""
    return {
        "input_tokens": sum(u["prompt_tokens"] for u in usages),
        "cached_input_tokens": sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages),
        "output_tokens": sum(u["completion_tokens"] for u in usages),
        "reasoning_output_tokens": sum(u.get("completion_tokens_details", {}).get("reasoning_tokens", 0) for u in usages),
    }


def _codex_usage(run: CodexRun) -> dict[str, int]:
    [completed] = run.of_type("turn.completed")
    return {key: completed["usage"][key] for key in TOKEN_KEYS}


def _thread(run: CodexRun) -> str:
    [started] = run.of_type("thread.started")
    return str(started["thread_id"])


def _usage(sandbox: Sandbox, mock: MockGLM | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codexglm", "usage", *args], env=sandbox.env(mock),
                          capture_output=True, text=True, timeout=60)


def _usage_json(sandbox: Sandbox, *args: str) -> dict[str, Any]:
    result = _usage(sandbox, None, "--json", *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


async def _exec_plain(sandbox: Sandbox, mock: MockGLM, prompt: str) -> subprocess.CompletedProcess[bytes]:
    """`codexglm exec` without --json, as a person runs it: the exit line is for them."""
    flags = [flag for flag in CODEX_FLAGS if flag != "--json"]
    command = [sys.executable, "-m", "codexglm", "exec", *flags, "-C", str(sandbox.workdir), prompt]
    with trio.fail_after(120):
        return await trio.run_process(command, env=sandbox.env(mock), cwd=str(sandbox.workdir), capture_stdout=True,
                                      capture_stderr=True, check=False, stdin=subprocess.DEVNULL)


async def test_three_exec_runs_add_up_to_what_glm_sent_and_codex_reported(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("First.", reasoning="Short."))
        first = await sandbox.exec(mock, "Say one thing")
        mock.enqueue(
            tool_reply([("exec_command", json.dumps({"cmd": "true"}))], reasoning="Run it."),
            text_reply("Ran it."),
        )
        second = await sandbox.exec(mock, "Run true")
        mock.fail_next(1, overloaded())  # retried inside the proxy: no tokens, one row
        mock.enqueue(text_reply("Third."))
        third = await sandbox.exec(mock, "Say another thing")
    runs = [first, second, third]
    for run in runs:
        assert run.returncode == 0, run.describe()
        assert "codexglm:" not in run.stderr  # exec --json: no exit line unless asked
    usage = _usage_json(sandbox, "--since", "1h")
    sent = _glm_totals(mock.usage_sent)
    assert len(mock.usage_sent) == usage["totals"]["requests"] == len(mock.chat_requests) - 1 >= 4
    assert {key: usage["totals"][key] for key in TOKEN_KEYS} == sent
    # Codex's own count of each run equals the ledger's rows of that run's session.
    by_session = {row["session"]: row for row in _usage_json(sandbox, "--since", "1h", "--by", "session")["rows"]}
    for run in runs:
        assert {key: by_session[_thread(run)][key] for key in TOKEN_KEYS} == _codex_usage(run)
    assert set(by_session) == {_thread(run) for run in runs}
    [model] = _usage_json(sandbox, "--since", "1h", "--by", "model")["rows"]
    assert model["model"] == "glm-5.3" and model["plan_usd"] > 0 and model["cost_usd"] == 0  # Coding Plan


async def test_a_retried_turn_counts_the_failed_attempt_once_and_marks_it(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        # GLM bills the attempt that ended in network_error; Codex retries the request.
        mock.enqueue(finish_reply("network_error", text="Half"), text_reply("Whole answer."))
        run = await sandbox.exec(mock, "Answer")
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["Whole answer."]
    assert len(mock.usage_sent) == 2
    usage = _usage_json(sandbox, "--since", "1h")
    assert {key: usage["totals"][key] for key in TOKEN_KEYS} == _glm_totals(mock.usage_sent)
    assert usage["totals"]["requests"] == 2 and usage["totals"]["failed_requests"] == 1
    # Codex counts only the answer it used; the ledger's successful row is exactly that.
    assert _codex_usage(run) == _glm_totals(mock.usage_sent[1:])
    table = _usage(sandbox, None, "--since", "1h")
    assert "1 failed request(s) included, each counted once" in table.stdout


async def test_the_exit_line_follows_a_plain_exec_and_names_the_resume_command(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Hello there."))
        result = await _exec_plain(sandbox, mock, "Say hello")
        assert result.returncode == 0, result.stderr
        line = result.stderr.decode().strip().splitlines()[-1]
        assert line.startswith("codexglm: 1 request · ") and " in (" in line and "plan usage worth" in line
        assert "plan 5-hour 12% (resets " in line  # the mock's quota window
        session = line.rsplit("resume: codexglm resume ", 1)[1]
        # The hint works: the session resumes through codexglm with its history.
        mock.enqueue(text_reply("Resumed."))
        resumed = await sandbox.exec(mock, "resume", session, "And again")
    assert resumed.returncode == 0, resumed.describe()
    assert resumed.messages() == ["Resumed."]
    history = [m.get("content") for m in mock.chat_requests[-1].json["messages"]]
    assert any("Say hello" in json.dumps(content) for content in history)


async def test_the_exit_line_is_switched_by_config(sandbox: Sandbox) -> None:
    config = sandbox.root / "config" / "config.toml"
    async with open_mock_glm() as mock:
        config.write_text("exit_summary = false\n")
        quiet = await _exec_plain(sandbox, mock, "Say hello")
        config.write_text('exit_summary = "always"\n')
        asked = await sandbox.exec(mock, "Say hello")
    assert quiet.returncode == 0 and b"codexglm:" not in quiet.stderr
    assert asked.returncode == 0 and "codexglm: 1 request" in asked.stderr
    assert all(line.startswith("{") for line in asked.stdout.splitlines() if line.strip())  # stdout stays JSON


async def test_concurrent_launches_lose_no_row(sandbox: Sandbox) -> None:
    runs: list[CodexRun] = []
    async with open_mock_glm() as mock:

        async def one(prompt: str) -> None:
            runs.append(await sandbox.exec(mock, prompt))

        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(one, f"Say {n}")
    assert all(run.returncode == 0 for run in runs), [run.describe() for run in runs]
    usage = _usage_json(sandbox, "--since", "1h", "--by", "session")
    assert usage["totals"]["requests"] == len(mock.usage_sent) >= 3
    assert {key: usage["totals"][key] for key in TOKEN_KEYS} == _glm_totals(mock.usage_sent)
    assert {row["session"] for row in usage["rows"]} == {_thread(run) for run in runs}


async def test_a_read_only_state_dir_still_runs_and_says_usage_was_not_saved(sandbox: Sandbox) -> None:
    state = sandbox.root / "state"
    state.chmod(0o500)
    if os.access(state, os.W_OK):  # root writes anywhere: a state dir under a file cannot be made
        blocker = sandbox.root / "blocker"
        blocker.write_text("")
        state = blocker / "state"
    sandbox.extra_env["CODEXGLM_STATE_DIR"] = str(state)
    try:
        async with open_mock_glm() as mock:
            result = await _exec_plain(sandbox, mock, "Say hello")
    finally:
        (sandbox.root / "state").chmod(0o700)
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("codexglm: 1 request") and "(usage not recorded: cannot open" in line
