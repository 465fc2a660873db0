"""The exit line after an interactive session: the real Codex TUI in tmux, through codexglm."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest
import trio

from tests.e2e_harness import Sandbox, make_sandbox
from tests.mockglm import open_mock_glm, text_reply
from tests.tmux_harness import EXIT_MARK, TmuxSession, require_tmux

pytestmark = pytest.mark.e2e
_EXIT_LINE = re.compile(r"codexglm: (\d+) requests? · .* in \(.* cached\), .* out · .*")
_RESUME = re.compile(r"resume: codexglm resume ([0-9a-f-]{36})")
_CODEX_RESUME = re.compile(r"codex resume ([0-9a-f-]{36})")


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    require_tmux()
    return make_sandbox(tmp_path)


def _trust_workdir(sandbox: Sandbox) -> None:
    """Tell the sandbox's Codex the work dir is trusted, as answering its first-run question would."""
    (sandbox.codex_home / "config.toml").write_text(f'[projects."{sandbox.workdir}"]\ntrust_level = "trusted"\n')


async def _tui_turn(session: TmuxSession, prompt: str, answer: str) -> None:
    await session.wait_for("Ask Codex to do anything", timeout=60)
    await trio.sleep(0.5)  # the composer takes keys once drawn
    await session.type(prompt)
    session.press("Enter")
    await session.wait_for(answer, timeout=60)


async def test_an_interactive_session_ends_with_the_exit_line_and_a_resume_that_works(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Hello from the TUI."))
        _trust_workdir(sandbox)
        env = sandbox.env(mock)
        tui = TmuxSession("exit-line", [sys.executable, "-m", "codexglm"], env, str(sandbox.workdir))
        try:
            await _tui_turn(tui, "Say hello", "Hello from the TUI.")
            await tui.type("/quit")
            tui.press("Enter")
            screen = await tui.wait_for(EXIT_MARK, timeout=30)
        finally:
            tui.close()
        assert f"{EXIT_MARK}0" in screen, screen
        [line] = [m.group(0) for m in _EXIT_LINE.finditer(screen)]
        assert "plan 5-hour 12% (resets " in line, line
        # codexglm names the same session Codex does, with a command that reaches it.
        [codex_id] = _CODEX_RESUME.findall(screen)
        [session_id] = _RESUME.findall(line)
        assert session_id == codex_id
        # At least the turn itself; Codex may add a side request (the thread's title).
        assert int(_EXIT_LINE.search(line).group(1)) == len(mock.chat_requests) >= 1  # type: ignore[union-attr]

        mock.enqueue(text_reply("Welcome back."))
        resumed = TmuxSession("resume", [sys.executable, "-m", "codexglm", "resume", session_id], env,
                              str(sandbox.workdir))
        try:
            await resumed.wait_for("Hello from the TUI.", timeout=60)  # the history is back
            await resumed.type("Still there?")
            resumed.press("Enter")
            await resumed.wait_for("Welcome back.", timeout=60)
        finally:
            resumed.close()
    # The resumed turn carried the first session's history (Codex may also ask for a title).
    histories = [str(request.json["messages"]) for request in mock.chat_requests]
    assert any("Say hello" in history and "Still there?" in history for history in histories)
