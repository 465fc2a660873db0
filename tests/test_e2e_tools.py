"""The real Codex CLI through `codexglm exec`: tool calls of every kind Codex routes."""

from __future__ import annotations

import base64
import json
import pathlib
import struct
import sys
import zlib

import pytest

from tests import mcp_stub
from tests.e2e_harness import Sandbox, make_sandbox, sub_agent_parent
from tests.mockglm import Stream, open_mock_glm, text_reply, tool_reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _shell(command: str) -> tuple[str, str]:
    return "exec_command", json.dumps({"cmd": command})


@pytest.mark.parametrize("tool_stream", [False, True], ids=["whole", "tool_stream"])
async def test_two_parallel_calls_in_one_response(sandbox: Sandbox, tool_stream: bool) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([_shell("echo alpha > a.txt && cat a.txt"), _shell("echo beta > b.txt && cat b.txt")],
                       reasoning="Two independent commands; run both at once.", tool_stream=tool_stream),
            text_reply("Both files are written."),
        )
        run = await sandbox.exec(mock, "Write a.txt and b.txt")
    assert run.returncode == 0, run.describe()
    outputs = sorted(c["aggregated_output"].strip() for c in run.items("command_execution"))
    assert outputs == ["alpha", "beta"]
    assert (sandbox.workdir / "a.txt").read_text() == "alpha\n"
    assert (sandbox.workdir / "b.txt").read_text() == "beta\n"
    assert run.messages() == ["Both files are written."]
    assert len(mock.chat_requests) == 2
    messages = mock.chat_requests[1].json["messages"]
    calls = messages[-3]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["cmd"] for c in calls] == [
        "echo alpha > a.txt && cat a.txt",
        "echo beta > b.txt && cat b.txt",
    ]
    # One assistant message holds both calls; the results follow in call order.
    results = messages[-2:]
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in calls]
    assert "alpha" in results[0]["content"] and "beta" in results[1]["content"]


async def test_sequential_tool_turns_edit_files(sandbox: Sandbox) -> None:
    steps = [
        "printf 'one\\n' > notes.txt",
        "printf 'two\\n' >> notes.txt",
        "sed -i 's/one/ONE/' notes.txt && cat notes.txt",
    ]
    async with open_mock_glm() as mock:
        mock.enqueue(*(tool_reply([_shell(step)], reasoning=f"Step {n}.") for n, step in enumerate(steps, 1)),
                     text_reply("notes.txt now reads ONE, two."))
        run = await sandbox.exec(mock, "Build notes.txt step by step")
    assert run.returncode == 0, run.describe()
    assert (sandbox.workdir / "notes.txt").read_text() == "ONE\ntwo\n"
    assert [c["status"] for c in run.items("command_execution")] == ["completed"] * 3
    assert run.messages() == ["notes.txt now reads ONE, two."]
    assert len(mock.chat_requests) == 4
    # Each request replays the whole exchange so far: one more call/result pair per turn,
    # each call with the reasoning that preceded it.
    for turn, request in enumerate(mock.chat_requests):
        messages = request.json["messages"]
        assistants = [m for m in messages if m["role"] == "assistant"]
        assert [json.loads(m["tool_calls"][0]["function"]["arguments"])["cmd"] for m in assistants] == steps[:turn]
        assert [m["reasoning_content"] for m in assistants] == [f"Step {n}." for n in range(1, turn + 1)]
        assert sum(m["role"] == "tool" for m in messages) == turn
    assert "ONE\ntwo" in mock.chat_requests[3].json["messages"][-1]["content"]


_ADD_PATCH = "*** Begin Patch\n*** Add File: greet.py\n+def greet():\n+    return 'hello'\n*** End Patch\n"
_UPDATE_PATCH = (
    "*** Begin Patch\n*** Update File: greet.py\n@@\n def greet():\n-    return 'hello'\n+    return 'hello, world'\n"
    "*** End Patch\n"
)


