"""The real Codex CLI with a text-only model: images are described by the vision model."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import sys

import pytest

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import MockGLM, Stream, open_mock_glm, text_reply, tool_reply
from tests.test_e2e_tools import _png, _user_parts
from tests.tui_driver import open_terminal, tmux_available

pytestmark = pytest.mark.e2e

DESCRIPTION = "A 4x4 image filled with solid red."


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _by_model(mock: MockGLM, model: str) -> list[dict]:
    return [r.json for r in mock.chat_requests if r.json["model"] == model]


def _data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(_png()).decode()


def _red_image(sandbox: Sandbox) -> pathlib.Path:
    image = sandbox.workdir / "red.png"
    image.write_bytes(_png())
    return image


def _assert_vision_call(mock: MockGLM) -> None:
    [vision] = _by_model(mock, "glm-4.6v")
    assert vision["stream"] is False
    [picture] = [p for p in _user_parts(vision) if p["type"] == "image_url"]
    assert picture["image_url"]["url"] == _data_url()


async def test_an_attached_image_is_described_for_a_text_model(sandbox: Sandbox) -> None:
    image = _red_image(sandbox)
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply(DESCRIPTION), text_reply("The picture is a red square."))
        run = await sandbox.exec(mock, "-m", "glm-5.1", f"--image={image}", "What is in the picture?")
    assert run.returncode == 0, run.describe()
    _assert_vision_call(mock)
    [main] = _by_model(mock, "glm-5.1")
    text = "\n".join(p["text"] for p in _user_parts(main))
    assert "Image description by glm-4.6v" in text and DESCRIPTION in text
    assert "base64" not in json.dumps(main)
    notice, answer = run.messages()
    assert notice == "ⓘ glm-4.6v described 1 image for glm-5.1, which cannot see images."
    assert answer == "The picture is a red square."


async def test_a_view_image_result_is_described_for_a_text_model(sandbox: Sandbox) -> None:
    image = _red_image(sandbox)
    async with open_mock_glm() as mock:
        mock.enqueue(tool_reply([("view_image", json.dumps({"path": str(image)}))]), text_reply(DESCRIPTION),
                     text_reply("It is red."))
        run = await sandbox.exec(mock, "-m", "glm-5.1", "Look at red.png")
    assert run.returncode == 0, run.describe()
    _assert_vision_call(mock)
    first, second = _by_model(mock, "glm-5.1")
    tool_result = second["messages"][-1]
    assert tool_result["role"] == "tool" and DESCRIPTION in tool_result["content"]
    assert "base64" not in json.dumps(second)
    assert run.messages()[-2:] == ["ⓘ glm-4.6v described 1 image for glm-5.1, which cannot see images.", "It is red."]


async def _undescribed(sandbox: Sandbox, config: str) -> tuple[MockGLM, list[str]]:
    """An image for glm-5.1 with CONFIG in config.toml, when it must not be described: the
    mock (which got no vision request) and the messages Codex printed."""
    (sandbox.root / "config" / "config.toml").write_text(config)
    image = _red_image(sandbox)
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("I cannot see it."))
        run = await sandbox.exec(mock, "-m", "glm-5.1", f"--image={image}", "What is in the picture?")
    assert run.returncode == 0, run.describe()
    assert _by_model(mock, "glm-4.6v") == []
    return mock, run.messages()


async def test_descriptions_off_means_only_the_notice(sandbox: Sandbox) -> None:
    mock, (notice, answer) = await _undescribed(sandbox, 'vision_model = "off"\n')
    [main] = mock.chat_requests
    text = "\n".join(p["text"] for p in _user_parts(main.json))
    assert "[image omitted: glm-5.1 does not accept images]" in text and "base64" not in json.dumps(main.json)
    assert notice.startswith("ⓘ glm-5.1 cannot see images: 1 image left out")
    assert "codexglm config set vision_model auto" in notice
    assert answer == "I cannot see it."


async def test_a_standard_key_is_not_charged_for_descriptions_by_default(sandbox: Sandbox) -> None:
    # `codexglm login` records a Standard key's type: every path then spends cash, so no
    # description is requested.
    _, (notice, answer) = await _undescribed(sandbox, 'key_type = "standard"\n')
    assert notice == ("ⓘ glm-5.1 cannot see images: 1 image left out (not described: with this key and endpoint "
                      "glm-4.6v would be billed to your cash balance; to describe them anyway: "
                      "`codexglm config set vision_model glm-4.6v`).")
    assert answer == "I cannot see it."


@pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")
async def test_the_tui_shows_the_one_line_notice(sandbox: Sandbox) -> None:
    image = _red_image(sandbox)
    (sandbox.codex_home / "config.toml").write_text(f'[projects."{sandbox.workdir}"]\ntrust_level = "trusted"\n')

    def by_model(body: dict) -> Stream:
        return text_reply(DESCRIPTION if body["model"] == "glm-4.6v" else "A red square, as described.")

    command = [sys.executable, "-m", "codexglm", "-m", "glm-5.1", "-i", str(image), "What is in the picture?"]
    async with open_mock_glm() as mock:
        mock.handler = by_model
        async with open_terminal(command, env=sandbox.env(mock), cwd=str(sandbox.workdir), width=160, height=50) as tui:
            await tui.wait_for(re.escape("A red square, as described."), timeout=90, scrollback=True)
            screen = await tui.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")
    assert "ⓘ glm-4.6v described 1 image for glm-5.1, which cannot see images." in screen
    _assert_vision_call(mock)
