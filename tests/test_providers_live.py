"""The real proxy on a loopback port against each strict provider personality: requests the
provider would refuse never leave the proxy, and its answers come back in Codex's shape."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import trio

from codexglm.codex.contract import judge
from codexglm.providers import get_provider
from codexglm.settings import Settings
from tests import codex_fixtures as cf
from tests.mockglm import text_reply, tool_reply
from tests.mockproviders import PERSONALITIES, PROVIDER_KEY, MockProvider, open_mock_provider
from tests.server_support import AUTH, running_proxy, sse_events


def _settings(name: str, mock: MockProvider, tmp_path: Path) -> Settings:
    return Settings(provider=name, api_keys=(PROVIDER_KEY,), base_url=mock.base_url,
                    default_model=get_provider(name).default_model, log_dir=str(tmp_path / "logs"), read_timeout=30.0)


async def _post(url: str, body: dict) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
        with trio.fail_after(20):
            response = await client.post("/v1/responses", json=body)
    assert response.status_code == 200
    return sse_events(response.content)


# A history Codex may hold for any provider: a tool call without any reasoning before it
# (another provider's turn, a resumed session, thinking that was off).
_HISTORY = [cf.function_call("call_7", "exec_command", {"cmd": "ls"}), cf.call_output("call_7", "a.txt")]


@pytest.mark.parametrize("name", list(PERSONALITIES))
async def test_a_history_without_reasoning_is_accepted_by_every_strict_upstream(tmp_path: Path, name: str) -> None:
    async with open_mock_provider(name) as mock:
        mock.enqueue(text_reply("Listed.", reasoning="The listing is done."))
        async with running_proxy(_settings(name, mock, tmp_path)) as url:
            verdict = judge(await _post(url, cf.body(*_HISTORY, reasoning={"effort": "high"})))
    assert verdict.ok, verdict.problems
    assert verdict.text == "Listed."
    [request] = mock.chat_requests
    assert request.path == mock.personality.base_path + "/chat/completions"


async def test_deepseek_refuses_a_tool_call_replayed_without_reasoning_content(tmp_path: Path) -> None:
    # The mock is as strict as DeepSeek: the placeholder above is what keeps such requests alive.
    async with open_mock_provider("deepseek") as mock:
        async with httpx.AsyncClient(base_url=mock.base_url, headers={"Authorization": f"Bearer {PROVIDER_KEY}"}) as client:
            messages = [{"role": "user", "content": "go"},
                        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                              "function": {"name": "f", "arguments": "{}"}}]},
                        {"role": "tool", "tool_call_id": "c", "content": "ok"}]
            body = {"model": "deepseek-v4-pro", "messages": messages, "thinking": {"type": "enabled"}, "stream": True}
            refused = await client.post("/chat/completions", json=body)
            messages[1]["reasoning_content"] = ""
            accepted = await client.post("/chat/completions", json=body)
    assert refused.status_code == 400 and "must be passed back" in refused.json()["error"]["message"]
    assert "message index 1" in refused.json()["error"]["message"]
    assert accepted.status_code == 200


async def test_kimi_ids_and_usage_inside_the_choice_reach_codex(tmp_path: Path) -> None:
    async with open_mock_provider("kimi") as mock:
        mock.enqueue(tool_reply([("exec_command", json.dumps({"cmd": "ls"}))], reasoning="List it.", tool_stream=True))
        async with running_proxy(_settings("kimi", mock, tmp_path)) as url:
            events = await _post(url, cf.body())
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    [call] = [e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"]
    assert call["call_id"] == "functions.exec_command:0" and json.loads(call["arguments"]) == {"cmd": "ls"}
    usage = events[-1]["response"]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


async def test_openrouter_comments_and_trailing_usage_are_handled(tmp_path: Path) -> None:
    async with open_mock_provider("openrouter") as mock:
        mock.enqueue(text_reply("Hi.", reasoning="Greet."))
        async with running_proxy(_settings("openrouter", mock, tmp_path)) as url:
            events = await _post(url, cf.body())
    verdict = judge(events)
    assert verdict.ok and verdict.text == "Hi." and verdict.reasoning == "Greet."
    usage = events[-1]["response"]["usage"]  # from the trailing `choices: []` chunk after the comments
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


_USER = [{"role": "user", "content": "go"}]


@pytest.mark.parametrize(("name", "body", "phrase"), [
    ("kimi", {"model": "kimi-k3", "messages": _USER, "reasoning_effort": "high"}, "only 'max'"),
    ("minimax", {"model": "MiniMax-M3", "messages": _USER, "max_tokens": 10}, "use max_completion_tokens"),
    ("minimax", {"model": "minimax-m3", "messages": _USER}, "did you mean 'MiniMax-M3'"),
    ("qwen", {"model": "qwen3-max", "messages": _USER, "enable_thinking": True, "stream": False},
     "enable_thinking must be set to false for non-streaming calls"),
    ("qwen", {"model": "qwen3-max", "messages": _USER, "thinking": {"type": "enabled"}}, "thinking parameters"),
    ("openrouter", {"model": "z-ai/glm-5.3", "messages": _USER, "reasoning": {"level": "max"}}, "reasoning must be"),
    ("deepseek", {"model": "deepseek-v4-pro", "messages": _USER, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": None}}]}, "parameters must be a JSON schema"),
])
async def test_each_personality_refuses_what_its_provider_refuses(name: str, body: dict, phrase: str) -> None:
    async with open_mock_provider(name) as mock:
        async with httpx.AsyncClient(base_url=mock.base_url, headers={"Authorization": f"Bearer {PROVIDER_KEY}"}) as client:
            answer = await client.post("/chat/completions", json=body)
            refused_key = await client.post("/chat/completions", json=body, headers={"Authorization": "Bearer nope"})
    text = answer.text
    assert phrase in text, text
    assert refused_key.status_code == 401
