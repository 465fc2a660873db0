"""The pinned Codex CLI the end-to-end tests drive, installed from npm on first use.

`python -m tests.codex_cli --install` installs it ahead of time (CI does this); the e2e
fixtures call `codex_binary()` and skip with a clear reason when npm is unavailable.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import platformdirs

from codexglm.codex.version import VERIFIED_CODEX, format_version

CODEX_VERSION = format_version(VERIFIED_CODEX)
_PACKAGE = f"@openai/codex@{CODEX_VERSION}"


def _install_dir() -> pathlib.Path:
    override = os.environ.get("CODEXGLM_TEST_CODEX_DIR")
    base = pathlib.Path(override) if override else pathlib.Path(platformdirs.user_cache_dir("codexglm")) / "test-codex"
    return base / CODEX_VERSION


def _installed(directory: pathlib.Path) -> str | None:
    binary = directory / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        return None
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return str(binary) if CODEX_VERSION in out else None


def codex_binary(*, install: bool = True) -> str | None:
    """Path of the pinned codex, installing it when missing; None if that is impossible."""
    directory = _install_dir()
    found = _installed(directory)
    if found or not install:
        return found
    npm = shutil.which("npm")
    if npm is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(directory), _PACKAGE],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-2000:])
        return None
    return _installed(directory)


if __name__ == "__main__":
    path = codex_binary(install="--install" in sys.argv)
    if path is None:
        sys.exit(f"could not install {_PACKAGE} (is npm available?)")
    print(path)
