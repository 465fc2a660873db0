"""The real Codex TUI in tmux: a `/model` switch moves one session from GLM to FakeCo.

The session's first turn runs on GLM; `/model` offers FakeCo's models from the catalog
(each provider's default near the top); after choosing `fake/fm-large` for the session
the next turn goes to FakeCo's mock, with the GLM turn in its history.
"""

from __future__ import annotations

import pathlib
import re
import sys

import pytest
import trio

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import MockGLM, open_mock_glm, text_reply
from tests.test_providers import FAKE, KEY
from tests.tui_driver import open_terminal, tmux_available

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not tmux_available(), reason="needs tmux")]
ROOT = pathlib.Path(__file__).resolve().parents[1]


async def _requests(mock: MockGLM, count: int) -> None:
    with trio.fail_after(30):
        while len(mock.chat_requests) < count:
            await trio.sleep(0.1)


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    box.extra_env.update(PYTHONPATH=str(ROOT), FAKECO_API_KEY=KEY, TERM="xterm-256color")
    return box


async def test_model_switch_in_the_tui_moves_the_session_to_another_provider(sandbox: Sandbox) -> None:
    async with open_mock_glm() as glm, open_mock_glm(keys={KEY: {"general"}}, models=FAKE.models) as fake:
        sandbox.extra_env["FAKECO_BASE_URL"] = fake.general_url
        glm.enqueue(text_reply("GLM answers first."))
        fake.handler = lambda body: text_reply("FakeCo answers next.")
        command = [sys.executable, "-m", "tests.second_provider_main", "--dangerously-bypass-approvals-and-sandbox",
                   "--disable", "plugins", "-C", str(sandbox.workdir)]
        async with open_terminal(command, env=sandbox.env(glm), cwd=str(sandbox.workdir), width=160, height=45) as tui:
            await tui.answer("Trust and continue")
            await tui.wait_for("GLM-5.3 default")
            await tui.type("What comes first?", enter=True)
            await tui.wait_for("GLM answers first.")
            await tui.slash_command("/model")
            picker = await tui.wait_for("Select Model")
            assert "fake/fm-large (FakeModel Large)" in picker and "FakeCo FakeModel Large through codexglm" in picker
            await tui.select_row(re.escape("fake/fm-large (FakeModel Large)"))
            await tui.answer("Select Reasoning Level for fake/fm-large", "s")  # for this session only
            await tui.wait_for("Model changed to fake/fm-large")
            await tui.type("And what next?", enter=True)
            await tui.wait_for("FakeCo answers next.")
            await _requests(fake, 1)
    turns = [r for r in fake.chat_requests if "And what next?" in str(r.json["messages"])]
    assert turns and all(r.json["model"] == "fm-large" and r.key == KEY for r in turns)
    # The same session: FakeCo gets the GLM turn as history.
    assert "GLM answers first." in str(turns[0].json["messages"])
    first = [r.json["model"] for r in glm.chat_requests if "What comes first?" in str(r.json["messages"])]
    assert first and set(first) == {"glm-5.3"}  # the turn (and any request Codex adds for it) on GLM
    assert not any("And what next?" in str(r.json["messages"]) for r in glm.chat_requests)
