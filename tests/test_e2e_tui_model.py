"""`/model` in the real Codex TUI (tmux): the choice persists for codexglm's next launch and
never lands in the user's ~/.codex/config.toml."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest
import tomlkit
import trio

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import open_mock_glm
from tests.tui_driver import TmuxTerminal, open_terminal, tmux_available

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")]

USER_CONFIG = '# my own settings\napproval_policy = "on-request"\n'


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    box = make_sandbox(tmp_path)
    (box.codex_home / "config.toml").write_text(USER_CONFIG)
    return box


def tui_command(sandbox: Sandbox) -> list[str]:
    work = str(sandbox.workdir)
    return [sys.executable, "-m", "codexglm", "-c", f'projects={{"{work}"={{trust_level="trusted"}}}}', "-C", work]


async def open_model_picker(term: TmuxTerminal) -> None:
    """/model, again while Codex says it is still starting (bounded)."""
    for _ in range(10):
        await term.slash_command("/model")
        screen = await term.wait_for(r"Select Model|disabled until startup completes", timeout=30)
        if "Select Model" in screen:
            return
        await trio.sleep(1.0)
    raise AssertionError(f"the model picker never opened:\n{await term.screen()}")


async def quit_tui(term: TmuxTerminal) -> int:
    await term.slash_command("/quit")
    return await term.wait_exit(timeout=30)


async def test_model_choice_persists_for_codexglm_and_not_in_the_users_config(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        env = {**sandbox.env(mock), "NO_COLOR": "1"}
        async with open_terminal(tui_command(sandbox), env=env, cwd=str(sandbox.workdir)) as term:
            await term.wait_for(r"for shortcuts", timeout=60)
            await open_model_picker(term)
            await term.select_row(r"GLM-5\s")
            ladder = await term.wait_for(r"Select Reasoning Level for GLM-5\b", timeout=30)
            # An honest ladder: thinking off or on, nothing that sends GLM the same request twice.
            rows = re.findall(r"^\s*(?:›\s*)?\d+\.\s+(\w+).*?(Thinking \w+)", ladder, re.M)
            assert rows == [("None", "Thinking off"), ("High", "Thinking on")], ladder
            await term.select_row(r"High")
            await term.wait_for(r"Model changed to glm-5 high", timeout=30)
            assert await quit_tui(term) == 0
            printed = await term.history()
        assert "saved your /model choice" in printed, printed

        user_config = tomlkit.parse((sandbox.codex_home / "config.toml").read_text())
        assert "model" not in user_config and "model_reasoning_effort" not in user_config
        assert (sandbox.codex_home / "config.toml").read_text().startswith(USER_CONFIG)
        ours = tomlkit.parse((sandbox.root / "config" / "config.toml").read_text())
        assert (ours["default_model"], ours["reasoning_effort"]) == ("glm-5", "high")

        async with open_terminal(tui_command(sandbox), env=env, cwd=str(sandbox.workdir)) as term:
            await term.wait_for(r"GLM-5 high", timeout=60)
            assert await quit_tui(term) == 0
