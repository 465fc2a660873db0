"""`codexglm --help` and `--version` through the real Codex: codexglm says who it is, then
Codex's own text follows unchanged."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from codexglm import __version__
from tests.e2e_harness import Sandbox, make_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _run(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codexglm", *args], env=sandbox.env(None), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_codexglm_and_codex(sandbox: Sandbox, flag: str) -> None:
    done = _run(sandbox, flag)
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first.startswith(f"codexglm {__version__}") and "--glm-version" in first
    assert any(line.startswith("codex-cli ") for line in rest), done.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_points_at_glm_help_and_keeps_codex_help(sandbox: Sandbox, flag: str) -> None:
    done = _run(sandbox, flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"codexglm {__version__}") and "codexglm --glm-help" in done.stdout.splitlines()[0]
    assert "Usage: codex" in done.stdout


def test_subcommand_help_is_codexs_alone(sandbox: Sandbox) -> None:
    done = _run(sandbox, "exec", "--help")
    assert done.returncode == 0 and not done.stdout.startswith("codexglm")
