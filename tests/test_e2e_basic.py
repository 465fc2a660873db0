"""The real Codex CLI through `codexglm exec`: plain answers and tool round trips."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import open_mock_glm, quota_data, text_reply, tool_reply

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


@pytest.mark.smoke
async def test_plain_answer_with_reasoning_and_usage(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Paris is the capital of France.", reasoning="The user asks a geography question."))
        run = await sandbox.exec(mock, "What is the capital of France?")
    assert run.returncode == 0, run.describe()
    assert run.messages() == ["Paris is the capital of France."]
    assert [i["text"] for i in run.items("reasoning")] == ["The user asks a geography question."]
    usage = run.of_type("turn.completed")[0]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    # No "model metadata not found" or other warnings: the catalog knows the model.
    assert run.items("error") == []
    sent = mock.chat_requests[0].json
    assert sent["model"] == "glm-5.3" and sent["stream"] is True  # the default: what the Coding Plan serves
    assert sent["messages"][0]["role"] == "system"
    assert "What is the capital of France?" in sent["messages"][-1]["content"]


@pytest.mark.smoke
async def test_shell_command_round_trip(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(
            tool_reply([("exec_command", json.dumps({"cmd": "echo hi-from-tool > out.txt && cat out.txt"}))],
                       reasoning="I should run the command.", text="Running it."),
            text_reply("The command printed hi-from-tool."),
        )
        run = await sandbox.exec(mock, "Run the command")
    assert run.returncode == 0, run.describe()
    commands = run.items("command_execution")
    assert len(commands) == 1 and "hi-from-tool" in commands[0]["aggregated_output"]
    assert (sandbox.workdir / "out.txt").read_text().strip() == "hi-from-tool"
    assert run.messages()[-1] == "The command printed hi-from-tool."
    second = mock.chat_requests[1].json["messages"]
    assistant, tool = second[-2], second[-1]
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"
    assert assistant["reasoning_content"] == "I should run the command."
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "hi-from-tool" in tool["content"]


async def test_coding_plan_usage_shows_in_codex_rate_limits(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.quota = quota_data(percentage=37)
        mock.enqueue(tool_reply([("exec_command", json.dumps({"cmd": "true"}))]), text_reply("Done."))
        run = await sandbox.exec(mock, "Run true")
    assert run.returncode == 0, run.describe()
    rollouts = list((sandbox.codex_home / "sessions").rglob("rollout-*.jsonl"))
    assert len(rollouts) == 1
    limits = [json.loads(line)["payload"].get("rate_limits") for line in rollouts[0].read_text().splitlines()
              if '"rate_limits"' in line]
    primary = [entry["primary"] for entry in limits if entry and entry.get("primary")]
    assert primary and primary[-1]["used_percent"] == 37.0 and primary[-1]["window_minutes"] == 300


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cf00000301010018dd8db00000000049454e44ae426082"
)


async def test_an_image_a_text_model_cannot_see_is_announced(sandbox: Sandbox) -> None:
    (sandbox.workdir / "dot.png").write_bytes(_PNG)
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("No image here."))
        # A text-only model (the default, GLM-5.3, takes images).
        run = await sandbox.exec(mock, "-m", "glm-5.1", "Describe the picture", "-i", str(sandbox.workdir / "dot.png"))
    assert run.returncode == 0, run.describe()
    assert "glm-5.1 cannot see images: Codex sends it dot.png as a placeholder only" in run.stderr
    assert "-m glm-" in run.stderr  # names a model that can
    # What Codex sent in the image's place, so the model knows too.
    assert "image content omitted" in json.dumps(mock.chat_requests[-1].json["messages"])
