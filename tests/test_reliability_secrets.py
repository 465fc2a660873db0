"""The API key never shows up anywhere: logs, errors, doctor output, files left behind.

One distinctive fake key goes through a representative session in a private sandbox (HOME,
CODEX_HOME, codexglm's config/state/cache dirs, TMPDIR): storing the key, `codexglm config`,
`doctor` (text and --json) with the key accepted and refused, launches whose proxy answers
through the mock GLM or has its key refused, `codexglm serve` with body logging on and
clients getting the token wrong, and upstream errors that echo the key back.  Then every
file under the sandbox (except the key file, the one place the key belongs) and every byte
captured from stdout, stderr and HTTP answers is searched for the key and for its middle
part (so a truncated key counts as a leak too).
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from codexglm.server import create_app
from codexglm.settings import mask_secret
from tests.launcher_support import ROOT, install_npm_layout
from tests.mockglm import MockGLM, open_mock_glm
from tests.server_support import (
    AUTH,
    TOKEN,
    Script,
    codex_body,
    glm_error,
    glm_frames,
    make_settings,
    sse_response,
)

KEY = "zai-R3liab1l1ty-7c41e9b2d85f36a0.Qm8vXk2Lp"
MIDDLE = KEY[8:-8]  # no prefix or suffix a mask would keep
REFUSED = KEY + "-revoked"  # a key GLM refuses, which contains the real one
SERVE_TOKEN = "serve-token-for-the-secrets-test-0042"


@dataclass
class Sandbox:
    """One user's world, and everything its commands printed or answered."""

    root: Path
    env: dict[str, str]
    captured: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def key_file(self) -> Path:
        return Path(self.env["CODEXGLM_CONFIG_DIR"]) / "api_key"

    def keep(self, what: str, data: bytes | str) -> None:
        self.captured.append((what, data if isinstance(data, bytes) else data.encode()))

    async def codexglm(self, *args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
        done = await trio.run_process(
            [sys.executable, "-m", "codexglm", *args],
            env={**self.env, **env},
            cwd=self.root / "work",
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        label = " ".join(args)
        self.keep(f"stdout of codexglm {label}", done.stdout)
        self.keep(f"stderr of codexglm {label}", done.stderr)
        return done


def _sandbox(root: Path, mock: MockGLM) -> Sandbox:
    dirs = {name: root / name for name in ("home", "codex_home", "config", "state", "cache", "tmp", "work")}
    for path in dirs.values():
        path.mkdir()
    codex = install_npm_layout(root / "npm")
    env = {
        "PATH": f"{codex.parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(dirs["home"]),
        "CODEX_HOME": str(dirs["codex_home"]),
        "TMPDIR": str(dirs["tmp"]),
        "CODEXGLM_CONFIG_DIR": str(dirs["config"]),
        "CODEXGLM_STATE_DIR": str(dirs["state"]),
        "CODEXGLM_CACHE_DIR": str(dirs["cache"]),
        "ZAI_CODING_BASE_URL": mock.coding_url,
        "ZAI_BASE_URL": mock.general_url,
        "FAKE_CODEX_LOG": str(root / "codex.jsonl"),
        "FAKE_CODEX_PATH": "responses",
    }
    return Sandbox(root, env)


def _leaks(data: bytes) -> bool:
    return KEY.encode() in data or MIDDLE.encode() in data


# --------------------------------------------------------------------------- the session


async def _configure(box: Sandbox) -> None:
    stored = await box.codexglm("config", "set", "api_key", "-", stdin=KEY.encode())
    assert stored.returncode == 0, stored.stderr
    assert box.key_file.read_text().strip() == KEY and stat.S_IMODE(box.key_file.stat().st_mode) == 0o600
    assert (await box.codexglm("config", "set", "log_bodies", "true")).returncode == 0
    shown = await box.codexglm("config")
    assert shown.returncode == 0 and KEY[-4:].encode() in shown.stdout  # masked, but recognisable
    await box.codexglm("config", "show", ZAI_API_KEY=KEY)


DOCTOR_CODEX_LOG = "doctor-codex.jsonl"  # what codex was given when the doctor ran it


async def _doctor(box: Sandbox) -> None:
    log = str(box.root / DOCTOR_CODEX_LOG)
    for key in (KEY, REFUSED):
        await box.codexglm("doctor", ZAI_API_KEY=key, FAKE_CODEX_LOG=log)
        report = await box.codexglm("doctor", "--json", ZAI_API_KEY=key, FAKE_CODEX_LOG=log)
        json.loads(report.stdout)  # the whole report, not an error message
    await box.codexglm("doctor", "--offline", ZAI_API_KEY=KEY, FAKE_CODEX_LOG=log)


async def _launches(box: Sandbox) -> None:
    for env in ({}, {"ZAI_API_KEY": KEY}, {"ZAI_API_KEY": REFUSED}):
        done = await box.codexglm("--glm-log-bodies", "exec", "say hi", FAKE_CODEX_SCRIPT="request,exit:0", **env)
        assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in (box.root / "codex.jsonl").read_text().splitlines()]
    statuses = [event["status"] for event in answers if event["event"] == "request"]
    assert statuses == [200, 200, 200]
    bodies = [event["body"] for event in answers if event["event"] == "request"]
    assert "response.output_text.delta" in bodies[0] and "response.failed" in bodies[2]  # GLM refused the key


@asynccontextmanager
async def _serving(box: Sandbox) -> AsyncIterator[str]:
    env = {**box.env, "ZAI_API_KEY": KEY, "CODEXGLM_TOKEN": SERVE_TOKEN}
    async with trio.open_nursery() as nursery:
        command = [sys.executable, "-m", "codexglm", "serve", "--port", "0"]
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                command,
                env=env,
                cwd=box.root / "work",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
            )
        )
        assert process.stdout is not None and process.stderr is not None
        printed = b""
        with trio.fail_after(30):
            while b"/v1\n" not in printed:
                chunk = await process.stdout.receive_some()
                assert chunk, printed
                printed += chunk
        url = printed.decode().split("proxy at ", 1)[1].split("/v1", 1)[0]
        try:
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                rest = [printed]
                while chunk := await process.stdout.receive_some():
                    rest.append(chunk)
                errors = []
                while chunk := await process.stderr.receive_some():
                    errors.append(chunk)
                await process.wait()
            box.keep("stdout of codexglm serve", b"".join(rest))
            box.keep("stderr of codexglm serve", b"".join(errors))


