"""Runs last (by name): no file any test left behind contains an API key the suite used.

Every test writes under pytest's base temp dir (sandboxes, request logs, Codex homes and
session rollouts, doctor output, catalogs), so searching it after the suite has run checks
the artifacts of all of them at once.  The only file allowed to hold a key is a stored key
file, and that one must be private (0600).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests import launcher_support, mockglm, server_support, test_cli, test_reliability_secrets

KEYS = {
    mockglm.DEFAULT_KEY,
    server_support.KEY,
    server_support.KEY2,
    launcher_support.API_KEY,
    test_cli.KEY,
    test_reliability_secrets.KEY,
}
KEY_FILE_NAME = "api_key"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_no_artifact_of_the_suite_contains_a_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.getbasetemp()
    leaks = []
    for path in _files(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found = [key for key in KEYS if key.encode() in data]
        if not found:
            continue
        if path.name == KEY_FILE_NAME:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        else:
            leaks.append(f"{path.relative_to(root)}: {[key[-4:] for key in found]}")
    assert leaks == []
