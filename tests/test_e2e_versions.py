"""Both ends of the supported range with the real Codex: the silent provider fallback of
Codex up to 0.163 (any `-c` after `exec` drops the root ones) is caught by the probe, and
codexglm's own placement avoids it; `exec --remote` (0.171+) is refused before launch."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from codexglm.codex.argv import codex_arguments
from codexglm.codex.capabilities import Capabilities, capabilities
from codexglm.codex.guard import ensure_provider_used
from codexglm.codex.overrides import codex_overrides
from codexglm.codex.version import MIN_CODEX, CodexError, CodexInfo, find_codex, format_version
from codexglm.settings import Settings
from tests.codex_cli import install
from tests.e2e_harness import make_sandbox

pytestmark = pytest.mark.e2e

USER_ARGS = ["exec", "--skip-git-repo-check", "-c", 'mcp_servers.x.command="true"', "a prompt that must go nowhere"]


@pytest.fixture
def oldest(tmp_path: Path) -> tuple[CodexInfo, Capabilities]:
    path = install(format_version(MIN_CODEX))
    if path is None:
        pytest.skip(f"@openai/codex@{format_version(MIN_CODEX)} could not be installed (npm unavailable)")
    codex = find_codex({"CODEXGLM_CODEX": path})
    return codex, capabilities(codex, tmp_path)


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    # A dead loopback address for OpenAI: even a probe gone wrong could send nothing anywhere.
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home),
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


@pytest.mark.smoke
def test_oldest_codex_drops_root_overrides_and_the_probe_sees_it(oldest: tuple[CodexInfo, Capabilities],
                                                                 tmp_path: Path) -> None:
    codex, able = oldest
    assert not able.root_overrides_merge and not able.no_daemon
    overrides = codex_overrides(1, Settings(), catalog=None, model=None)
    # The placement 0.164+ honours: this Codex would use OpenAI's built-in provider.
    as_if_newer = dataclasses.replace(able, root_overrides_merge=True)
    assert codex_arguments(USER_ARGS, overrides, as_if_newer)[:2] == overrides[:2]
    with pytest.raises(CodexError, match="would ignore codexglm's provider"):
        ensure_provider_used(codex, USER_ARGS, overrides, as_if_newer, _env(tmp_path))
    # codexglm's placement for this Codex: the overrides are read.
    ensure_provider_used(codex, USER_ARGS, overrides, able, _env(tmp_path))


@pytest.mark.parametrize("remote", [["--remote", "ws://127.0.0.1:9"], ["--remote=ws://127.0.0.1:9"]])
async def test_exec_remote_is_refused_in_one_line_before_codex_runs(tmp_path: Path, remote: list[str]) -> None:
    sandbox = make_sandbox(tmp_path)
    if not capabilities(find_codex({"CODEXGLM_CODEX": sandbox.codex}), tmp_path).exec_remote:
        pytest.skip("this Codex has no `exec --remote`")
    run = await sandbox.exec(None, *remote, "hello")
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0 and len(lines) == 1, run.describe()
    assert "--remote" in lines[0] and "configure the model provider on that server" in lines[0]
    assert not (sandbox.codex_home / "sessions").exists()