@pytest.mark.smoke
@pytest.mark.parametrize("tool_stream", [False, True], ids=["whole", "tool_stream"])
async def test_freeform_apply_patch_creates_then_edits(sandbox: Sandbox, tool_stream: bool) -> None:
    def patch(text: str) -> tuple[str, str]:
        return "apply_patch", json.dumps({"input": text})

    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([patch(_ADD_PATCH)], tool_stream=tool_stream, chunk_size=7),
            tool_reply([patch(_UPDATE_PATCH)], tool_stream=tool_stream, chunk_size=7),
            text_reply("greet.py is ready."),
        )
        run = await sandbox.exec(mock, "Create greet.py, then change the greeting")
    assert run.returncode == 0, run.describe()
    assert (sandbox.workdir / "greet.py").read_text() == "def greet():\n    return 'hello, world'\n"
    changes = [item["changes"] for item in run.items("file_change")]
    assert [[c["kind"] for c in change] for change in changes] == [["add"], ["update"]]
    assert all(c[0]["path"].endswith("greet.py") for c in changes)
    assert [item["status"] for item in run.items("file_change")] == ["completed", "completed"]
    # GLM sees the freeform tool as a function with one string parameter ...
    first = mock.chat_requests[0].json
    tool = next(t["function"] for t in first["tools"] if t["function"]["name"] == "apply_patch")
    assert tool["parameters"]["required"] == ["input"]
    assert first.get("tool_stream") is True
    # ... and its calls come back in history the same way, answered by Codex's result.
    final = mock.chat_requests[2].json["messages"]
    calls = [m["tool_calls"][0] for m in final if m["role"] == "assistant"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"input": _ADD_PATCH}, {"input": _UPDATE_PATCH}]
    results = [m["content"] for m in final if m["role"] == "tool"]
    assert "A greet.py" in results[0] and "M greet.py" in results[1]


_WAVE = "h\u00e9llo \U0001f44b"  # an accented letter and an emoji (a UTF-16 surrogate pair)


@pytest.mark.parametrize(
    "ensure_ascii",
    [
        pytest.param(False, id="utf8"),
        pytest.param(True, id="escaped"),
    ],
)
async def test_apply_patch_keeps_non_ascii_text(sandbox: Sandbox, ensure_ascii: bool) -> None:
    patch = f"*** Begin Patch\n*** Add File: wave.txt\n+{_WAVE}\n*** End Patch\n"
    arguments = json.dumps({"input": patch}, ensure_ascii=ensure_ascii)
    # Fragments of GLM's tool_stream: with JSON escapes, the first one ends between the
    # two halves of the emoji's surrogate pair.
    split = arguments.index("\\udc4b") if ensure_ascii else 9
    async with open_mock_glm() as mock:
        mock.enqueue(tool_reply([("apply_patch", arguments)], tool_stream=True, chunk_size=split),
                     text_reply("wave.txt is written."))
        run = await sandbox.exec(mock, "Write wave.txt")
    assert run.returncode == 0, run.describe()
    assert run.of_type("error") == []  # no retry after a failed stream
    assert (sandbox.workdir / "wave.txt").read_text(encoding="utf-8") == _WAVE + "\n"
    assert run.messages() == ["wave.txt is written."]


@pytest.mark.smoke
async def test_mcp_tool_called_through_its_namespace(sandbox: Sandbox) -> None:
    server = [
        "-c", f"mcp_servers.mini.command={json.dumps(sys.executable)}",
        "-c", f"mcp_servers.mini.args={json.dumps([mcp_stub.__file__])}",
    ]
    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([("mcp__mini__echo", json.dumps({"text": "hi"}))]),
            text_reply("The server said ECHO:hi."),
        )
        run = await sandbox.exec(mock, *server, "Echo hi through the mini server")
    assert run.returncode == 0, run.describe()
    [call] = run.items("mcp_tool_call")
    assert (call["server"], call["tool"], call["arguments"]) == ("mini", "echo", {"text": "hi"})
    assert call["status"] == "completed" and call["error"] is None
    assert call["result"]["content"] == [{"type": "text", "text": "ECHO:hi"}]
    assert run.messages() == ["The server said ECHO:hi."]
    tools = {t["function"]["name"]: t["function"] for t in mock.chat_requests[0].json["tools"]}
    assert tools["mcp__mini__echo"]["parameters"]["required"] == ["text"]
    result = mock.chat_requests[1].json["messages"][-1]
    assert result["role"] == "tool" and "ECHO:hi" in result["content"]


_PARENT = sub_agent_parent({"message": "compute the answer"}, "The sub-agent found 42.")


def _sub_agent_script(body: dict) -> Stream:
    """Answer parent and child by what their requests hold (they run concurrently, so the
    order of their requests is not fixed)."""
    messages = body["messages"]
    if any(m["role"] == "user" and m["content"].endswith("compute the answer") for m in messages):
        return text_reply("child result: 42", reasoning="Six times seven.")
    return _PARENT(body)


