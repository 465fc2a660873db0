"""The real Codex CLI through `codexglm exec`: usage accounting, long and compacted
histories, and resuming a thread."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import Stream, open_mock_glm, text_reply, tool_reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _usage(prompt: int, cached: int, completion: int, reasoning: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


async def test_usage_reaches_codex(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([("exec_command", json.dumps({"cmd": "true"}))], reasoning="Check.",
                       usage=_usage(12_000, 9_000, 40, 12)),
            text_reply("Done.", usage=_usage(12_500, 11_900, 7, 0)),
        )
        run = await sandbox.exec(mock, "Run true")
    assert run.returncode == 0, run.describe()
    # A turn's usage is the sum over its requests, exactly as GLM reported them.
    [completed] = run.of_type("turn.completed")
    assert completed["usage"] == {
        "input_tokens": 24_500,
        "cached_input_tokens": 20_900,
        "cache_write_input_tokens": 0,
        "output_tokens": 47,
        "reasoning_output_tokens": 12,
    }


# 60 responses of a reasoning item and two calls, plus 120 outputs: 300 history items.
_LOOP_TURNS = 60
_LOOP_PROMPT = "Count to a hundred and twenty, two commands at a time"


def _counting_loop(body: dict) -> Stream:
    """Tool turn after tool turn, two parallel calls each, until the history is long."""
    turns = sum(1 for m in body["messages"] if m.get("tool_calls"))
    if turns == _LOOP_TURNS:
        return text_reply(f"Ran {2 * turns} commands.")
    calls = [("exec_command", json.dumps({"cmd": f"echo {2 * turns + k} >> count.txt"})) for k in (0, 1)]
    return tool_reply(calls, reasoning=f"Turn {turns + 1}.")


def _assert_whole_loop(messages: list[dict]) -> None:
    """Every call and result of the loop, paired and in order, each call with its reasoning."""
    assistants = [m for m in messages if m["role"] == "assistant" and m.get("tool_calls")]
    assert [m["reasoning_content"] for m in assistants] == [f"Turn {n}." for n in range(1, _LOOP_TURNS + 1)]
    calls = [c["id"] for m in assistants for c in m["tool_calls"]]
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == calls
    assert len(set(calls)) == 2 * _LOOP_TURNS


async def test_long_history_of_many_tool_turns_and_its_resume(sandbox: Sandbox) -> None:
    async with open_mock_glm(handler=_counting_loop) as mock:
        run = await sandbox.exec(mock, _LOOP_PROMPT)
        resumed = await sandbox.exec(mock, "resume", "--last", "How many commands was that?")
    assert run.returncode == 0, run.describe()
    assert run.messages() == [f"Ran {2 * _LOOP_TURNS} commands."]
    assert len(run.items("command_execution")) == 2 * _LOOP_TURNS
    assert sorted(int(n) for n in (sandbox.workdir / "count.txt").read_text().split()) == list(range(2 * _LOOP_TURNS))
    assert len(mock.chat_requests) == _LOOP_TURNS + 2
    _assert_whole_loop(mock.chat_requests[-2].json["messages"])
    # Resuming replays the whole session from Codex's rollout file.
    assert resumed.returncode == 0, resumed.describe()
    messages = mock.chat_requests[-1].json["messages"]
    _assert_whole_loop(messages)
    assert _LOOP_PROMPT in messages[1]["content"]
    assert messages[-2] == {"role": "assistant", "content": f"Ran {2 * _LOOP_TURNS} commands."}
    assert messages[-1] == {"role": "user", "content": "How many commands was that?"}


async def test_local_compaction_request_then_the_run_continues(sandbox: Sandbox) -> None:
    # GLM reports more prompt tokens than the compaction limit: Codex compacts before it
    # samples again, in the middle of the turn.
    summary = "Progress: ran `echo step-one`. Next: report the result."
    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([("exec_command", json.dumps({"cmd": "echo step-one"}))], reasoning="Run it.",
                       usage=_usage(30_000, 0, 20, 5)),
            text_reply(summary, usage=_usage(30_100, 29_000, 30, 0)),
            text_reply("step-one was printed.", usage=_usage(2_000, 0, 8, 0)),
        )
        run = await sandbox.exec(mock, "-c", "model_auto_compact_token_limit=20000", "Run echo step-one and report")
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["step-one was printed."]  # the summary is not shown as an answer
    first, compaction, after = (r.json for r in mock.chat_requests)
    assert first["tools"]
    # Codex compacts locally: an ordinary request without tools, asking for a handoff summary.
    assert "tools" not in compaction and "tool_choice" not in compaction
    assert compaction["messages"][-1]["role"] == "user"
    assert "CONTEXT CHECKPOINT COMPACTION" in compaction["messages"][-1]["content"]
    assert any(m.get("tool_calls") for m in compaction["messages"])
    # The run goes on with the summary in place of the tool exchange.
    assert after["tools"]
    assert not any(m["role"] in ("assistant", "tool") for m in after["messages"])
    history = "\n".join(m["content"] for m in after["messages"] if m["role"] == "user")
    assert summary in history and "Run echo step-one and report" in history


@pytest.mark.parametrize("glm_args", [(), ("--glm-no-reasoning",)], ids=["reasoning-shown", "reasoning-hidden"])
async def test_resume_last_continues_the_thread(sandbox: Sandbox, glm_args: tuple[str, ...]) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(
            text_reply("Paris.", reasoning="France's capital is Paris."),
            text_reply("Berlin.", reasoning="Germany's capital is Berlin."),
        )
        first = await sandbox.exec(mock, "Capital of France? One word.", glm_args=glm_args)
        second = await sandbox.exec(mock, "resume", "--last", "And of Germany?", glm_args=glm_args)
    assert first.returncode == 0, first.describe()
    assert second.returncode == 0, second.describe()
    thread = first.of_type("thread.started")[0]["thread_id"]
    assert second.of_type("thread.started")[0]["thread_id"] == thread
    assert second.messages() == ["Berlin."]
    shown = [i["text"] for i in first.items("reasoning")]
    assert shown == ([] if glm_args else ["France's capital is Paris."])
    assert len(mock.chat_requests) == 2
    # The resumed request replays the first exchange with GLM's reasoning back on its
    # answer, whether or not Codex showed that reasoning.
    messages = mock.chat_requests[1].json["messages"]
    assert "Capital of France? One word." in messages[-3]["content"]
    assert messages[-2] == {"role": "assistant", "reasoning_content": "France's capital is Paris.", "content": "Paris."}
    assert messages[-1] == {"role": "user", "content": "And of Germany?"}
