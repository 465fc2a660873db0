"""The built-in providers' quirks, one rule per test: what each request carries, how each
answer's reasoning, calls and usage are read, how reasoning goes back, and how each
provider's error bodies reach the user."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm.codex.contract import judge
from codexglm.providers import get_provider, provider_names
from codexglm.providers.base import AUTH, CONTEXT, PLAN, QUOTA, RATE_LIMIT, ModelSpec
from codexglm.providers.controls import region_endpoints, thinking_control
from codexglm.translate import StreamTranslator, build_chat_request, classify_error, is_error_document
from codexglm.translate.reasoning import decode_reasoning, decode_reasoning_details
from tests import codex_fixtures as cf
from tests.mockproviders import openrouter_upstream_rate_limited

_TOGGLE = ModelSpec("t", "T", 1000, 100, "toggle")
_EFFORT = ModelSpec("e", "E", 1000, 100, "effort")
_FORCED = ModelSpec("f", "F", 1000, 100, "forced")
_NONE = ModelSpec("n", "N", 1000, 100, "none")


def _request(name: str, *history: dict[str, Any], **fields: Any) -> dict[str, Any]:
    provider = get_provider(name)
    options = cf.options(provider=provider, default_model=provider.default_model)
    return build_chat_request(cf.body(*history, **fields), options).body


def _run(name: str, chunks: list[dict[str, Any]], model: str | None = None) -> list[dict[str, Any]]:
    provider = get_provider(name)
    options = cf.options(provider=provider, default_model=model or provider.default_model)
    translator = StreamTranslator(build_chat_request(cf.body(), options).context)
    events = translator.start() + [e for chunk in chunks for e in translator.feed(chunk)] + translator.feed_done()
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    return events


def _done_items(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == kind]


def _delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields}]}


_FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


# ----------------------------------------------------------------- shared controls


@pytest.mark.parametrize(("toggle", "on", "off"), [
    ("thinking-type", {"thinking": {"type": "enabled"}}, {"thinking": {"type": "disabled"}}),
    ("thinking-adaptive", {"thinking": {"type": "adaptive"}}, {"thinking": {"type": "disabled"}}),
    ("enable-thinking", {"enable_thinking": True}, {"enable_thinking": False}),
    ("reasoning-object", {"reasoning": {"enabled": True}}, {"reasoning": {"enabled": False}}),
])
def test_a_toggle_switches_thinking_on_and_off(toggle: str, on: dict[str, Any], off: dict[str, Any]) -> None:
    hook = thinking_control(toggle)
    assert hook(_TOGGLE, "high") == on and hook(_TOGGLE, None) == on
    assert hook(_TOGGLE, "none") == off and hook(_TOGGLE, "minimal") == off
    assert hook(_NONE, "high") == {}


def test_efforts_go_where_the_provider_takes_them_and_only_for_models_that_take_one() -> None:
    nested = thinking_control("reasoning-object", "reasoning.effort", {"high": "high"})
    assert nested(_EFFORT, "high") == {"reasoning": {"enabled": True, "effort": "high"}}
    assert nested(_EFFORT, "low") == {"reasoning": {"enabled": True}}  # an effort it does not list is not sent
    assert nested(_FORCED, "high") == {"reasoning": {"effort": "high"}}  # forced: never a switch
    assert nested(_FORCED, "none") == {}
    assert nested(_TOGGLE, "high") == {"reasoning": {"enabled": True}}  # toggle models take no effort
    with pytest.raises(ValueError, match="unknown thinking toggle"):
        thinking_control("telepathy")


def test_region_endpoints_prefer_the_override_then_the_region() -> None:
    class _Settings:
        region, base_url, coding_base_url, endpoint_mode = "china", None, None, "default"

    hook = region_endpoints({"international": "https://intl.example/v1", "china": "https://cn.example/v1/"})
    assert hook(_Settings()) == [("default", "https://cn.example/v1")]
    _Settings.base_url = "http://127.0.0.1:9/x/"
    assert hook(_Settings()) == [("default", "http://127.0.0.1:9/x")]


def test_every_provider_has_its_own_key_and_base_url_variables() -> None:
    variables = {name: get_provider(name).key_env for name in provider_names()}
    assert variables == {"glm": "ZAI_API_KEY", "deepseek": "DEEPSEEK_API_KEY", "kimi": "MOONSHOT_API_KEY",
                         "minimax": "MINIMAX_API_KEY", "qwen": "DASHSCOPE_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
    for name, prefix in (("deepseek", "DEEPSEEK"), ("kimi", "MOONSHOT"), ("minimax", "MINIMAX"), ("qwen", "DASHSCOPE"),
                         ("openrouter", "OPENROUTER")):
        assert get_provider(name).env_settings == {f"{prefix}_BASE_URL": "base_url"}
        assert get_provider(name).lookup(get_provider(name).default_model) is not None


# ----------------------------------------------------------------- requests


def test_deepseek_thinks_with_thinking_type_and_two_efforts() -> None:
    assert _request("deepseek", reasoning={"effort": "medium"})["reasoning_effort"] == "high"
    sent = _request("deepseek", reasoning={"effort": "xhigh"})
    assert sent["thinking"] == {"type": "enabled"} and sent["reasoning_effort"] == "max"
    assert _request("deepseek", reasoning={"effort": "none"})["thinking"] == {"type": "disabled"}


def test_deepseek_gets_reasoning_content_on_every_replayed_tool_call_even_without_reasoning() -> None:
    history = [cf.function_call("c1", "exec_command", {"cmd": "ls"}), cf.call_output("c1", "a.txt")]
    assistant = next(m for m in _request("deepseek", *history)["messages"] if m.get("tool_calls"))
    assert assistant["reasoning_content"] == ""
    plain = [cf.text_message("assistant", "Hi."), cf.text_message("user", "again")]
    assert "reasoning_content" not in next(m for m in _request("deepseek", *plain)["messages"] if m["role"] == "assistant")
    # GLM keeps its old rule: no field where there was no reasoning.
    glm = build_chat_request(cf.body(*history), cf.options()).body["messages"]
    assert "reasoning_content" not in next(m for m in glm if m.get("tool_calls"))


def test_kimi_k3_only_takes_max_and_gets_an_output_budget() -> None:
    sent = _request("kimi", reasoning={"effort": "low"})
    assert sent["model"] == "kimi-k3" and sent["reasoning_effort"] == "max" and "thinking" not in sent
    assert sent["max_tokens"] == 32_000
    assert _request("kimi", reasoning={"effort": "low"}, max_output_tokens=2000)["max_tokens"] == 2000


def test_the_catalog_lists_minimax_models_once_in_minimaxs_spelling() -> None:
    from codexglm.codex.catalog import catalog_slugs
    from codexglm.settings import Settings

    slugs = catalog_slugs(Settings(provider="minimax", default_model="MiniMax-M3"))
    assert list(slugs) == ["MiniMax-M3", "MiniMax-M3.1-Flash", "MiniMax-M2.7"]


def test_minimax_splits_reasoning_and_uses_max_completion_tokens_with_its_own_spelling() -> None:
    sent = _request("minimax", model="minimax-m3", max_output_tokens=1000, reasoning={"effort": "high"})
    assert sent["model"] == "MiniMax-M3"  # the table's spelling, whatever case was asked for
    assert sent["reasoning_split"] is True and sent["thinking"] == {"type": "adaptive"}
    assert sent["max_completion_tokens"] == 1000 and "max_tokens" not in sent


def test_qwen_switches_thinking_with_enable_thinking_and_asks_for_usage() -> None:
    sent = _request("qwen", model="qwen3-max", reasoning={"effort": "high"})
    assert sent["enable_thinking"] is True and sent["stream_options"] == {"include_usage": True}
    assert "enable_thinking" not in _request("qwen", model="qwen3-coder-plus", reasoning={"effort": "high"})
    # DashScope takes enable_thinking only in streaming calls.
    assert "enable_thinking" not in _request("qwen", model="qwen3-max", reasoning={"effort": "high"}, stream=False)


def test_openrouter_takes_the_reasoning_object_and_any_vendor_model() -> None:
    sent = _request("openrouter", model="anthropic/claude-sonnet-9", reasoning={"effort": "max"})
    assert sent["model"] == "anthropic/claude-sonnet-9"  # unknown to the table, passed through
    assert sent["usage"] == {"include": True}
    assert _request("openrouter", reasoning={"effort": "max"})["reasoning"] == {"effort": "xhigh"}


def test_minimax_never_gets_back_tool_arguments_that_are_not_a_json_object() -> None:
    broken = {**cf.function_call("c1", "exec_command", {}), "arguments": '{"cmd": "ls'}
    history = [broken, cf.call_output("c1", "cut off"), cf.function_call("c2", "exec_command", {"cmd": "pwd"}),
               cf.call_output("c2", "/")]
    calls = [m["tool_calls"][0]["function"]["arguments"] for m in _request("minimax", *history)["messages"] if m.get("tool_calls")]
    assert [json.loads(c) for c in calls] == [{"unparsed_arguments": '{"cmd": "ls'}, {"cmd": "pwd"}]
    glm = build_chat_request(cf.body(*history), cf.options()).body["messages"]
    assert next(m for m in glm if m.get("tool_calls"))["tool_calls"][0]["function"]["arguments"] == '{"cmd": "ls'


def test_rejected_fields_are_removed_from_every_body() -> None:
    import dataclasses

    provider = dataclasses.replace(get_provider("deepseek"), rejected_fields=frozenset({"tool_choice", "stream_options"}))
    body = build_chat_request(cf.body(), cf.options(provider=provider, default_model="deepseek-v4-pro")).body
    assert "tool_choice" not in body and "stream_options" not in body and body["tools"]


# ----------------------------------------------------------------- answers


def test_kimi_continuation_chunks_with_null_ids_stay_with_their_call() -> None:
    events = _run("kimi", [
        _delta(tool_calls=[{"index": 0, "id": "functions.exec_command:0", "type": "function",
                            "function": {"name": "exec_command", "arguments": ""}}]),
        _delta(tool_calls=[{"index": 0, "id": None, "type": None, "function": {"arguments": '{"cmd":'}}]),
        _delta(tool_calls=[{"index": 1, "id": "functions.exec_command:1", "type": "function",
                            "function": {"name": "exec_command", "arguments": '{"cmd": "pwd"}'}}]),
        _delta(tool_calls=[{"index": 0, "id": None, "type": None, "function": {"arguments": ' "ls"}'}}]),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls",
                      "usage": {"prompt_tokens": 90, "completion_tokens": 9, "total_tokens": 99, "cached_tokens": 64}}]},
    ])
    calls = _done_items(events, "function_call")
    assert [(c["call_id"], json.loads(c["arguments"])) for c in calls] == [
        ("functions.exec_command:0", {"cmd": "ls"}), ("functions.exec_command:1", {"cmd": "pwd"})]
    assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 64  # usage inside the choice


def test_deepseek_cached_tokens_are_prompt_cache_hit_tokens() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105,
             "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20}
    events = _run("deepseek", [_delta(content="Hi."), {"choices": [], "usage": usage}])
    assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 80


def test_qwen_usage_on_a_trailing_chunk_without_choices_is_kept() -> None:
    usage = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 32}}
    events = _run("qwen", [_delta(content="Hi."), _FINISH, {"choices": [], "usage": usage}])
    assert events[-1]["response"]["usage"]["input_tokens"] == 40
    assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 32


_OPENROUTER_CHUNKS = [
    _delta(reasoning="Let me", reasoning_details=[{"type": "reasoning.text", "text": "Let me", "format": "unknown", "index": 0}]),
    _delta(reasoning=" think.", reasoning_details=[{"type": "reasoning.text", "text": " think.", "format": "unknown", "index": 0}]),
    _delta(content="", reasoning_details=[{"type": "reasoning.encrypted", "data": "sig-abc", "format": "unknown", "index": 1}]),
    _delta(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "exec_command", "arguments": '{"cmd": "ls"}'}}]),
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
]


def test_structured_reasoning_is_shown_once_and_merged_whole_for_the_replay() -> None:
    events = _run("openrouter", _OPENROUTER_CHUNKS)
    [reasoning] = _done_items(events, "reasoning")
    assert reasoning["summary"][0]["text"] == "Let me think."  # the `reasoning` field, not the details again
    assert decode_reasoning(reasoning["encrypted_content"]) == "Let me think."
    assert decode_reasoning_details(reasoning["encrypted_content"], "openrouter") == [
        {"type": "reasoning.text", "text": "Let me think.", "format": "unknown", "index": 0},
        {"type": "reasoning.encrypted", "data": "sig-abc", "format": "unknown", "index": 1}]


def test_structured_reasoning_goes_back_unmodified_instead_of_the_text() -> None:
    events = _run("openrouter", _OPENROUTER_CHUNKS)
    [reasoning] = _done_items(events, "reasoning")
    [call] = _done_items(events, "function_call")
    history = [reasoning, call, cf.call_output(call["call_id"], "a.txt")]
    assistant = next(m for m in _request("openrouter", *history)["messages"] if m.get("tool_calls"))
    assert assistant["reasoning_details"] == decode_reasoning_details(reasoning["encrypted_content"], "openrouter")
    assert "reasoning" not in assistant
    # Another provider gets the text, never OpenRouter's entries.
    elsewhere = next(m for m in _request("deepseek", *history)["messages"] if m.get("tool_calls"))
    assert elsewhere["reasoning_content"] == "Let me think." and "reasoning_details" not in elsewhere
    minimax = next(m for m in _request("minimax", *history)["messages"] if m.get("tool_calls"))
    assert "reasoning_details" not in minimax and minimax["content"].startswith("<think>Let me think.</think>")


def test_minimax_details_show_their_text_when_no_field_carries_it() -> None:
    entry = {"type": "reasoning.text", "id": "reasoning-text-1", "format": "MiniMax-response-v1", "index": 0}
    events = _run("minimax", [_delta(reasoning_details=[{**entry, "text": "Plan"}]),
                              _delta(reasoning_details=[{**entry, "text": " it."}]), _delta(content="Done."), _FINISH])
    [reasoning] = _done_items(events, "reasoning")
    assert reasoning["summary"][0]["text"] == "Plan it."
    assert decode_reasoning_details(reasoning["encrypted_content"], "minimax") == [{**entry, "text": "Plan it."}]


def test_minimax_inline_thinking_is_split_and_replayed_inline_when_there_are_no_details() -> None:
    events = _run("minimax", [_delta(content="<think>Plan"), _delta(content=" it.</think>\n\nDone."), _FINISH])
    [reasoning] = _done_items(events, "reasoning")
    [message] = _done_items(events, "message")
    assert reasoning["summary"][0]["text"] == "Plan it." and message["content"][0]["text"] == "Done."
    history = [reasoning, message, cf.text_message("user", "next")]
    assistant = next(m for m in _request("minimax", *history)["messages"] if m["role"] == "assistant")
    assert assistant["content"] == "<think>Plan it.</think>\n\nDone." and "reasoning_content" not in assistant


def test_qwen_does_not_replay_reasoning() -> None:
    history = [cf.reasoning("I thought."), cf.text_message("assistant", "Hi."), cf.text_message("user", "again")]
    assistant = next(m for m in _request("qwen", *history)["messages"] if m["role"] == "assistant")
    assert assistant == {"role": "assistant", "content": "Hi."}


# ----------------------------------------------------------------- errors


def _classify(name: str, status: int | None, body: Any) -> Any:
    return classify_error(get_provider(name), status, body)


def test_deepseek_errors_are_told_apart_by_status_and_message() -> None:
    balance = _classify("deepseek", 402, {"error": {"message": "Insufficient Balance", "type": "unknown_error",
                                                     "param": None, "code": "invalid_request_error"}})
    assert balance.kind == PLAN and balance.message == (
        "Your DeepSeek balance is used up (DeepSeek invalid_request_error: Insufficient Balance). "
        "Top up at platform.deepseek.com/top_up, then retry.")
    replay = _classify("deepseek", 400, {"error": {"message": "The `reasoning_content` in the thinking mode must be passed "
                                                               "back to the API.", "code": "invalid_request_error"}})
    assert "thinking mode needs the reasoning of earlier tool calls" in replay.message and "report" in replay.message
    context = _classify("deepseek", 400, {"error": {"message": "This model's maximum context length is 1048576 tokens"}})
    assert context.kind == CONTEXT and context.codex_code == "context_length_exceeded"
    assert _classify("deepseek", 401, {"error": {"message": "Authentication Fails"}}).message.endswith(
        "Check DEEPSEEK_API_KEY (keys are at platform.deepseek.com/api_keys).")


def test_moonshot_errors_named_only_by_type_are_classified() -> None:
    auth = _classify("kimi", 401, {"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}})
    assert auth.kind == AUTH and "Kimi invalid_authentication_error: Invalid Authentication" in auth.message
    assert "MOONSHOT_API_KEY" in auth.message
    limit = _classify("kimi", 403, {"error": {"message": "You've reached your 5-hour usage limit", "type": "permission_error"}})
    assert limit.kind == QUOTA and limit.message.startswith("The Kimi Code plan's 5-hour usage limit is used up")


def test_minimax_base_resp_is_an_error_in_any_answer_and_status_zero_is_not() -> None:
    failed = {"id": "x", "choices": None, "base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}
    assert is_error_document(failed)
    assert not is_error_document({"choices": [{"index": 0}], "base_resp": {"status_code": 0, "status_msg": "success"}})
    assert not is_error_document({"base_resp": {"status_code": 0, "status_msg": "success"}})
    error = _classify("minimax", 200, failed)
    assert error.kind == PLAN and "(MiniMax 1008: insufficient balance)" in error.message
    events = _run("minimax", [_delta(content="Hi"), failed])
    assert events[-1]["type"] == "response.failed" and "MiniMax account balance" in events[-1]["response"]["error"]["message"]


def test_openrouter_errors_name_the_upstream_behind_it() -> None:
    relayed = openrouter_upstream_rate_limited()
    limited = _classify("openrouter", relayed.status, relayed.body())
    assert limited.kind == RATE_LIMIT and limited.retryable
    assert "OpenRouter 429: Provider returned error (Z.AI: z-ai/glm-5.3 is temporarily rate-limited upstream" in limited.message
    credits = _classify("openrouter", 402, {"error": {"message": "Insufficient credits", "code": 402}})
    assert credits.kind == PLAN and "openrouter.ai/settings/credits" in credits.message


def test_openrouter_finish_reason_error_fails_the_answer() -> None:
    events = _run("openrouter", [_delta(content="Hal"), {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}])
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_qwen_input_length_errors_are_context_overflows() -> None:
    error = _classify("qwen", 400, {"error": {"code": "invalid_parameter_error",
                                              "message": "Range of input length should be [1, 258048]"}})
    assert error.kind == CONTEXT
    arrears = _classify("qwen", 400, {"error": {"code": "Arrearage", "message": "Access denied"}})
    assert arrears.kind == PLAN and "Alibaba Cloud console" in arrears.message


@given(st.text(min_size=1, max_size=60), st.lists(st.integers(min_value=1, max_value=59), max_size=10), st.text(max_size=20))
def test_reasoning_details_merge_whole_however_they_are_fragmented(text: str, cuts: list[int], data: str) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)]) if b > a]
    entry = {"type": "reasoning.text", "format": "unknown", "index": 0}
    chunks = [_delta(reasoning_details=[{**entry, "text": piece}]) for piece in pieces]
    if data:  # an opaque entry in two fragments of its own index
        chunks += [_delta(reasoning_details=[{"type": "reasoning.encrypted", "data": data[:3], "index": 1}]),
                   _delta(reasoning_details=[{"type": "reasoning.encrypted", "data": data[3:], "index": 1}])]
    chunks += [_delta(content="Done."), _FINISH]
    [reasoning] = _done_items(_run("openrouter", chunks), "reasoning")
    expected = [{**entry, "text": text}] + ([{"type": "reasoning.encrypted", "data": data, "index": 1}] if data else [])
    assert decode_reasoning_details(reasoning["encrypted_content"], "openrouter") == expected
    assert reasoning["summary"][0]["text"] == text.lstrip() or not text.strip()


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=8), st.lists(st.integers(min_value=1, max_value=30), max_size=8),
       st.randoms(use_true_random=False))
def test_parallel_kimi_calls_reassemble_however_their_fragments_interleave(cuts_a: list[int], cuts_b: list[int],
                                                                           rng: Any) -> None:
    arguments = [json.dumps({"cmd": "echo alpha && ls -la /tmp"}), json.dumps({"cmd": "pwd; echo beta"})]
    streams = []
    for index, (text, cuts) in enumerate(zip(arguments, (cuts_a, cuts_b))):
        points = sorted({min(c, len(text)) for c in cuts})
        pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)]) if b > a]
        head = {"index": index, "id": f"functions.exec_command:{index}", "type": "function",
                "function": {"name": "exec_command", "arguments": ""}}
        streams.append([head] + [{"index": index, "id": None, "type": None, "function": {"arguments": p}} for p in pieces])
    chunks = [_delta(tool_calls=[streams[0].pop(0)]), _delta(tool_calls=[streams[1].pop(0)])]
    while streams[0] or streams[1]:
        chosen = rng.choice([s for s in streams if s])
        chunks.append(_delta(tool_calls=[chosen.pop(0)]))
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    calls = _done_items(_run("kimi", chunks), "function_call")
    assert [(c["call_id"], c["arguments"]) for c in calls] == [
        ("functions.exec_command:0", arguments[0]), ("functions.exec_command:1", arguments[1])]
