"""The exit line after an interactive session: the real Codex TUI in tmux, through codexglm."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest
import trio

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import open_mock_glm, text_reply
from tests.tui_driver import TmuxTerminal, open_terminal, tmux_available

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")]
_EXIT_LINE = re.compile(r"codexglm: (\d+) requests? · .* in \(.* cached\), .* out · .*")
_RESUME = re.compile(r"resume: codexglm resume ([0-9a-f-]{36})")
_CODEX_RESUME = re.compile(r"codex resume ([0-9a-f-]{36})")


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _trust_workdir(sandbox: Sandbox) -> None:
    """Tell the sandbox's Codex the work dir is trusted, as answering its first-run question would."""
    (sandbox.codex_home / "config.toml").write_text(f'[projects."{sandbox.workdir}"]\ntrust_level = "trusted"\n')


async def _tui_turn(terminal: TmuxTerminal, prompt: str, answer: str) -> None:
    await terminal.wait_for("Ask Codex to do anything", timeout=60)
    await trio.sleep(0.5)  # the composer takes keys once drawn
    await terminal.type(prompt, enter=True)
    await terminal.wait_for(re.escape(answer), timeout=60, scrollback=True)


async def test_an_interactive_session_ends_with_the_exit_line_and_a_resume_that_works(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Hello from the TUI."))
        _trust_workdir(sandbox)
        env = sandbox.env(mock)
        async with open_terminal([sys.executable, "-m", "codexglm"], env=env, cwd=str(sandbox.workdir),
                                 width=160, height=50) as tui:
            await _tui_turn(tui, "Say hello", "Hello from the TUI.")
            await tui.slash_command("/quit")
            assert await tui.wait_exit(timeout=30) == 0
            # Joined wrapped lines (-J), so the exit line reads as one line.
            screen = await tui.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")
        [line] = [m.group(0) for m in _EXIT_LINE.finditer(screen)]
        assert "plan 5-hour 12% (resets " in line, line
        # codexglm names the same session Codex does, with a command that reaches it.
        [codex_id] = _CODEX_RESUME.findall(screen)
        [session_id] = _RESUME.findall(line)
        assert session_id == codex_id
        # At least the turn itself; Codex may add a side request (the thread's title).
        assert int(_EXIT_LINE.search(line).group(1)) == len(mock.chat_requests) >= 1  # type: ignore[union-attr]

        mock.enqueue(text_reply("Welcome back."))
        async with open_terminal([sys.executable, "-m", "codexglm", "resume", session_id], env=env,
                                 cwd=str(sandbox.workdir), width=160, height=50) as resumed:
            await resumed.wait_for("Hello from the TUI.", timeout=60, scrollback=True)  # the history is back
            await resumed.type("Still there?", enter=True)
            await resumed.wait_for("Welcome back.", timeout=60, scrollback=True)
    # The resumed turn carried the first session's history (Codex may also ask for a title).
    histories = [str(request.json["messages"]) for request in mock.chat_requests]
    assert any("Say hello" in history and "Still there?" in history for history in histories)
