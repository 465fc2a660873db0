"""Drive a real terminal program (the Codex TUI through codexglm) inside tmux, for tests.

Each `TmuxTerminal` runs one command in its own tmux server (a private socket, no user
config), so tests never touch a user's tmux and can run side by side.  Every wait is
bounded: `wait_for` fails with the screen as it was, so a test failure shows what the
user would have seen.

    async with open_terminal(["python", "-m", "codexglm"], env=env, cwd=work) as term:
        await term.wait_for("for shortcuts")
        await term.type("/status", enter=True)
        screen = await term.wait_for("5h limit")
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

_POLL = 0.2
_TMUX_TIMEOUT = 10.0


class TerminalTimeout(AssertionError):
    """What a test waited for never appeared; the message carries the last screen."""


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


class TmuxTerminal:
    """One program in one tmux window of a private tmux server."""

    def __init__(self, socket_name: str, *, width: int, height: int) -> None:
        self.socket_name = socket_name
        self.width = width
        self.height = height

    async def tmux(self, *args: str) -> str:
        """Run a tmux command against this terminal's server; its stdout."""
        with trio.fail_after(_TMUX_TIMEOUT):
            result = await trio.run_process(["tmux", "-L", self.socket_name, "-f", "/dev/null", *args],
                                            capture_stdout=True, capture_stderr=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode(errors="replace")

    async def start(self, command: Sequence[str], *, env: Mapping[str, str], cwd: str) -> None:
        # The environment goes through `env -i`: a tmux server would otherwise hand the
        # program its own (the test runner's) environment.
        assignments = [f"{name}={value}" for name, value in env.items()]
        line = shlex.join(["env", "-i", *assignments, *command])
        await self.tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height), "-c", cwd, line)
        await self.tmux("set-option", "-t", "t", "remain-on-exit", "on")

    async def screen(self) -> str:
        """The visible screen as plain text."""
        return await self.tmux("capture-pane", "-p", "-t", "t")

    async def history(self) -> str:
        """Everything the terminal printed, scrollback included."""
        return await self.tmux("capture-pane", "-p", "-S", "-", "-t", "t")

    async def wait_until(self, check: Callable[[str], bool], *, timeout: float, what: str, scrollback: bool = False) -> str:
        """Poll the screen until CHECK(screen) holds; the screen then."""
        text = ""
        with trio.move_on_after(timeout):
            while True:
                text = await (self.history() if scrollback else self.screen())
                if check(text):
                    return text
                await trio.sleep(_POLL)
        raise TerminalTimeout(f"{what} did not appear within {timeout:g} s; the screen was:\n{text}")

    async def wait_for(self, pattern: str, *, timeout: float = 30.0, scrollback: bool = False) -> str:
        """Wait until the regular expression PATTERN matches the screen."""
        regex = re.compile(pattern)
        return await self.wait_until(lambda text: regex.search(text) is not None, timeout=timeout,
                                     what=repr(pattern), scrollback=scrollback)

    async def type(self, text: str, *, enter: bool = False) -> None:
        """Type TEXT literally (then Enter)."""
        if text:
            await self.tmux("send-keys", "-t", "t", "-l", text)
        if enter:
            await trio.sleep(_POLL)  # a TUI may treat text and Enter in one read as a paste
            await self.press("Enter")

    async def press(self, *keys: str) -> None:
        """Press named keys (tmux names: Enter, Escape, Down, C-c, ...)."""
        for key in keys:
            await self.tmux("send-keys", "-t", "t", key)

    async def answer(self, prompt: str, key: str = "Enter") -> None:
        """Wait for PROMPT, then press KEY until it is gone (a key pressed while the TUI is
        still drawing its first screen can be lost)."""
        regex = re.compile(prompt)
        await self.wait_for(prompt)
        for _ in range(3):
            await self.press(key)
            try:
                await self.wait_until(lambda text: regex.search(text) is None, timeout=5, what=f"the end of {prompt!r}")
            except TerminalTimeout:
                continue
            return
        raise TerminalTimeout(f"{prompt!r} stayed after {key} three times; the screen was:\n{await self.screen()}")

    async def slash_command(self, command: str) -> None:
        """Type a slash command once the composer shows it (keys sent while a TUI is still
        starting can be lost), then press Enter."""
        for _ in range(3):
            await self.type(command)
            try:
                await self.wait_for(rf"›\s*{re.escape(command)}", timeout=10)
            except TerminalTimeout:
                await self.press("C-u")  # clear whatever did arrive, and type it again
                continue
            await self.press("Enter")
            return
        raise TerminalTimeout(f"{command} never reached the composer; the screen was:\n{await self.screen()}")

    async def select_row(self, pattern: str, *, limit: int = 30) -> None:
        """Move the selection of an open Codex list onto the row matching PATTERN, then Enter.

        Each Down waits for the screen to show it: a key sent before the last one is drawn
        would move the selection past the row."""
        row = re.compile(r"›\s*\d+\.\s+" + pattern)
        screen = await self.screen()
        for _ in range(limit):
            if row.search(screen):
                await self.press("Enter")
                return
            await self.press("Down")
            before = screen
            screen = await self.wait_until(lambda text: text != before, timeout=10, what="the moved selection")
        raise TerminalTimeout(f"no row {pattern!r} in the list; the screen was:\n{screen}")

    async def exited(self) -> bool:
        return (await self.tmux("display-message", "-p", "-t", "t", "#{pane_dead}")).strip() == "1"

    async def wait_exit(self, *, timeout: float = 20.0) -> int:
        """Wait for the program to end; its exit status."""
        with trio.move_on_after(timeout):
            while not await self.exited():
                await trio.sleep(_POLL)
            status = await self.tmux("display-message", "-p", "-t", "t", "#{pane_dead_status}")
            return int(status.strip() or "0")
        raise TerminalTimeout(f"the program did not exit within {timeout:g} s; the screen was:\n{await self.screen()}")

    async def kill(self) -> None:
        """Stop the tmux server and remove its socket (tmux leaves it behind)."""
        try:
            await self.tmux("kill-server")
        except RuntimeError:
            pass  # already gone
        base = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (base / self.socket_name).unlink(missing_ok=True)


@asynccontextmanager
async def open_terminal(
    command: Sequence[str], *, env: Mapping[str, str], cwd: str, width: int = 120, height: int = 40
) -> AsyncIterator[TmuxTerminal]:
    """COMMAND running in a fresh tmux server, killed (with everything in it) on exit."""
    terminal = TmuxTerminal(f"codexglm-test-{os.getpid()}-{secrets.token_hex(4)}", width=width, height=height)
    try:
        await terminal.start(command, env={**env, "TERM": "xterm-256color"}, cwd=cwd)
        yield terminal
    finally:
        with trio.CancelScope(shield=True):
            await terminal.kill()
