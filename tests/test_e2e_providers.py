"""Every built-in provider through the real Codex CLI, against its strict mock personality.

One run per provider covers a tool round trip with two parallel calls, reasoning shown,
reasoning replayed the way that provider requires, and usage with cached tokens; a second
run shows its typical account error reaching the user with the provider's name and the fix.
A provider defined only in config.toml gets the same treatment.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from codexglm.providers.base import ModelSpec
from tests.e2e_harness import CodexRun, Sandbox, make_sandbox
from tests.mockglm import Error, tool_reply
from tests.mockglm import text_reply as reply
from tests.mockproviders import (
    PROVIDER_KEY,
    MockProvider,
    Personality,
    deepseek_insufficient_balance,
    inline_think,
    kimi_code_usage_limit,
    minimax_insufficient_balance,
    open_mock_provider,
    openai_error,
    openrouter_no_credits,
    qwen_arrearage,
)

pytestmark = pytest.mark.e2e

_TIMEOUT = 90
_PROMPT = "Write a.txt and b.txt"
_FIRST_THOUGHT = "Two independent commands; run both at once."
_SECOND_THOUGHT = "Both commands succeeded."
_ANSWER = "Both files are written."

# Provider -> (the prefix of its variables, extra codexglm/Codex arguments).
_SETUP: dict[str, tuple[str, tuple[str, ...]]] = {
    "deepseek": ("DEEPSEEK", ()),
    "kimi": ("MOONSHOT", ()),
    "minimax": ("MINIMAX", ()),
    "qwen": ("DASHSCOPE", ("-m", "qwen3-max")),  # the default coder model does not think
    "openrouter": ("OPENROUTER", ()),
}


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _point_at(sandbox: Sandbox, name: str, mock: MockProvider) -> tuple[str, ...]:
    prefix, args = _SETUP[name]
    sandbox.extra_env.update({"CODEXGLM_PROVIDER": name, f"{prefix}_API_KEY": PROVIDER_KEY,
                              f"{prefix}_BASE_URL": mock.base_url})
    return args


def _shell(command: str) -> tuple[str, str]:
    return "exec_command", json.dumps({"cmd": command})


def _commands(key_variable: str) -> list[str]:
    # `printenv` prints nothing (and fails) unless the key leaked into the agent's environment.
    return [f"printenv {key_variable}; echo alpha > a.txt && cat a.txt", "echo beta > b.txt && cat b.txt"]


def _round_trip(mock: MockProvider, key_variable: str) -> None:
    mock.enqueue(
        tool_reply([_shell(command) for command in _commands(key_variable)],
                   reasoning=_FIRST_THOUGHT, tool_stream=True, chunk_size=5),
        reply(_ANSWER, reasoning=_SECOND_THOUGHT),
    )


def _check_round_trip(run: CodexRun, sandbox: Sandbox, mock: MockProvider, key_variable: str) -> dict[str, Any]:
    """What every provider must show; returns the assistant message replayed upstream."""
    assert run.returncode == 0, run.describe()
    assert sorted(c["aggregated_output"].strip() for c in run.items("command_execution")) == ["alpha", "beta"]
    assert (sandbox.workdir / "b.txt").read_text() == "beta\n"
    assert run.messages() == [_ANSWER]
    assert run.items("error") == []  # no "model metadata not found": the catalog knows the model
    assert [i["text"] for i in run.items("reasoning")] == [_FIRST_THOUGHT, _SECOND_THOUGHT]
    usage = run.of_type("turn.completed")[-1]["usage"]
    assert mock.cached_reported[-1] > 0 and usage["cached_input_tokens"] == sum(mock.cached_reported)
    assert len(mock.chat_requests) == 2
    messages = mock.chat_requests[1].json["messages"]
    assistant, results = messages[-3], messages[-2:]
    assert [json.loads(c["function"]["arguments"])["cmd"] for c in assistant["tool_calls"]] == _commands(key_variable)
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in assistant["tool_calls"]]
    assert "alpha" in results[0]["content"] and "beta" in results[1]["content"]
    return assistant


def _replayed_in_field(assistant: dict[str, Any], mock: MockProvider) -> None:
    assert assistant["reasoning_content"] == _FIRST_THOUGHT


def _replayed_details(assistant: dict[str, Any], mock: MockProvider) -> None:
    issued = mock.issued_details[assistant["tool_calls"][0]["id"]]
    assert assistant["reasoning_details"] == issued and "reasoning_content" not in assistant


def _kimi_replay(assistant: dict[str, Any], mock: MockProvider) -> None:
    _replayed_in_field(assistant, mock)
    assert [c["id"] for c in assistant["tool_calls"]] == ["functions.exec_command:0", "functions.exec_command:1"]


def _minimax_replay(assistant: dict[str, Any], mock: MockProvider) -> None:
    _replayed_details(assistant, mock)
    first = mock.chat_requests[0].json
    assert first["reasoning_split"] is True and first["model"] == "MiniMax-M3" and "max_tokens" not in first


def _qwen_replay(assistant: dict[str, Any], mock: MockProvider) -> None:
    # Qwen ignores replayed reasoning, so none is sent; usage needed include_usage.
    assert not any(key.startswith("reasoning") for key in assistant)
    first = mock.chat_requests[0].json
    assert first["enable_thinking"] is True and first["stream_options"] == {"include_usage": True}


def _openrouter_replay(assistant: dict[str, Any], mock: MockProvider) -> None:
    _replayed_details(assistant, mock)
    types = [d["type"] for d in assistant["reasoning_details"]]
    assert types == ["reasoning.text", "reasoning.encrypted"] and "reasoning" not in assistant


_REPLAY: dict[str, Callable[[dict[str, Any], MockProvider], None]] = {
    "deepseek": _replayed_in_field,
    "kimi": _kimi_replay,
    "minimax": _minimax_replay,
    "qwen": _qwen_replay,
    "openrouter": _openrouter_replay,
}


@pytest.mark.parametrize("name", list(_SETUP))
async def test_parallel_tool_round_trip_with_reasoning_and_cached_usage(sandbox: Sandbox, name: str) -> None:
    async with open_mock_provider(name) as mock:
        args = _point_at(sandbox, name, mock)
        key_variable = f"{_SETUP[name][0]}_API_KEY"
        _round_trip(mock, key_variable)
        run = await sandbox.exec(None, *args, _PROMPT, timeout=_TIMEOUT)
    _REPLAY[name](_check_round_trip(run, sandbox, mock, key_variable), mock)


# Provider -> (its typical account error, words the user must see: the provider, the cause, the fix).
_TYPICAL: dict[str, tuple[Callable[[], Error], tuple[str, ...]]] = {
    "deepseek": (deepseek_insufficient_balance, ("DeepSeek balance is used up", "platform.deepseek.com/top_up")),
    "kimi": (kimi_code_usage_limit, ("Kimi Code plan's 5-hour usage limit", "Wait for the window to reset")),
    "minimax": (minimax_insufficient_balance, ("MiniMax account balance is insufficient", "MiniMax 1008",
                                               "Recharge at platform.minimax.io")),
    "qwen": (qwen_arrearage, ("Alibaba Cloud account has an overdue payment", "Qwen Arrearage", "Settle the balance")),
    "openrouter": (openrouter_no_credits, ("OpenRouter credits are used up", "OpenRouter 402",
                                           "openrouter.ai/settings/credits")),
}


@pytest.mark.parametrize("name", list(_SETUP))
async def test_typical_account_error_names_the_provider_and_the_fix(sandbox: Sandbox, name: str) -> None:
    error, words = _TYPICAL[name]
    async with open_mock_provider(name) as mock:
        args = _point_at(sandbox, name, mock)
        mock.fail_next(5, error())
        run = await sandbox.exec(None, *args, "Say hello", timeout=_TIMEOUT)
    assert run.returncode == 1, run.describe()
    [failed] = run.of_type("turn.failed")
    message = failed["error"]["message"]
    assert all(word in message for word in words), message
    assert len(mock.chat_requests) == 1  # an account error is not retried
    assert PROVIDER_KEY[:-4] not in run.stdout + run.stderr


def _acme_check(body: dict[str, Any], spec: ModelSpec, mock: MockProvider) -> Error | None:
    """A self-hosted reasoning model: its thinking must come back inline with its tool calls."""
    for index, message in enumerate(body["messages"]):
        if message.get("role") == "assistant" and message.get("tool_calls") and \
                not str(message.get("content") or "").startswith("<think>"):
            return openai_error(400, f"messages[{index}]: thinking must be replayed inline", "invalid_request_error")
    return None


def _acme_reshape(chunks: list[dict[str, Any]], body: dict[str, Any], mock: MockProvider) -> list[dict[str, Any] | bytes]:
    inline_think(chunks)
    for chunk in chunks:  # cached tokens where this server reports them
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            usage["cache_read_tokens"] = usage.pop("prompt_tokens_details")["cached_tokens"]
    return list(chunks)


_ACME = Personality(
    "acme", "/llm/v1", lambda: openai_error(401, "bad key", "authentication_error"), _acme_check, _acme_reshape,
    table={"acme-coder": ModelSpec("acme-coder", "acme-coder", 200_000, 16_000)},
)
_ACME_KEY_VARIABLE = "ACME_LLM_KEY"


async def test_a_provider_defined_only_in_config_toml(sandbox: Sandbox) -> None:
    async with open_mock_provider(_ACME) as mock:
        (sandbox.root / "config" / "config.toml").write_text(f'''
provider = "acme"

[providers.acme]
vendor = "Acme AI"
base_url = "{mock.base_url}"
key_env = "{_ACME_KEY_VARIABLE}"
models = [{{ id = "acme-coder", context_window = 200000, max_output = 16000 }}]
inline_think_tags = true
reasoning_replay = "tags"
cached_tokens_fields = ["cache_read_tokens"]
max_tokens_field = "max_completion_tokens"
thinking_toggle = "enable-thinking"
''')
        sandbox.extra_env[_ACME_KEY_VARIABLE] = PROVIDER_KEY
        _round_trip(mock, _ACME_KEY_VARIABLE)
        run = await sandbox.exec(None, _PROMPT, timeout=_TIMEOUT)
    assistant = _check_round_trip(run, sandbox, mock, _ACME_KEY_VARIABLE)
    assert assistant["content"].startswith(f"<think>{_FIRST_THOUGHT}</think>")
    first = mock.chat_requests[0]
    assert first.path == "/llm/v1/chat/completions" and first.json["model"] == "acme-coder"
    assert first.json["enable_thinking"] is True
    assert PROVIDER_KEY[:-4] not in run.stdout + run.stderr
