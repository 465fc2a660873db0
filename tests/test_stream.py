"""Chat chunks -> Responses events: the stream state machine, every stream judged by Codex's contract."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.codex.contract import judge
from codexglm.providers import GLM
from codexglm.translate import StreamTranslator, build_chat_request, classify_error, translate_completion
from codexglm.translate.reasoning import decode_compaction, decode_reasoning
from tests import codex_fixtures as cf

STREAM_ID = "20260313050307df155ecf3e9f4961"
USAGE = {"prompt_tokens": 173, "completion_tokens": 93, "total_tokens": 266,
         "prompt_tokens_details": {"cached_tokens": 172}, "completion_tokens_details": {"reasoning_tokens": 65}}


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    """One chunk as api.z.ai sends it (2026 shape: `object` present, role repeated)."""
    choice: dict = {"index": 0, "delta": {"role": "assistant", **(delta or {})}}
    if finish:
        choice["finish_reason"] = finish
    out = {"id": STREAM_ID, "created": 1773349387, "object": "chat.completion.chunk", "model": "glm-4.7-flash", "choices": [choice]}
    if usage:
        out["usage"] = usage
    return out


def finish(reason: str = "stop") -> dict:
    return chunk({"content": ""}, finish=reason, usage=USAGE)


def whole_call(call_id: str, name: str, arguments: str, index: int = 0) -> dict:
    return chunk({"tool_calls": [{"id": call_id, "index": index, "type": "function",
                                  "function": {"name": name, "arguments": arguments}}]})


def context(**fields):
    return build_chat_request(cf.body(**fields), cf.options()).context


def run(chunks: list[dict], *, done: bool = True, ctx=None) -> list[dict]:
    translator = StreamTranslator(ctx or context(), response_id="resp_test")
    events = translator.start()
    for c in chunks:
        events += translator.feed(c)
    events += translator.feed_done() if done else translator.end_of_stream()
    events += translator.end_of_stream()  # idempotent after the end
    verdict = judge(events)
    assert verdict.ok, verdict.problems
    return events


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def done_items(events: list[dict]) -> list[dict]:
    return [e["item"] for e in events if e["type"] == "response.output_item.done"]


def terminal(events: list[dict]) -> dict:
    ends = [e for e in events if e["type"] in ("response.completed", "response.failed", "response.incomplete")]
    assert len(ends) == 1, types(events)
    assert ends[0] is events[-1]
    return ends[0]


def test_plain_answer_with_reasoning() -> None:
    events = run([chunk({"reasoning_content": "\n"}), chunk({"reasoning_content": "The user"}), chunk({"reasoning_content": " greets."}),
                  chunk({"content": "\n\nHello"}), chunk({"content": " there"}), finish()])
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    summary = [e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == "The user greets."
    assert all(e["summary_index"] == 0 for e in events if "summary_index" in e)
    text = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(text) == "Hello there"
    reasoning, message = done_items(events)
    assert reasoning["summary"] == [{"type": "summary_text", "text": "The user greets."}]
    assert decode_reasoning(reasoning["encrypted_content"]) == "The user greets."
    assert message["content"][0]["text"] == "Hello there"
    end = terminal(events)
    assert end["type"] == "response.completed"
    assert end["response"]["id"] == "resp_test"
    assert end["response"]["usage"] == {"input_tokens": 173, "input_tokens_details": {"cached_tokens": 172}, "output_tokens": 93,
                                        "output_tokens_details": {"reasoning_tokens": 65}, "total_tokens": 266}
    assert [i["id"] for i in end["response"]["output"]] == [reasoning["id"], message["id"]]


def test_done_events_are_held_until_the_end() -> None:
    translator = StreamTranslator(context())
    translator.start()
    live = translator.feed(chunk({"content": "partial"})) + translator.feed(whole_call("call_1", "exec_command", '{"cmd":"ls"}'))
    assert "response.output_item.done" not in types(live)
    assert translator.emitted_output
    assert "response.output_item.done" in types(translator.feed_done())


def test_sequence_numbers_increase() -> None:
    events = run([chunk({"content": "hi"}), finish()])
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))


def test_whole_tool_call_in_one_chunk() -> None:
    events = run([chunk({"content": "I'll check."}), whole_call("call_3532c842716b4c72a7dd7498", "exec_command", '{"cmd":"ls"}'),
                  finish("tool_calls")])
    message, call = done_items(events)
    assert call == {"id": call["id"], "status": "completed", "call_id": "call_3532c842716b4c72a7dd7498",
                    "type": "function_call", "name": "exec_command", "arguments": '{"cmd":"ls"}'}
    assert terminal(events)["type"] == "response.completed"


def test_tool_stream_fragments_accumulate_by_index() -> None:
    events = run([
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "exec_command", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"cmd":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"ls -la"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "view_image", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"path":"a.png"}'}}]}),
        finish("tool_calls"),
    ])
    first, second = done_items(events)
    assert (first["call_id"], first["arguments"]) == ("call_a", '{"cmd":"ls -la"}')
    assert (second["call_id"], second["name"], second["arguments"]) == ("call_b", "view_image", '{"path":"a.png"}')
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"cmd":"ls -la"}{"path":"a.png"}'


def test_index_minus_one_and_finish_reason_on_the_tool_chunk() -> None:
    # 2025-09 api.z.ai shape: whole call with index -1 carrying finish_reason, then a second finish chunk.
    call_chunk = whole_call("call_x", "exec_command", '{"cmd":"date"}', index=-1)
    call_chunk["choices"][0]["finish_reason"] = "tool_calls"
    events = run([chunk({"reasoning_content": "need date"}), call_chunk, finish("tool_calls")])
    assert [i["type"] for i in done_items(events)] == ["reasoning", "function_call"]


def test_two_parallel_calls_with_index_minus_one_stay_separate() -> None:
    events = run([whole_call("call_1", "exec_command", '{"cmd":"a"}', index=-1),
                  whole_call("call_2", "exec_command", '{"cmd":"b"}', index=-1), finish("tool_calls")])
    assert [i["call_id"] for i in done_items(events)] == ["call_1", "call_2"]


def test_namespaced_call_comes_back_with_name_and_namespace() -> None:
    events = run([whole_call("call_m", "mcp__mini__echo", '{"text":"hi"}'), finish("tool_calls")])
    (item,) = done_items(events)
    assert (item["type"], item["name"], item["namespace"]) == ("function_call", "echo", "mcp__mini")
    events = run([whole_call("call_s", "multi_agent_v1__spawn_agent", '{"message":"go"}'), finish("tool_calls")])
    assert done_items(events)[0]["namespace"] == "multi_agent_v1"


def test_freeform_call_becomes_custom_tool_call_with_raw_input_and_live_deltas() -> None:
    patch = '*** Begin Patch\n*** Add File: hello.txt\n+hello "world" \u00e9\n*** End Patch\n'
    arguments = json.dumps({"input": patch})
    fragments = [arguments[i:i + 7] for i in range(0, len(arguments), 7)]
    chunks = [chunk({"tool_calls": [{"index": 0, "id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": ""}}]})]
    chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments]
    events = run(chunks + [finish("tool_calls")])
    (item,) = done_items(events)
    assert item == {"id": item["id"], "status": "completed", "call_id": "call_p", "type": "custom_tool_call",
                    "name": "apply_patch", "input": patch}
    live = "".join(e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta")
    assert live == patch
    assert all(e["call_id"] == "call_p" for e in events if e["type"] == "response.custom_tool_call_input.delta")


def test_freeform_call_with_raw_text_arguments_is_still_usable() -> None:
    events = run([whole_call("call_p", "apply_patch", "*** Begin Patch\n*** End Patch"), finish("tool_calls")])
    assert done_items(events)[0]["input"] == "*** Begin Patch\n*** End Patch"


def test_unknown_tool_name_passes_through_and_leaked_markup_is_forgiven() -> None:
    events = run([whole_call("c1", "no_such_tool", "{}"), whole_call("c2", "exec_command</arg_value>", '{"cmd":"ls"}'),
                  finish("tool_calls")])
    assert [i["name"] for i in done_items(events)] == ["no_such_tool", "exec_command"]


def test_empty_arguments_become_an_empty_object() -> None:
    events = run([whole_call("c1", "exec_command", ""), finish("tool_calls")])
    assert done_items(events)[0]["arguments"] == "{}"


def test_usage_on_a_trailing_chunk_without_choices() -> None:
    trailing = {"id": STREAM_ID, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    events = run([chunk({"content": "hi"}), chunk({"content": ""}, finish="stop"), trailing])
    usage = terminal(events)["response"]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (5, 2, 7)


def test_missing_usage_is_estimated_not_zero() -> None:
    events = run([chunk({"content": "x" * 400}), chunk({"content": ""}, finish="stop")])
    usage = terminal(events)["response"]["usage"]
    assert usage["output_tokens"] == 100 and usage["input_tokens"] > 0


def test_length_finish_is_incomplete_without_items() -> None:
    events = run([chunk({"content": "cut"}), finish("length")])
    end = terminal(events)
    assert end["type"] == "response.incomplete"
    assert end["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not done_items(events)


def test_failed_finish_reasons() -> None:
    for reason, code in (("sensitive", "invalid_prompt"), ("network_error", "server_error"),
                         ("model_context_window_exceeded", "context_length_exceeded")):
        events = run([chunk({"content": "partial"}), finish(reason)])
        end = terminal(events)
        assert end["type"] == "response.failed"
        assert end["response"]["error"]["code"] == code
        assert reason in end["response"]["error"]["message"]
        assert not done_items(events)


def test_stream_ending_without_finish_reason_fails_retryably() -> None:
    translator = StreamTranslator(context())
    translator.start()
    translator.feed(chunk({"content": "half an answ"}))
    events = translator.end_of_stream()
    assert types(events) == ["response.failed"]
    assert events[0]["response"]["error"]["code"] == "server_error"
    assert translator.outcome == "failed"


def test_stream_ending_after_finish_reason_without_done_completes() -> None:
    events = run([chunk({"content": "ok"}), finish()], done=False)
    assert terminal(events)["type"] == "response.completed"


def test_empty_answer_fails() -> None:
    events = run([finish("tool_calls")])
    assert terminal(events)["response"]["error"]["code"] == "server_error"


def test_in_stream_error_frame() -> None:
    events = run([chunk({"content": "par"}), {"error": {"code": "1305", "message": "The service may be temporarily overloaded"}}])
    end = terminal(events)
    assert end["type"] == "response.failed"
    assert "1305" in end["response"]["error"]["message"]
    assert not done_items(events)


def test_fail_after_finish_is_a_no_op_and_fail_before_start_starts() -> None:
    translator = StreamTranslator(context())
    events = translator.fail(classify_error(GLM, 429, {"error": {"code": "1302", "message": "Rate limit reached for requests"}}))
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert translator.fail(classify_error(GLM, 500, b"oops")) == []
    assert translator.heartbeat() == []


def test_heartbeat_is_a_real_event() -> None:
    translator = StreamTranslator(context())
    translator.start()
    (beat,) = translator.heartbeat()
    assert beat["type"] == "response.in_progress" and beat["response"]["id"] == translator.response_id


def test_hidden_reasoning_keeps_the_blob_but_no_summary() -> None:
    ctx = build_chat_request(cf.body(), cf.options(show_reasoning=False)).context
    events = run([chunk({"reasoning_content": "secret plan"}), chunk({"content": "done"}), finish()], ctx=ctx)
    reasoning = done_items(events)[0]
    assert reasoning["summary"] == [] and decode_reasoning(reasoning["encrypted_content"]) == "secret plan"
    assert "response.reasoning_summary_text.delta" not in types(events)


def test_compaction_request_yields_exactly_one_compaction_item() -> None:
    ctx = build_chat_request(cf.body({"type": "compaction_trigger"}), cf.options()).context
    events = run([chunk({"reasoning_content": "summarising"}), chunk({"content": "We fixed the parser."}), finish()], ctx=ctx)
    (item,) = done_items(events)
    assert item["type"] == "compaction" and decode_compaction(item["encrypted_content"]) == "We fixed the parser."
    assert "response.output_text.delta" not in types(events)


def test_non_streaming_completion() -> None:
    completion = {
        "choices": [{"finish_reason": "tool_calls", "index": 0, "message": {
            "content": "I'll check.", "reasoning_content": "The user is asking", "role": "assistant",
            "tool_calls": [{"function": {"arguments": '{"cmd":"ls"}', "name": "exec_command"}, "id": "call_-7807249954186984837",
                            "index": 0, "type": "function"}]}}],
        "created": 1773349385, "id": "20260313050305", "model": "glm-4.7-flash", "object": "chat.completion",
        "usage": {"completion_tokens": 88, "prompt_tokens": 173, "total_tokens": 261,
                  "prompt_tokens_details": {"cached_tokens": 43}, "completion_tokens_details": {"reasoning_tokens": 62}},
    }
    response = translate_completion(completion, context())
    assert response["status"] == "completed" and response["object"] == "response"
    assert [i["type"] for i in response["output"]] == ["reasoning", "message", "function_call"]
    assert response["usage"]["input_tokens_details"]["cached_tokens"] == 43


# ----------------------------------------------------------------- property test

_SCRIPT = [
    chunk({"reasoning_content": "\n"}), chunk({"reasoning_content": "Plan: patch"}), chunk({"reasoning_content": " the file."}),
    chunk({"content": "\n"}), chunk({"content": "Patching now."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": json.dumps({"input": "*** Begin Patch\n+x\n*** End Patch\n"})}}]}),
    whole_call("call_e", "mcp__mini__echo", '{"text":"\u00e9"}', index=1),
    finish("tool_calls"),
]


def _sse(chunks: list[dict]) -> bytes:
    return b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _final_items(raw: bytes, cuts: list[int]) -> list[dict]:
    from codexglm.translate import SSEDecoder

    decoder = SSEDecoder()
    translator = StreamTranslator(context(), response_id="r")
    translator.start()
    edges = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    payloads: list[str] = []
    for a, b in zip(edges, edges[1:]):
        payloads += decoder.feed(raw[a:b])
    payloads += decoder.close()
    events = []
    for p in payloads:
        events += translator.feed_done() if p == "[DONE]" else translator.feed(json.loads(p))
    return [{k: v for k, v in item.items() if k != "id"} for item in done_items(events)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_rechunking_yields_the_same_items(cuts: list[int]) -> None:
    raw = _sse(_SCRIPT)
    assert _final_items(raw, cuts) == _final_items(raw, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=20), st.integers(min_value=1, max_value=9))
def test_argument_fragmentation_never_changes_the_call(pieces: list[str], size: int) -> None:
    arguments = json.dumps({"cmd": "".join(pieces)})
    frags = [arguments[i:i + size] for i in range(0, len(arguments), size)]
    chunks = [chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "exec_command", "arguments": ""}}]})]
    chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in frags]
    (item,) = done_items(run(chunks + [finish("tool_calls")]))
    assert item["arguments"] == arguments


def test_freeform_input_deltas_survive_a_split_surrogate_pair() -> None:
    patch = "*** Begin Patch\n*** Add File: w.txt\n+h\u00e9llo \U0001f44b\n*** End Patch\n"
    arguments = json.dumps({"input": patch})  # ASCII escapes: the emoji is \ud83d\udc4b
    cut = arguments.index("\\udc4b")
    chunks = [chunk({"tool_calls": [{"index": 0, "id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": ""}}]})]
    chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}) for part in (arguments[:cut], arguments[cut:])]
    events = run(chunks + [finish("tool_calls")])
    live = "".join(e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta")
    assert live == patch and done_items(events)[0]["input"] == patch
    from codexglm.translate import encode_sse

    for event in events:
        encode_sse(event)


def test_encode_sse_survives_a_lone_surrogate() -> None:
    from codexglm.translate import encode_sse

    frame = encode_sse({"type": "response.output_text.delta", "delta": "bad \ud83d"})
    assert frame.startswith(b"event: response.output_text.delta\ndata: ")


def test_reasoning_without_an_answer_fails_retryably() -> None:
    end = terminal(run([chunk({"reasoning_content": "I should answer hi."}), finish()]))
    assert end["type"] == "response.failed" and end["response"]["error"]["code"] == "server_error"


def test_openai_style_content_filter_finish_reason() -> None:
    end = terminal(run([chunk({"content": "partial"}), finish("content_filter")]))
    assert end["response"]["error"]["code"] == "invalid_prompt"
    assert "content_filter" in end["response"]["error"]["message"]


def test_a_nameless_call_fragment_leaves_no_output_index_gap() -> None:
    nameless = chunk({"tool_calls": [{"id": "c0", "index": 3, "function": {"arguments": "{}"}}]})
    events = run([nameless, chunk({"content": "Done."}), whole_call("c1", "exec_command", '{"cmd":"ls"}', index=1), finish()])
    assert [item["type"] for item in done_items(events)] == ["message", "function_call"]
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.done"] == [0, 1]


def test_the_judge_catches_what_codex_would_trip_over() -> None:
    events = run([chunk({"content": "Hi"}), finish()])
    gap = [dict(e, output_index=5) if e["type"] == "response.output_item.done" else e for e in events]
    assert any("gaps" in problem for problem in judge(gap).problems)
    half = [e for e in events if e["type"] != "response.completed"]
    half.append({"type": "response.failed", "response": {"id": "r", "error": {"code": "server_error"}}})
    assert any("half an answer" in problem for problem in judge(half).problems)
    early = [events[0], {"type": "response.output_text.delta", "output_index": 0, "delta": "x"}, *events[1:]]
    assert any("before its output_item.added" in problem for problem in judge(early).problems)
