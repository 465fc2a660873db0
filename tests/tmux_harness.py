"""Drive the real Codex TUI through `codexglm` in a detached tmux session.

Each `TmuxSession` runs on a private tmux server (its own `-L` socket), so tests never
see each other's windows, and `close()` kills that server.  The command runs in a shell
that prints `EXITED-<status>` when codexglm exits and then stays, so the screen after
exit (Codex's farewell and codexglm's exit line) can still be read.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import trio

EXIT_MARK = "EXITED-"


class TmuxSession:
    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], cwd: str) -> None:
        self._socket = f"codexglm-test-{os.getpid()}-{name}"
        inner = f"cd {shlex.quote(cwd)}; {shlex.join(command)}; echo {EXIT_MARK}$?; sleep 600"
        self._tmux("new-session", "-d", "-s", "main", "-x", "160", "-y", "50", f"bash --norc --noprofile -c {shlex.quote(inner)}",
                   env=dict(env))

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(["tmux", "-L", self._socket, *args], capture_output=True, text=True, timeout=10,
                                env=env if env is not None else os.environ.copy())
        return result.stdout

    def screen(self) -> str:
        """What the pane shows now, and its scrollback, with wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "main")

    def visible(self) -> str:
        """What the pane shows now (no scrollback)."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "main")

    async def type(self, text: str) -> None:
        """Type TEXT; then wait a moment, or the TUI takes a following Enter as part of a paste."""
        self._tmux("send-keys", "-t", "main", "-l", text)
        await trio.sleep(0.5)

    def press(self, key: str) -> None:
        self._tmux("send-keys", "-t", "main", key)

    async def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            await trio.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen:\n{self.screen()}")

    def close(self) -> None:
        """Stop this session's tmux server and remove its socket (tmux leaves it behind)."""
        self._tmux("kill-server")
        base = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (base / self._socket).unlink(missing_ok=True)


def require_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
