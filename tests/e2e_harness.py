"""Drive the real Codex CLI through `codexglm exec --json` against the mock GLM.

Every run gets its own HOME, CODEX_HOME, codexglm config/state/cache dirs and a git work
dir, and flags that keep Codex offline and bounded.  The mock runs in the test's trio loop;
codexglm (and the codex it starts) run as a child process talking to it over loopback.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from codexglm.codex.version import format_version
from codexglm.providers import get_provider, provider_names
from tests import codex_bodies
from tests.codex_cli import codex_binary, version_under_test
from tests.mockglm import DEFAULT_KEY, MockGLM, Stream, text_reply, tool_reply

_PROVIDER_VARIABLES = frozenset(
    name for provider in map(get_provider, provider_names()) for name in (provider.key_env, *provider.env_settings)
)

# Keep Codex away from the network and from waiting forever; let it run tools in the work dir.
CODEX_FLAGS = [
    "--json",
    "--skip-git-repo-check",
    "--dangerously-bypass-approvals-and-sandbox",
    "--disable", "plugins",
    "--disable", "unbounded_connection_retries",
    "-c", 'web_search="disabled"',
]


@dataclass
class CodexRun:
    returncode: int
    events: list[dict[str, Any]]
    stdout: str
    stderr: str

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.events if e.get("type") == "item.completed" and e["item"].get("type") == kind]

    def messages(self) -> list[str]:
        return [i["text"] for i in self.items("agent_message")]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def describe(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"


@dataclass
class Sandbox:
    """One user's world: home, codex home, config dirs and a project work dir."""

    root: pathlib.Path
    codex: str
    extra_env: dict[str, str] = field(default_factory=dict)
    # The module `python -m` runs: codexglm, or a wrapper that registers extra providers first.
    entry: str = "codexglm"

    @property
    def workdir(self) -> pathlib.Path:
        return self.root / "work"

    @property
    def codex_home(self) -> pathlib.Path:
        return self.root / "codex-home"

    def env(self, mock: MockGLM | None) -> dict[str, str]:
        # Nothing of the user's own setup may reach a test: no codexglm, Codex or provider variables.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ZAI_", "GLM_", "CODEXGLM_", "OPENAI_", "CODEX_")) and k not in _PROVIDER_VARIABLES}
        env.update(
            HOME=str(self.root / "home"),
            CODEX_HOME=str(self.codex_home),
            CODEXGLM_CODEX=self.codex,
            CODEXGLM_CONFIG_DIR=str(self.root / "config"),
            CODEXGLM_STATE_DIR=str(self.root / "state"),
            CODEXGLM_CACHE_DIR=str(self.root / "cache"),
            ZAI_API_KEY=DEFAULT_KEY,
            NO_COLOR="1",
            RUST_LOG="error",
        )
        if mock is not None:
            env.update(ZAI_CODING_BASE_URL=mock.coding_url, ZAI_BASE_URL=mock.general_url)
        env.update(self.extra_env)
        return env

    async def exec(self, mock: MockGLM | None, *args: str, glm_args: tuple[str, ...] = (), timeout: float = 120) -> CodexRun:
        recording = bool(os.environ.get(codex_bodies.RECORD_ENV))
        if recording:  # the proxy's own body log is the recorder's source
            glm_args = ("--glm-log-bodies", *glm_args)
        command = [sys.executable, "-m", self.entry, *glm_args, "exec", *CODEX_FLAGS, "-C", str(self.workdir), *args]
        with trio.fail_after(timeout):
            result = await trio.run_process(command, env=self.env(mock), cwd=str(self.workdir), capture_stdout=True,
                                            capture_stderr=True, check=False, stdin=subprocess.DEVNULL)
        if recording:
            test = os.environ.get("PYTEST_CURRENT_TEST", "run").split("::")[-1].split(" ")[0]
            codex_bodies.record(self.root / "state" / "requests.jsonl", str(self.root),
                                format_version(version_under_test()), test)
        stdout = result.stdout.decode(errors="replace")
        events = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
        return CodexRun(result.returncode, events, stdout, result.stderr.decode(errors="replace"))


def make_sandbox(tmp_path: pathlib.Path) -> Sandbox:
    codex = codex_binary()
    if codex is None:
        pytest.skip("the Codex CLI under test could not be installed (npm unavailable) or $CODEXGLM_TEST_CODEX is not executable")
    for sub in ("home", "codex-home", "config", "state", "cache", "work"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(tmp_path / "work")], check=True)
    return Sandbox(tmp_path, codex)


def sub_agent_parent(spawn: dict[str, Any], answer: str) -> Callable[[dict[str, Any]], Stream]:
    """A main agent's replies: spawn a sub-agent with SPAWN's arguments (Codex's multi-agent
    v1 tools), wait for it, then say ANSWER."""

    def reply(body: dict[str, Any]) -> Stream:
        messages = body["messages"]
        calls = {c["function"]["name"]: c["id"] for m in messages for c in m.get("tool_calls", [])}
        if "multi_agent_v1__spawn_agent" not in calls:
            return tool_reply([("multi_agent_v1__spawn_agent", json.dumps(spawn))])
        if "multi_agent_v1__wait_agent" not in calls:
            spawned = next(m for m in messages if m.get("tool_call_id") == calls["multi_agent_v1__spawn_agent"])
            agent = json.loads(spawned["content"])["agent_id"]
            return tool_reply([("multi_agent_v1__wait_agent", json.dumps({"targets": [agent], "timeout_ms": 20000}))])
        return text_reply(answer)

    return reply


def last_chat_messages(mock: MockGLM) -> list[dict[str, Any]]:
    return mock.chat_requests[-1].json["messages"]
