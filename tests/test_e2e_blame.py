"""A failure a setting caused names the setting and where it was set, as the user sees it:
the real `codex exec --json` (and the TUI in tmux) through codexglm, against the mock GLM."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest

from tests.e2e_harness import CodexRun, Sandbox, make_sandbox
from tests.mockglm import DEFAULT_KEY, open_mock_glm
from tests.tui_driver import open_terminal, tmux_available

pytestmark = pytest.mark.e2e

_TIMEOUT = 60
_DOCTOR = "check it with `codexglm doctor`)"


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _config(sandbox: Sandbox, text: str) -> pathlib.Path:
    path = sandbox.root / "config" / "config.toml"
    path.write_text(text)
    return path


def _fatal_message(run: CodexRun) -> str:
    assert run.returncode == 1, run.describe()
    [failed] = run.of_type("turn.failed")
    return str(failed["error"]["message"])


async def test_a_rejected_key_from_the_login_store_names_its_file(sandbox: Sandbox) -> None:
    key = "stored-but-revoked-key-0000-k9z7"
    stored = sandbox.root / "config" / "api_key"
    stored.write_text(key + "\n")
    stored.chmod(0o600)
    sandbox.extra_env["ZAI_API_KEY"] = ""  # the stored key is the one in use
    async with open_mock_glm() as mock:
        run = await sandbox.exec(mock, "Say hello", timeout=_TIMEOUT)
    message = _fatal_message(run)
    assert "rejected the API key" in message
    assert f"(API key ****k9z7 from {stored} (stored by `codexglm login`); {_DOCTOR}" in message
    assert key[:-4] not in run.stdout + run.stderr


async def test_a_config_file_base_url_that_answers_404_names_the_file_and_line(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        wrong = f"{mock.url}/api/codign/paas/v4"
        path = _config(sandbox, f'# my endpoint\ncoding_base_url = "{wrong}"\n')
        # No ZAI_CODING_BASE_URL from the harness: the file's value is the one in use.
        run = await sandbox.exec(None, "Say hello", timeout=_TIMEOUT)
    message = _fatal_message(run)
    assert "endpoint was not found" in message
    assert f"(`coding_base_url` = {wrong} in {path}:2; {_DOCTOR}" in message
    assert [r.path for r in mock.chat_requests] == []  # the mock saw only the wrong path
    assert any(r.path == "/api/codign/paas/v4/chat/completions" for r in mock.requests)


async def test_an_unknown_model_given_as_a_flag_names_the_flag(sandbox: Sandbox) -> None:
    async with open_mock_glm() as mock:
        run = await sandbox.exec(mock, "Say hello", glm_args=("--glm-model", "glm-9.9"), timeout=_TIMEOUT)
    message = _fatal_message(run)
    assert "does not know this model" in message
    assert f"(`default_model` = glm-9.9 from --glm-model; {_DOCTOR}" in message
    assert {r.json["model"] for r in mock.chat_requests} == {"glm-9.9"}


async def test_a_plan_mismatch_names_the_endpoint_mode_and_the_keys_variable(sandbox: Sandbox) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        run = await sandbox.exec(mock, "Say hello", timeout=_TIMEOUT)
    message = _fatal_message(run)
    assert "GLM 1113" in message
    assert (f"(`endpoint_mode` = coding-only, the default; `coding_base_url` = {mock.coding_url} from "
            f"$ZAI_CODING_BASE_URL; API key ****{DEFAULT_KEY[-4:]} from $ZAI_API_KEY; {_DOCTOR}") in message


@pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")
async def test_the_tui_shows_which_config_line_set_the_failing_url(sandbox: Sandbox) -> None:
    (sandbox.codex_home / "config.toml").write_text(f'[projects."{sandbox.workdir}"]\ntrust_level = "trusted"\n')
    async with open_mock_glm() as mock:
        wrong = f"{mock.url}/api/codign/paas/v4"
        path = _config(sandbox, f'coding_base_url = "{wrong}"\n')
        async with open_terminal([sys.executable, "-m", "codexglm"], env=sandbox.env(None), cwd=str(sandbox.workdir),
                                 width=220, height=50) as tui:
            await tui.wait_for("Ask Codex to do anything", timeout=60)
            await tui.type("Say hello", enter=True)
            # Codex wraps the message itself: compare without whitespace.
            expected = _squeezed(f"`coding_base_url` = {wrong} in {path}:1; {_DOCTOR}")
            await tui.wait_until(lambda screen: expected in _squeezed(screen), timeout=60,
                                 what="the clause naming the config file", scrollback=True)
            await tui.slash_command("/quit")
            await tui.wait_exit(timeout=30)
    assert mock.chat_requests == []


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)
