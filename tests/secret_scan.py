"""After the whole session: no file any test left behind contains an API key the suite used.

Every test writes under pytest's base temp dir (sandboxes, request logs, Codex homes and
session rollouts, doctor output, catalogs), so searching it once the session has finished
checks the artifacts of all of them at once, whatever order the tests ran in.  The only
file allowed to hold a key is a stored key file (`api_key`, or `api_key.PROVIDER` for other
providers), and that one must be private (0600).
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests import (
    launcher_support,
    mockglm,
    mockproviders,
    server_support,
    test_cli,
    test_providers,
    test_reliability_secrets,
    test_routing,
)

KEYS = {
    mockglm.DEFAULT_KEY,
    mockproviders.PROVIDER_KEY,
    server_support.KEY,
    server_support.KEY2,
    launcher_support.API_KEY,
    test_cli.KEY,
    test_reliability_secrets.KEY,
    test_providers.KEY,
    test_routing.GLM_KEY,
}
KEY_FILE_NAME = "api_key"


def leaks(root: Path) -> list[str]:
    """Files under ROOT that hold a test key (a key file only when it is not 0600)."""
    found_leaks = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found = [key for key in KEYS if key.encode() in data]
        if not found:
            continue
        if _is_key_file(path.name) and stat.S_IMODE(path.stat().st_mode) == 0o600:
            continue
        found_leaks.append(f"{path.relative_to(root)}: {[key[-4:] for key in found]}")
    return found_leaks


def _is_key_file(name: str) -> bool:
    return name == KEY_FILE_NAME or name.startswith(KEY_FILE_NAME + ".")