async def _serve(box: Sandbox) -> None:
    async with _serving(box) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        good = {"Authorization": f"Bearer {SERVE_TOKEN}"}
        tries = [
            ("/v1/responses", good, codex_body(f"the key is {KEY}")),
            ("/v1/responses", good, codex_body(f"the key is {KEY}", stream=False)),
            ("/v1/chat/completions", good, {"model": "glm-5.1", "messages": [{"role": "user", "content": KEY}]}),
            ("/v1/responses", {"Authorization": f"Bearer {KEY}"}, codex_body()),  # the Z.ai key as the proxy token
            ("/v1/responses", {"Authorization": KEY}, codex_body()),
            ("/v1/responses", {}, codex_body()),
        ]
        statuses = []
        for path, headers, body in tries:
            response = await client.post(path, json=body, headers=headers)
            statuses.append(response.status_code)
            box.keep(f"answer to POST {path}", response.content + json.dumps(dict(response.headers)).encode())
        for path in ("/healthz", "/v1/models"):
            response = await client.get(path, headers=good)
            box.keep(f"answer to GET {path}", response.content)
    assert statuses == [200, 200, 200, 401, 401, 401]


_ECHOES = (
    lambda: glm_error(401, "1002", f"Authorization Token {KEY} is invalid"),
    lambda: glm_error(400, "1214", f"messages illegal near {KEY}"),
    lambda: sse_response(glm_frames([{"error": {"code": "1002", "message": f"bad key {KEY}"}}], done=False)),
)


def _chat_body(stream: bool) -> dict:
    return {"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def _echoed_by_glm(box: Sandbox, requests: list[tuple[str, dict]]) -> None:
    """Send REQUESTS to a proxy whose upstream echoes the key back in each kind of error."""
    settings = make_settings(box.root / "state" / "echo", api_keys=(KEY,), log_bodies=True)
    for echo in _ECHOES:
        for path, body in requests:
            app = create_app(settings, TOKEN, transport=Script(echo()).transport)
            transport = httpx.ASGITransport(app)
            async with app.test_app(), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:1") as client:
                response = await client.post(path, json=body, headers=AUTH)
            box.keep(f"answer to {path} (stream={body.get('stream')}) when GLM echoes the key", response.content)


async def _run_session(box: Sandbox) -> None:
    await _configure(box)
    await _doctor(box)
    await _launches(box)
    await _serve(box)
    await _echoed_by_glm(
        box,
        [
            ("/v1/responses", codex_body(stream=True)),
            ("/v1/responses", codex_body(stream=False)),
            ("/v1/chat/completions", _chat_body(stream=False)),
        ],
    )


def _everything(box: Sandbox) -> list[tuple[str, bytes]]:
    files = [
        (str(path), path.read_bytes()) for path in sorted(box.root.rglob("*")) if path.is_file() and not path.is_symlink()
    ]
    return files + box.captured


# --------------------------------------------------------------------------- the tests


@pytest.fixture
async def mock() -> AsyncIterator[MockGLM]:
    async with open_mock_glm(keys={KEY: {"coding", "general"}}) as glm:
        yield glm


async def test_the_key_appears_in_no_file_output_or_answer_of_a_session(tmp_path: Path, mock: MockGLM) -> None:
    box = _sandbox(tmp_path, mock)
    await _run_session(box)
    artifacts = _everything(box)
    names = {Path(name).name for name, _ in artifacts}
    assert {"requests.jsonl", "codex.jsonl", "config.toml"} <= names  # the session did log what it should
    assert KEY in {request.key for request in mock.chat_requests}  # and used the key upstream
    # Bodies were logged, with the key in them masked rather than left out.
    assert mask_secret(KEY).encode() in (box.root / "state" / "requests.jsonl").read_bytes()
    # Found where it belongs (so the search works), and nowhere else.
    assert [name for name, data in artifacts if _leaks(data)] == [str(box.key_file)]


async def test_the_doctor_does_not_hand_the_key_to_codex(tmp_path: Path, mock: MockGLM) -> None:
    box = _sandbox(tmp_path, mock)
    await box.codexglm("doctor", "--json", ZAI_API_KEY=KEY, FAKE_CODEX_LOG=str(tmp_path / DOCTOR_CODEX_LOG))
    given = (tmp_path / DOCTOR_CODEX_LOG).read_bytes()
    assert b'"event": "start"' in given and not _leaks(given)


async def test_streamed_pass_through_errors_that_echo_the_key_reach_no_client(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, {})
    (tmp_path / "state").mkdir()
    await _echoed_by_glm(box, [("/v1/chat/completions", _chat_body(stream=True))])
    assert [what for what, data in box.captured if _leaks(data)] == []
    assert all(not _leaks(path.read_bytes()) for path in tmp_path.rglob("*") if path.is_file())
