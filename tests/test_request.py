"""Responses request -> chat request: one test per mapping rule."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.translate import RequestError, ToolNames, build_chat_request
from codexglm.translate.reasoning import encode_compaction, encode_reasoning
from tests import codex_fixtures as cf

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def check_glm_sequence(messages: list[dict]) -> None:
    """The rules the real GLM enforces on `messages` (api.md §2.2, §6)."""
    assert any(m["role"] == "user" for m in messages), "no user message"
    pending: list[str] = []
    for i, m in enumerate(messages):
        assert m["role"] in ("system", "user", "assistant", "tool"), m
        if m["role"] == "tool":
            assert pending and m["tool_call_id"] == pending[0], f"message {i} answers {m['tool_call_id']}, expected {pending[:1]}"
            pending.pop(0)
            assert isinstance(m["content"], str) and m["content"].strip()
            continue
        assert not pending, f"tool calls {pending} unanswered before message {i}"
        if m["role"] == "assistant":
            calls = m.get("tool_calls") or []
            assert calls or (isinstance(m.get("content"), str) and m["content"].strip()), m
            for call in calls:
                assert _NAME.match(call["function"]["name"])
                assert isinstance(call["function"]["arguments"], str)
            pending = [c["id"] for c in calls]
        else:
            content = m["content"]
            if isinstance(content, str):
                assert content.strip(), m
            else:
                for part in content:
                    assert part["type"] in ("text", "image_url")
                    if part["type"] == "text":
                        assert part["text"].strip()
    assert not pending, f"tool calls {pending} unanswered at the end"


def chat(body: dict, **options) -> dict:
    request = build_chat_request(body, cf.options(**options))
    check_glm_sequence(request.body["messages"])
    return request.body


def test_basic_turn_maps_developer_messages_to_one_leading_system_message() -> None:
    out = chat(cf.body())
    messages = out["messages"]
    assert messages[0]["role"] == "system"
    system = messages[0]["content"]
    # Nothing of Codex's instructions is dropped or reordered.
    assert system.index(cf.BASE_INSTRUCTIONS) < system.index(cf.SKILLS) < system.index(cf.PERMISSIONS)
    assert messages[1] == {"role": "user", "content": cf.ENVIRONMENT + "\n\nDo the task"}
    assert all(m["role"] != "developer" for m in messages)


def test_request_fields() -> None:
    out = chat(cf.body())
    assert out["model"] == "glm-5.1"
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}
    assert out["tool_choice"] == "auto"
    assert out["tool_stream"] is True
    for dropped in ("store", "include", "parallel_tool_calls", "prompt_cache_key", "client_metadata", "reasoning", "input"):
        assert dropped not in out


def test_non_streaming_request_has_no_stream_only_fields() -> None:
    out = chat(cf.body(stream=False))
    assert out["stream"] is False
    assert "stream_options" not in out and "tool_stream" not in out


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("glm-5.1", "glm-5.1"), ("GLM-4.7", "glm-4.7"), ("gpt-5.3-codex", "glm-5.3"), ("zai/glm-4.6", "glm-4.6"),
     ("codex-auto-review", "glm-5.3"), ("glm-9-future", "glm-9-future")],
)
def test_model_mapping(requested: str, expected: str) -> None:
    assert chat(cf.body(model=requested))["model"] == expected


def test_model_map_override() -> None:
    out = chat(cf.body(model="gpt-5.4-mini"), model_map={"gpt-5.4-mini": "glm-4.7-flash"})
    assert out["model"] == "glm-4.7-flash"


def test_function_tools_drop_strict_and_keep_schema() -> None:
    tools = chat(cf.body())["tools"]
    exec_tool = next(t for t in tools if t["function"]["name"] == "exec_command")
    assert exec_tool["type"] == "function"
    assert "strict" not in exec_tool["function"]
    assert exec_tool["function"]["parameters"]["required"] == ["cmd"]
    assert exec_tool["function"]["parameters"]["properties"]["cmd"]["type"] == "string"


def test_namespace_tools_are_flattened_with_valid_names() -> None:
    names = [t["function"]["name"] for t in chat(cf.body())["tools"]]
    assert "multi_agent_v1__spawn_agent" in names
    assert "mcp__mini__echo" in names
    assert all(_NAME.match(n) for n in names)


def test_custom_tool_becomes_single_string_function_with_grammar() -> None:
    tools = chat(cf.body())["tools"]
    patch = next(t["function"] for t in tools if t["function"]["name"] == "apply_patch")
    assert patch["parameters"]["required"] == ["input"]
    assert patch["parameters"]["properties"]["input"]["type"] == "string"
    assert "*** Begin Patch" in patch["description"] and "lark" in patch["description"]


def test_web_search_dropped_by_default_and_mapped_on_opt_in() -> None:
    assert all(t["type"] == "function" for t in chat(cf.body())["tools"])
    tools = chat(cf.body(), web_search=True)["tools"]
    web = [t for t in tools if t["type"] == "web_search"]
    assert len(web) == 1 and web[0]["web_search"]["enable"] is True


def test_tool_choice_none_sends_no_tools() -> None:
    out = chat(cf.body(tool_choice="none"))
    assert "tools" not in out and "tool_choice" not in out


def test_at_most_128_tools() -> None:
    many = [dict(cf.VIEW_IMAGE, name=f"tool_{i}") for i in range(200)]
    assert len(chat(cf.body(tools=many))["tools"]) == 128


def test_schema_with_refs_is_simplified() -> None:
    tool = dict(cf.VIEW_IMAGE, parameters={
        "type": "object", "$defs": {"p": {"type": "string"}},
        "properties": {"path": {"$ref": "#/$defs/p"}, "mode": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    })
    params = chat(cf.body(tools=[tool]))["tools"][0]["function"]["parameters"]
    text = json.dumps(params)
    assert "$ref" not in text and "anyOf" not in text
    assert params["properties"]["path"]["type"] == "string"


def test_function_call_round_trip_and_parallel_calls_merge() -> None:
    history = [
        cf.reasoning("I will run two commands."),
        cf.text_message("assistant", "Running both."),
        cf.function_call("call_a", "exec_command", {"cmd": "ls"}),
        cf.function_call("call_b", "exec_command", {"cmd": "pwd"}),
        # Codex appends outputs in completion order, not call order.
        cf.call_output("call_b", "/home/dev"),
        cf.call_output("call_a", "file.txt"),
    ]
    messages = chat(cf.body(*history))["messages"]
    assistant = messages[-3]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "Running both."
    assert assistant["reasoning_content"] == "I will run two commands."
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"cmd": "ls"}
    assert messages[-2] == {"role": "tool", "tool_call_id": "call_a", "content": "file.txt"}
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_b", "content": "/home/dev"}


def test_namespaced_call_in_history_uses_the_flat_name() -> None:
    history = [cf.function_call("c1", "echo", {"text": "hi"}, namespace="mcp__mini"), cf.call_output("c1", "hi")]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "mcp__mini__echo"


def test_custom_tool_call_and_output() -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"
    history = [
        {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "p1", "name": "apply_patch", "input": patch},
        cf.call_output("p1", "Success. Updated the following files:\nA a.txt\n", kind="custom_tool_call_output"),
    ]
    messages = chat(cf.body(*history))["messages"]
    call = messages[-2]["tool_calls"][0]["function"]
    assert call["name"] == "apply_patch"
    assert json.loads(call["arguments"]) == {"input": patch}
    assert messages[-1]["content"].startswith("Success.")


def test_content_array_output_is_flattened_and_images_handled_per_model() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}
    history = [
        cf.function_call("c1", "view_image", {"path": "/tmp/x.png"}),
        cf.call_output("c1", [{"type": "input_text", "text": "Wall time: 0.1s"}, image]),
    ]
    text_model = chat(cf.body(*history))["messages"]
    assert text_model[-1]["role"] == "tool"
    assert "Wall time" in text_model[-1]["content"] and "image omitted" in text_model[-1]["content"]
    vision = chat(cf.body(*history, model="glm-4.6v"))["messages"]
    assert vision[-2]["role"] == "tool"
    assert vision[-1]["role"] == "user"
    assert vision[-1]["content"][1] == {"type": "image_url", "image_url": {"url": image["image_url"]}}


def test_user_image_for_vision_and_text_models() -> None:
    user = {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "<image name=[Image #1]>"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
        {"type": "input_text", "text": "</image>"},
        {"type": "input_text", "text": ""},
    ]}
    vision = chat(cf.body(user, model="glm-4.6v"))["messages"][-1]["content"]
    assert [p["type"] for p in vision] == ["text", "text", "image_url", "text"]
    text = chat(cf.body(user))["messages"][-1]["content"]
    assert isinstance(text, str) and "[image omitted: glm-5.1 does not accept images]" in text


def test_reasoning_round_trip_restores_exact_text_from_our_blob() -> None:
    thought = "Let me think.\nStep 1: list files."
    history = [cf.reasoning("shown summary", blob=encode_reasoning(thought)),
               cf.function_call("c1", "exec_command", {"cmd": "ls"}), cf.call_output("c1", "a")]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-2]["reasoning_content"] == thought


def test_foreign_or_null_reasoning_falls_back_to_content_then_summary() -> None:
    item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "sum"}],
            "content": [{"type": "reasoning_text", "text": "raw"}], "encrypted_content": "gAAAA-openai-blob"}
    messages = chat(cf.body(item, cf.text_message("assistant", "done")))["messages"]
    assert messages[-1]["reasoning_content"] == "raw"
    messages = chat(cf.body(cf.reasoning("sum"), cf.text_message("assistant", "done")))["messages"]
    assert messages[-1]["reasoning_content"] == "sum"


def test_reasoning_without_answer_does_not_leak_into_the_next_turn() -> None:
    history = [cf.reasoning("stale"), cf.text_message("user", "new question"), cf.text_message("assistant", "answer")]
    messages = chat(cf.body(*history))["messages"]
    assert "reasoning_content" not in messages[-1]


def test_unanswered_call_gets_a_synthetic_output() -> None:
    history = [cf.function_call("c1", "exec_command", {"cmd": "sleep 100"}), cf.text_message("user", "stop that")]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-2]["role"] == "tool" and "interrupted" in messages[-2]["content"]


def test_orphan_output_is_kept_as_user_text() -> None:
    messages = chat(cf.body(cf.call_output("ghost", "leftover output")))["messages"]
    assert messages[-1]["role"] == "user"
    assert "leftover output" in messages[-1]["content"]


def test_duplicated_items_after_a_retried_stream_are_collapsed() -> None:
    history = [
        cf.reasoning("r"), cf.text_message("assistant", "Same answer"),
        cf.reasoning("r"), cf.text_message("assistant", "Same answer"),
        cf.function_call("c1", "exec_command", {"cmd": "ls"}), cf.function_call("c1", "exec_command", {"cmd": "ls"}),
        cf.call_output("c1", "x"),
    ]
    messages = chat(cf.body(*history))["messages"]
    assistants = [m for m in messages if m["role"] == "assistant"]
    assert [a.get("content") for a in assistants] == ["Same answer", None]
    assert len(assistants[1]["tool_calls"]) == 1


def test_empty_output_gets_placeholder() -> None:
    messages = chat(cf.body(cf.function_call("c1", "exec_command", {"cmd": "true"}), cf.call_output("c1", "")))["messages"]
    assert messages[-1]["content"] == "(no output)"


def test_local_shell_web_search_and_other_items() -> None:
    history = [
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "ls1", "status": "completed",
         "action": {"type": "exec", "command": ["echo", "hi"]}},
        cf.call_output("ls1", "aborted"),
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"type": "image_generation_call", "status": "completed", "result": "..."},
        {"type": "some_future_item", "payload": 1},
        {"type": "configuration_update", "reasoning": {"effort": "high"}},
    ]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "local_shell"
    assert messages[-1] == {"role": "tool", "tool_call_id": "ls1", "content": "aborted"}


def test_tool_search_call_and_output_and_loaded_tools() -> None:
    search_tool = {"type": "tool_search", "execution": "client", "description": "Find tools.",
                   "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}
    history = [
        {"type": "tool_search_call", "execution": "client", "call_id": "ts1", "status": "completed", "arguments": {"query": "echo"}},
        {"type": "tool_search_output", "call_id": "ts1", "status": "completed", "execution": "client", "tools": [cf.MCP_MINI]},
    ]
    out = chat(cf.body(*history, tools=[search_tool]))
    names = [t["function"]["name"] for t in out["tools"]]
    assert names == ["tool_search", "mcp__mini__echo"]
    assert out["messages"][-1]["role"] == "tool" and "mcp__mini" in out["messages"][-1]["content"]


def test_additional_tools_item_from_responses_lite() -> None:
    item = {"type": "additional_tools", "id": "at_1", "role": "developer",
            "tools": [{"type": "namespace", "name": "functions", "description": "", "tools": [cf.EXEC_COMMAND]}, cf.MULTI_AGENT]}
    out = chat({"model": "glm-5.1", "input": [item, cf.text_message("user", "hi")]})
    names = [t["function"]["name"] for t in out["tools"]]
    assert names == ["exec_command", "multi_agent_v1__spawn_agent", "multi_agent_v1__wait_agent"]


def test_compaction_trigger_and_replayed_compaction_item() -> None:
    out = chat(cf.body({"type": "compaction_trigger"}))
    assert "tools" not in out
    assert "CONTEXT CHECKPOINT COMPACTION" in out["messages"][-1]["content"]
    replay = chat(cf.body({"type": "compaction", "id": "cmp_1", "encrypted_content": encode_compaction("We fixed the bug.")}))
    assert "We fixed the bug." in replay["messages"][-1]["content"]
    foreign = chat(cf.body({"type": "compaction", "id": "cmp_1", "encrypted_content": "opaque-openai"}))
    assert "opaque-openai" not in json.dumps(foreign["messages"])
    assert "compacted by another model provider" in foreign["messages"][-1]["content"]


def test_mid_conversation_developer_message_stays_in_place_as_system() -> None:
    history = [cf.text_message("assistant", "ok"), cf.text_message("developer", "<permissions instructions>new</permissions instructions>")]
    messages = chat(cf.body(*history, cf.text_message("user", "next")))["messages"]
    assert [m["role"] for m in messages[-3:]] == ["assistant", "system", "user"]


def test_string_input_and_instructions_field() -> None:
    out = chat({"model": "glm-4.7", "input": "hello", "instructions": "Be brief."})
    assert out["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def test_conversation_without_user_message_gets_one() -> None:
    out = chat({"model": "glm-5.1", "input": [cf.text_message("developer", "sys only")]})
    assert [m["role"] for m in out["messages"]] == ["system", "user"]


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("glm-5.1", None, {"thinking": {"type": "enabled"}}),
        ("glm-5.1", "minimal", {"thinking": {"type": "disabled"}}),
        ("glm-4.7", "high", {"thinking": {"type": "enabled"}}),
        # GLM-5.2 treats low/medium as high and xhigh as max: it is sent what it will do.
        ("glm-5.2", "low", {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("glm-5.2", "xhigh", {"thinking": {"type": "enabled"}, "reasoning_effort": "max"}),
        ("glm-5.2", "ultra", {"thinking": {"type": "enabled"}, "reasoning_effort": "max"}),
        ("glm-5.3", "max", {"reasoning_effort": "max"}),
        ("glm-5.2", "none", {"thinking": {"type": "disabled"}, "reasoning_effort": "none"}),
        ("glm-5.3", "none", {"reasoning_effort": "low"}),
        ("glm-5.3", "medium", {"reasoning_effort": "high"}),
        ("glm-5.3", "xhigh", {"reasoning_effort": "max"}),
        ("glm-5.3", None, {}),
        ("glm-4-32b-0414-128k", "high", {}),
    ],
)
def test_reasoning_effort_to_thinking_controls(model: str, effort: str | None, expected: dict) -> None:
    reasoning = {"summary": "auto", **({"effort": effort} if effort else {})}
    out = chat(cf.body(model=model, reasoning=reasoning))
    got = {k: out[k] for k in ("thinking", "reasoning_effort") if k in out}
    assert got == expected


def test_sampling_params_are_clamped() -> None:
    out = chat(cf.body(temperature=1.7, top_p=0.0, max_output_tokens=10**6))
    assert out["temperature"] == 1.0 and out["top_p"] == 0.01 and out["max_tokens"] == 131_072
    assert chat(cf.body(model="glm-4.5v", max_output_tokens=50_000))["max_tokens"] == 16 * 1024


def test_output_schema_becomes_json_mode_and_instruction() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": False}
    text = {"format": {"type": "json_schema", "strict": True, "schema": schema, "name": "codex_output_schema"}}
    out = chat(cf.body(text=text))
    assert out["response_format"] == {"type": "json_object"}
    assert '"answer"' in out["messages"][0]["content"]
    vision = chat(cf.body(text=text, model="glm-4.6v"))
    assert "response_format" not in vision


@pytest.mark.parametrize(
    ("body", "param"),
    [([], None), ({"input": []}, "model"), ({"model": 3, "input": []}, "model"), ({"model": "glm-5.1"}, "input"),
     ({"model": "glm-5.1", "input": [1]}, "input[0]"), ({"model": "glm-5.1", "input": [], "tools": {}}, "tools"),
     ({"model": "glm-5.1", "input": [], "stream": "yes"}, "stream")],
)
def test_invalid_bodies_raise_request_error(body: object, param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        build_chat_request(body, cf.options())
    assert caught.value.param == param


# ----------------------------------------------------------------- property test

_texts = st.text(min_size=0, max_size=12)
_call_ids = st.sampled_from(["c1", "c2", "c3", "c4"])
_items = st.one_of(
    st.builds(lambda t: cf.text_message("user", t), _texts),
    st.builds(lambda t: cf.text_message("assistant", t), _texts),
    st.builds(lambda t: cf.text_message("developer", t), _texts),
    st.builds(lambda t: cf.reasoning(t), _texts),
    st.builds(lambda c, t: cf.function_call(c, "exec_command", {"cmd": t}), _call_ids, _texts),
    st.builds(lambda c: cf.function_call(c, "echo", {"text": "x"}, namespace="mcp__mini"), _call_ids),
    st.builds(lambda c, t: cf.call_output(c, t), _call_ids, _texts),
    st.builds(lambda c, t: {"type": "custom_tool_call", "call_id": c, "name": "apply_patch", "input": t}, _call_ids, _texts),
    st.builds(lambda c, t: cf.call_output(c, [{"type": "input_text", "text": t}], kind="custom_tool_call_output"), _call_ids, _texts),
    st.just({"type": "web_search_call", "status": "completed"}),
    st.just({"type": "compaction_trigger"}),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_items, max_size=25), st.sampled_from(["glm-5.1", "glm-4.6v"]))
def test_any_history_yields_a_sequence_glm_accepts(history: list[dict], model: str) -> None:
    chat({"model": model, "input": history, "tools": cf.TOOLS, "stream": True})


def test_text_and_reasoning_after_a_call_stay_in_that_response_and_outputs_survive() -> None:
    # What our own stream emits when GLM speaks or thinks after a tool call in one response.
    history = [
        cf.text_message("assistant", "I'll run it."),
        cf.function_call("call_1", "exec_command", {"cmd": "ls"}),
        cf.text_message("assistant", "Running now."),
        cf.reasoning("Then I will read the output."),
        cf.call_output("call_1", "REAL OUTPUT"),
    ]
    messages = chat(cf.body(*history))["messages"]
    assistant, tool = messages[-2], messages[-1]
    assert assistant["content"] == "I'll run it.\n\nRunning now."
    assert assistant["reasoning_content"] == "Then I will read the output."
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "REAL OUTPUT"}


def test_a_call_id_reused_in_a_later_round_is_a_new_call() -> None:
    # Providers with ids like `functions.exec_command:0` reuse them across turns.
    history = [
        cf.function_call("functions.exec:0", "exec_command", {"cmd": "ls"}), cf.call_output("functions.exec:0", "FIRST"),
        cf.text_message("user", "again"),
        cf.function_call("functions.exec:0", "exec_command", {"cmd": "pwd"}), cf.call_output("functions.exec:0", "SECOND"),
    ]
    messages = chat(cf.body(*history))["messages"]
    assert [m["content"] for m in messages if m["role"] == "tool"] == ["FIRST", "SECOND"]
    assert json.loads(messages[-2]["tool_calls"][0]["function"]["arguments"]) == {"cmd": "pwd"}


def test_a_late_output_after_a_placeholder_is_kept_as_text() -> None:
    history = [cf.function_call("c1", "exec_command", {"cmd": "make"}), cf.text_message("user", "status?"),
               cf.call_output("c1", "build finished")]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-2]["role"] == "tool" and "interrupted" in messages[-2]["content"]
    assert messages[-1]["role"] == "user" and "build finished" in messages[-1]["content"]


def test_identical_consecutive_assistant_messages_collapse() -> None:
    # Capture 13: a stream that ended without response.completed, retried by Codex.
    history = [cf.text_message("assistant", "Hello no completed"), cf.text_message("assistant", "Hello no completed")]
    messages = chat(cf.body(*history))["messages"]
    assert messages[-1] == {"role": "assistant", "content": "Hello no completed"}


def test_a_call_without_a_call_id_is_dropped_not_sent_with_an_empty_id() -> None:
    call = {"type": "function_call", "call_id": "", "name": "exec_command", "arguments": "{}"}
    messages = chat(cf.body(call))["messages"]
    check_glm_sequence(messages)
    assert not any(m.get("tool_calls") for m in messages)


# --- the tool cache: Codex resends the same tools every turn -------------------------------


def test_a_resent_tool_list_is_translated_once_per_route() -> None:
    options = cf.options()
    first = build_chat_request(cf.body(), options)
    again = build_chat_request(cf.body(prompt="and now?"), options)
    assert again.body["tools"] is first.body["tools"]
    assert again.context.tools is first.context.tools
    fresh = build_chat_request(cf.body(prompt="and now?"), cf.options())
    assert json.dumps(fresh.body["tools"]) == json.dumps(again.body["tools"])
    assert again.context.tools.resolve("mcp__mini__echo") == fresh.context.tools.resolve("mcp__mini__echo")


def test_a_changed_tool_list_is_translated_again() -> None:
    options = cf.options()
    first = build_chat_request(cf.body(), options)
    changed = json.loads(json.dumps(cf.body()))
    changed["tools"][0]["description"] = "A new description."
    second = build_chat_request(changed, options)
    assert second.body["tools"][0]["function"]["description"] == "A new description."
    assert first.body["tools"][0]["function"]["description"] != "A new description."


def test_tools_loaded_in_the_history_are_part_of_the_cached_list() -> None:
    options = cf.options()
    search_tool = {"type": "tool_search", "description": "Find tools.", "parameters": {"type": "object", "properties": {}}}
    loaded = {"type": "tool_search_output", "call_id": "ts1", "status": "completed", "tools": [cf.MCP_MINI]}
    call = {"type": "tool_search_call", "call_id": "ts1", "status": "completed", "arguments": {}}
    before = build_chat_request(cf.body(tools=[search_tool]), options)
    after = build_chat_request(cf.body(call, loaded, tools=[search_tool]), options)
    assert [t["function"]["name"] for t in before.body["tools"]] == ["tool_search"]
    assert [t["function"]["name"] for t in after.body["tools"]] == ["tool_search", "mcp__mini__echo"]


def test_the_tool_cache_is_bounded_and_keeps_the_most_recent() -> None:
    from codexglm.translate.options import ToolCache

    cache = ToolCache(size=2)
    for key in (b"a", b"b", b"c"):
        cache.store(key, ([], ToolNames()))
    cache.lookup(b"b")
    cache.store(b"d", ([], ToolNames()))
    assert cache.lookup(b"a") is None and cache.lookup(b"c") is None
    assert cache.lookup(b"b") is not None and cache.lookup(b"d") is not None


def test_options_for_a_chosen_model_share_the_routes_tool_cache() -> None:
    import dataclasses

    options = cf.options()
    explicit = dataclasses.replace(options, model_map={"glm-9": "glm-9"})
    assert explicit.tool_cache is options.tool_cache


def test_a_cached_tool_list_is_never_changed_by_a_later_translation() -> None:
    options = cf.options()
    first = build_chat_request(cf.body(), options)
    snapshot = json.dumps(first.body["tools"])
    build_chat_request(cf.body(prompt="more"), options)
    build_chat_request({**cf.body(), "tool_choice": "none"}, options)
    assert json.dumps(first.body["tools"]) == snapshot
