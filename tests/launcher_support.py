"""Shared by the launcher and lifecycle tests: a sandbox running `python -m codexglm`
with tests/fake_codex.py as `codex`, and process checks through /proc."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codexglm.codex.capabilities import Capabilities, read_capabilities
from codexglm.codex.overrides import PROVIDER_ID
from codexglm.codex.version import VERIFIED_CODEX, CodexInfo
from tests import fake_codex

ROOT = Path(__file__).resolve().parents[1]
FAKE_SOURCE = Path(fake_codex.__file__).read_text().split("\n", 1)[1]
API_KEY = "sk-test-0123456789abcdef"


def capabilities_at(version: tuple[int, int, int]) -> Capabilities:
    """What the launcher reads from a Codex of VERSION (its help as the fake prints it)."""
    return read_capabilities(CodexInfo("codex", version), fake_codex.root_help(version), fake_codex.exec_help(version))


CURRENT = capabilities_at(VERIFIED_CODEX)


def write_fake(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable} -S\n{FAKE_SOURCE}")  # -S: starts faster, needs no site
    path.chmod(0o755)
    return path


def install_npm_layout(root: Path, version: str = "0.169.0") -> Path:
    """codex as npm installs it: bin/codex -> lib/node_modules/@openai/codex/bin/codex.js."""
    package = root / "lib" / "node_modules" / "@openai" / "codex"
    write_fake(package / "bin" / "codex.js")
    (package / "package.json").write_text(json.dumps({"name": "@openai/codex", "version": version}))
    link = root / "bin" / "codex"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(package / "bin" / "codex.js")
    return link


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class Rig:
    """A sandbox: fake codex on PATH, private config/state/cache/temp dirs, a key."""

    def __init__(self, tmp: Path, version: str = "0.169.0") -> None:
        self.tmp = tmp
        self.log = tmp / "codex.jsonl"
        self.temp = tmp / "tmp"
        self.temp.mkdir()
        codex = install_npm_layout(tmp / "npm", version)
        self.env = {
            "PATH": f"{codex.parent}:/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp),
            "TMPDIR": str(self.temp),
            "CODEXGLM_CONFIG_DIR": str(tmp / "config"),
            "CODEXGLM_STATE_DIR": str(tmp / "state"),
            "CODEXGLM_CACHE_DIR": str(tmp / "cache"),
            "ZAI_API_KEY": API_KEY,
            "FAKE_CODEX_LOG": str(self.log),
            "FAKE_CODEX_VERSION": version,
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "codexglm", *args]

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), env={**self.env, **env}, cwd=self.tmp, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        proc = self.start(*args, **env)
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        events = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_for(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind)
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"fake codex never logged {kind!r}: {self.events()}")

    def assert_clean(self, codexglm_pid: int) -> None:
        """codexglm, codex and the proxy are gone; no temporary file is left."""
        start = self.events("start")
        pids = [codexglm_pid] + [e["pid"] for e in start]
        deadline = time.monotonic() + 3
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(alive(pid) for pid in pids)
        assert session_members(codexglm_pid) == []
        for event in start:
            provider = next(arg for arg in event["argv"] if arg.startswith(f"model_providers.{PROVIDER_ID}="))
            port = int(provider.split("127.0.0.1:")[1].split("/")[0])
            with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
                probe.connect(("127.0.0.1", port))
        assert list(self.temp.iterdir()) == []


def session_members(sid: int) -> list[int]:
    """Live processes in session SID (codexglm starts its own session in these tests)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) == sid:
                members.append(int(entry.name))
    return members


# Forks each run from a process that has already imported the proxy, so 100 runs stay cheap.
ZYGOTE = r"""
import json, os, sys
import trio
import codexglm.server
from codexglm import cli, launcher

launcher.KILL_GRACE = float(sys.argv[1])
for line in sys.stdin:
    request = json.loads(line)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.close(ready_r)
        os.write(ready_w, b"x")
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        code = 70
        try:
            code = cli.main(request["argv"])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)
"""


def read_line(stream: Any, timeout: float) -> dict[str, Any]:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "codexglm did not finish in time"
    return json.loads(stream.readline())


