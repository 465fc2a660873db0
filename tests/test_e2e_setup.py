"""`codexglm serve --print-codex-config`: the printed block alone is enough for a plain Codex."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
import tomlkit
import trio

from tests.e2e_harness import CODEX_FLAGS, Sandbox, make_sandbox
from tests.mockglm import open_mock_glm, text_reply

pytestmark = pytest.mark.e2e

_END = "# --- end of Codex setup"


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


async def _read_until(stream: trio.abc.ReceiveStream, marker: str, *, timeout: float) -> str:
    text = b""
    with trio.fail_after(timeout):
        while marker.encode() not in text:
            chunk = await stream.receive_some()
            if not chunk:
                break
            text += chunk
    return text.decode()


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_printed_config_points_a_plain_codex_at_the_proxy(sandbox: Sandbox, workers: str) -> None:
    # With --workers 2 the same block works: one port, one token, whichever worker answers.
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Set up by hand."))
        env = sandbox.env(mock)
        serve = await trio.lowlevel.open_process(
            [sys.executable, "-m", "codexglm", "serve", "--port", "0", "--print-codex-config", "--workers", workers],
            env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert serve.stdout is not None
            printed = await _read_until(serve.stdout, _END, timeout=60)
            assert _END in printed, printed
            token = re.search(r"export CODEXGLM_PROXY_TOKEN=(\S+)", printed)
            assert token is not None, printed
            block = printed[printed.index("# --- Codex setup"):printed.index(_END)]
            config = tomlkit.parse(block)
            assert config["model_provider"] == "codexglm"
            assert pathlib.Path(config["model_catalog_json"]).is_file()
            assert json.loads(pathlib.Path(config["model_catalog_json"]).read_text())["models"]
            (sandbox.codex_home / "config.toml").write_text(block)
            codex_env = {k: v for k, v in env.items() if not k.startswith(("ZAI_", "CODEXGLM_"))}
            codex_env["CODEXGLM_PROXY_TOKEN"] = token.group(1)
            with trio.fail_after(120):
                result = await trio.run_process(
                    [sandbox.codex, "exec", *CODEX_FLAGS, "-C", str(sandbox.workdir), "Say something"],
                    env=codex_env, capture_stdout=True, capture_stderr=True, check=False, stdin=subprocess.DEVNULL)
        finally:
            serve.terminate()
            with trio.move_on_after(15):
                await serve.wait()
            if serve.returncode is None:
                serve.kill()
    stdout = result.stdout.decode(errors="replace")
    assert result.returncode == 0, stdout + result.stderr.decode(errors="replace")
    messages = [json.loads(line)["item"]["text"] for line in stdout.splitlines()
                if '"agent_message"' in line and '"item.completed"' in line]
    assert messages == ["Set up by hand."]
    assert mock.chat_requests[0].json["model"] == "glm-5.3"  # the default: what the Coding Plan serves
    # The catalog knew the model: no generic-metadata warning.
    assert "metadata" not in stdout