async def test_sub_agent_spawned_through_multi_agent_namespace(sandbox: Sandbox) -> None:
    async with open_mock_glm(handler=_sub_agent_script) as mock:
        run = await sandbox.exec(mock, "Delegate the computation to a sub-agent")
    assert run.returncode == 0, run.describe()
    spawn, wait = run.items("collab_tool_call")
    assert (spawn["tool"], spawn["prompt"], spawn["status"]) == ("spawn_agent", "compute the answer", "completed")
    [child] = spawn["receiver_thread_ids"]
    assert (wait["tool"], wait["receiver_thread_ids"]) == ("wait", [child])
    assert wait["agents_states"][child] == {"status": "completed", "message": "child result: 42"}
    assert run.messages() == ["The sub-agent found 42."]
    requests = [r.json["messages"] for r in mock.chat_requests]
    assert len(requests) == 4
    # The child's request is its own conversation: its task, none of the parent's history.
    [child_request] = [
        m for m in requests if m[-1]["role"] == "user" and m[-1]["content"].endswith("compute the answer")
    ]
    assert not any("Delegate the computation" in str(m.get("content")) for m in child_request)
    assert not any(m["role"] == "tool" for m in child_request)
    # The child answered before wait_agent returned, so the parent's answer comes last.
    final = requests[-1]
    calls = [c for m in final for c in m.get("tool_calls", [])]
    [wait_call] = [c for c in calls if c["function"]["name"] == "multi_agent_v1__wait_agent"]
    [waited] = [m for m in final if m.get("tool_call_id") == wait_call["id"]]
    assert "child result: 42" in waited["content"]


def _png() -> bytes:
    """A valid 4x4 solid red RGB PNG."""
    width = height = 4

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _user_parts(mock_request: dict) -> list[dict]:
    """The content parts of all user messages, in order (plain strings as text parts)."""
    parts: list[dict] = []
    for message in mock_request["messages"]:
        if message["role"] == "user":
            content = message["content"]
            parts.extend(content if isinstance(content, list) else [{"type": "text", "text": content}])
    return parts


async def test_image_reaches_a_vision_model(sandbox: Sandbox) -> None:
    image = sandbox.workdir / "red.png"
    image.write_bytes(_png())
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("A red square."))
        run = await sandbox.exec(mock, "-m", "glm-4.6v", f"--image={image}", "What is in the picture?")
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["A red square."]
    sent = mock.chat_requests[0].json
    assert sent["model"] == "glm-4.6v"
    parts = _user_parts(sent)
    [picture] = [p for p in parts if p["type"] == "image_url"]
    assert picture["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(_png()).decode()
    assert parts[-1] == {"type": "text", "text": "What is in the picture?"}


async def test_image_from_a_tool_reaches_a_vision_model(sandbox: Sandbox) -> None:
    image = sandbox.workdir / "red.png"
    image.write_bytes(_png())
    async with open_mock_glm() as mock:
        mock.enqueue(tool_reply([("view_image", json.dumps({"path": str(image)}))]), text_reply("It is red."))
        run = await sandbox.exec(mock, "-m", "glm-4.6v", "Look at red.png")
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["It is red."]
    # GLM tool results are text only: the image follows them in a user message.
    *_, assistant, result, images = mock.chat_requests[1].json["messages"]
    assert result["role"] == "tool" and result["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert images["role"] == "user"
    [picture] = [p for p in images["content"] if p["type"] == "image_url"]
    assert picture["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(_png()).decode()


async def test_output_schema_asks_glm_for_json(sandbox: Sandbox) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    schema_file = sandbox.root / "schema.json"
    schema_file.write_text(json.dumps(schema))
    last = sandbox.root / "last.json"
    answer = json.dumps({"city": "Paris", "population": 2102650})
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply(answer, reasoning="Paris, per the 2023 census."))
        run = await sandbox.exec(mock, "--output-schema", str(schema_file), "-o", str(last), "Largest French city?")
    assert run.returncode == 0, run.describe()
    assert json.loads(last.read_text()) == {"city": "Paris", "population": 2102650}
    assert run.messages() == [answer]
    sent = mock.chat_requests[0].json
    assert sent["response_format"] == {"type": "json_object"}
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert json.dumps(schema, separators=(",", ":")) in system["content"]
