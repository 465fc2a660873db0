"""The real Codex TUI in tmux: a `/model` switch moves one session from GLM to FakeCo.

The session's first turn runs on GLM; `/model` offers FakeCo's models from the catalog
(each provider's default near the top); after choosing `fake/fm-large` for the session
the next turn goes to FakeCo's mock, with the GLM turn in its history.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import trio

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import MockGLM, open_mock_glm, text_reply
from tests.test_providers import FAKE, KEY

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]
ROOT = pathlib.Path(__file__).resolve().parents[1]
_WAIT = 30.0


class Tmux:
    """One detached tmux session on a private server (never the user's), running a command."""

    def __init__(self, name: str, socket: pathlib.Path) -> None:
        self.name = name
        self._tmux = ["tmux", "-S", str(socket)]

    def start(self, command: list[str]) -> None:
        subprocess.run([*self._tmux, "new-session", "-d", "-s", self.name, "-x", "160", "-y", "45", *command], check=True)

    def screen(self) -> str:
        return subprocess.run([*self._tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run([*self._tmux, "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True)

    async def submit(self, text: str) -> None:
        """Type TEXT, then Enter once the TUI took it (typed too fast, Enter reads as pasted)."""
        self.keys(text, literal=True)
        await self.wait_for(text)
        await trio.sleep(0.5)
        self.keys("Enter")

    async def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + _WAIT
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            await trio.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def kill(self) -> None:
        """Stop the server: its session's processes get SIGHUP, as when a terminal closes."""
        subprocess.run([*self._tmux, "kill-server"], capture_output=True)


async def _requests(mock: MockGLM, count: int) -> None:
    with trio.fail_after(_WAIT):
        while len(mock.chat_requests) < count:
            await trio.sleep(0.1)


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    box.extra_env.update(PYTHONPATH=str(ROOT), FAKECO_API_KEY=KEY, TERM="xterm-256color")
    return box


async def test_model_switch_in_the_tui_moves_the_session_to_another_provider(sandbox: Sandbox) -> None:
    tmux = Tmux("codexglm", sandbox.root / "tmux.sock")
    async with open_mock_glm() as glm, open_mock_glm(keys={KEY: {"general"}}, models=FAKE.models) as fake:
        sandbox.extra_env["FAKECO_BASE_URL"] = fake.general_url
        glm.enqueue(text_reply("GLM answers first."))
        fake.handler = lambda body: text_reply("FakeCo answers next.")
        env = [f"{key}={value}" for key, value in sandbox.env(glm).items()]
        tmux.start(["env", "-i", *env, sys.executable, "-m", "tests.second_provider_main",
                    "--dangerously-bypass-approvals-and-sandbox", "--disable", "plugins", "-C", str(sandbox.workdir)])
        try:
            await tmux.wait_for("Trust and continue")
            tmux.keys("Enter")
            await tmux.wait_for("GLM-5.3 default")
            await tmux.submit("What comes first?")
            await tmux.wait_for("GLM answers first.")
            await tmux.submit("/model")
            picker = await tmux.wait_for("Select Model")
            assert "fake/fm-large (FakeModel Large)" in picker and "FakeCo FakeModel Large through codexglm" in picker
            tmux.keys("Down")
            await trio.sleep(0.3)
            tmux.keys("Enter")
            await tmux.wait_for("Select Reasoning Level for fake/fm-large")
            tmux.keys("s")  # for this session only
            await tmux.wait_for("Model changed to fake/fm-large")
            await tmux.submit("And what next?")
            await tmux.wait_for("FakeCo answers next.")
            await _requests(fake, 1)
        finally:
            tmux.kill()
    turns = [r for r in fake.chat_requests if "And what next?" in str(r.json["messages"])]
    assert turns and all(r.json["model"] == "fm-large" and r.key == KEY for r in turns)
    # The same session: FakeCo gets the GLM turn as history.
    assert "GLM answers first." in str(turns[0].json["messages"])
    first = [r.json["model"] for r in glm.chat_requests if "What comes first?" in str(r.json["messages"])]
    assert first and set(first) == {"glm-5.3"}  # the turn (and any request Codex adds for it) on GLM
    assert not any("And what next?" in str(r.json["messages"]) for r in glm.chat_requests)
