"""Requests that cannot break on Codex's next release: every unknown has a safe, logged
default (a new field, a new item type, a tool without a schema, another provider's
compaction or reasoning), and none of them is a 400."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm.translate import build_chat_request
from codexglm.translate.reasoning import encode_reasoning
from tests import codex_fixtures as cf
from tests.mockglm import _validate as glm_refusal
from tests.test_request import check_glm_sequence

EMPTY_OBJECT = {"type": "object", "properties": {}}


def chat(body: dict, options=None) -> dict:  # type: ignore[no-untyped-def]
    translated = build_chat_request(body, options or cf.options()).body
    check_glm_sequence(translated["messages"])
    assert glm_refusal(translated) is None, glm_refusal(translated)
    return translated


def test_unknown_top_level_fields_are_ignored_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    options = cf.options()
    plain = chat(cf.body(), options)
    with caplog.at_level(logging.INFO, logger="codexglm.translate"):
        first = chat(cf.body(access_programs=["x"], brand_new_field={"a": 1}), options)
        chat(cf.body(brand_new_field=2), options)
    assert first == plain
    logged = [r.getMessage() for r in caplog.records if "brand_new_field" in r.getMessage()]
    assert len(logged) == 1
    assert not any("access_programs" in r.getMessage() for r in caplog.records)  # a known field, no chat equivalent


def test_unknown_items_are_skipped_with_one_warning_per_type(caplog: pytest.LogCaptureFixture) -> None:
    options = cf.options()
    with caplog.at_level(logging.WARNING, logger="codexglm.translate"):
        for _ in range(3):
            out = chat(cf.body({"type": "hologram_call", "call_id": "h1", "payload": "zzz"},
                               {"type": "future_marker"}), options)
            assert "zzz" not in json.dumps(out)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "'hologram_call'" in warnings[0] and "'future_marker'" in warnings[1]


@pytest.mark.parametrize("parameters", [None, "missing", [], "string", 3, {"type": "string"}, {}])
def test_tool_schemas_that_are_not_objects_become_empty_object_schemas(parameters: object) -> None:
    tool: dict = {"type": "function", "name": "codex_app__automation_update", "description": "Update"}
    if parameters != "missing":
        tool["parameters"] = parameters
    out = chat(cf.body(tools=[tool]))
    assert out["tools"][0]["function"]["parameters"] == EMPTY_OBJECT


def test_instructions_and_developer_messages_both_reach_the_system_message() -> None:
    body = cf.body(instructions="TOP-LEVEL INSTRUCTIONS")
    body["input"].insert(0, cf.text_message("developer", "DEVELOPER TEXT"))
    system = chat(body)["messages"][0]
    assert system["role"] == "system"
    assert system["content"].index("TOP-LEVEL INSTRUCTIONS") < system["content"].index("DEVELOPER TEXT")


def test_responses_lite_additional_tools_item_becomes_tools_and_no_message() -> None:
    item = {"type": "additional_tools", "id": "at_1", "role": "developer",
            "tools": [{"type": "namespace", "name": "functions", "description": "", "tools": [cf.EXEC_COMMAND]}]}
    out = chat({"model": "glm-5.1", "stream": True, "input": [item, cf.text_message("user", "hi")]})
    assert [t["function"]["name"] for t in out["tools"]] == ["exec_command"]
    assert "additional_tools" not in json.dumps(out["messages"])


def test_foreign_compaction_becomes_a_short_note_not_garbage() -> None:
    blob = "gAAAAABo-openai-encrypted-compaction-" + "x" * 200
    out = chat(cf.body({"type": "compaction", "id": "cmp_1", "encrypted_content": blob}, cf.text_message("user", "go on")))
    text = json.dumps(out["messages"])
    assert blob not in text and "compacted by another model provider" in text


def test_foreign_reasoning_encrypted_content_is_never_forwarded() -> None:
    blob = "gAAAAABo-openai-reasoning-" + "y" * 200
    foreign = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Looked at the file."}],
               "encrypted_content": blob}
    reply = cf.text_message("assistant", "Done.")
    out = chat(cf.body(foreign, reply, cf.text_message("user", "next")))
    assert blob not in json.dumps(out)
    assistant = [m for m in out["messages"] if m["role"] == "assistant"][0]
    assert assistant["reasoning_content"] == "Looked at the file."  # the readable summary instead
    ours = chat(cf.body({**foreign, "encrypted_content": encode_reasoning("exact thinking")}, reply))
    assert [m for m in ours["messages"] if m["role"] == "assistant"][0]["reasoning_content"] == "exact thinking"


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)


@given(st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in cf.body()), _JSON, max_size=4),
       st.lists(st.dictionaries(st.sampled_from(["type", "role", "content", "id", "call_id", "x"]), _JSON, max_size=4),
                max_size=4))
def test_any_new_fields_and_items_translate_to_a_body_glm_accepts(fields: dict, items: list) -> None:
    body = cf.body(*items, **fields)
    chat(body)


def test_unknown_tool_types_are_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    options = cf.options()
    tools = [cf.EXEC_COMMAND, {"type": "teleport", "name": "beam"}, {"type": "image_generation"}]
    with caplog.at_level(logging.WARNING, logger="codexglm.translate"):
        for _ in range(2):
            out = chat(cf.body(tools=tools), options)
            assert [t["function"]["name"] for t in out["tools"]] == ["exec_command"]
    assert [r.getMessage() for r in caplog.records] == [
        "dropping tools of unknown type 'teleport' (a newer Codex?); the model will not see them"]
