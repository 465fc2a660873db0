"""The Codex CLI the end-to-end tests drive: the pinned one, installed from npm on first use,
or any other one.

`python -m tests.codex_cli --install` installs the pin ahead of time (CI does this);
`python -m tests.codex_cli --install 0.150.0` installs another version and prints its path.
`CODEXGLM_TEST_CODEX=/path/to/codex python -m pytest -m e2e` runs the suite on that codex.
The e2e fixtures call `codex_binary()` and skip with a clear reason when npm is unavailable.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import platformdirs

from codexglm.codex.version import VERIFIED_CODEX, format_version, parse_version

CODEX_VERSION = format_version(VERIFIED_CODEX)
# A codex to test instead of the pin (any version codexglm supports).
OVERRIDE_ENV = "CODEXGLM_TEST_CODEX"


def _install_dir(version: str) -> pathlib.Path:
    override = os.environ.get("CODEXGLM_TEST_CODEX_DIR")
    base = pathlib.Path(override) if override else pathlib.Path(platformdirs.user_cache_dir("codexglm")) / "test-codex"
    return base / version


def reported_version(binary: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(out)


def _installed(directory: pathlib.Path, version: str) -> str | None:
    binary = directory / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        return None
    found = reported_version(str(binary))
    return str(binary) if found is not None and format_version(found) == version else None


def install(version: str) -> str | None:
    """Path of @openai/codex@VERSION in the test cache, installing it when missing."""
    directory = _install_dir(version)
    found = _installed(directory, version)
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(directory), f"@openai/codex@{version}"],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-2000:])
        return None
    return _installed(directory, version)


def codex_binary(*, install_missing: bool = True) -> str | None:
    """The codex under test: $CODEXGLM_TEST_CODEX if set, else the pin (installed when
    missing unless INSTALL_MISSING is false); None if that is impossible."""
    chosen = os.environ.get(OVERRIDE_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    if install_missing:
        return install(CODEX_VERSION)
    return _installed(_install_dir(CODEX_VERSION), CODEX_VERSION)


def version_under_test() -> tuple[int, int, int]:
    """The version of the codex under test (the pin unless $CODEXGLM_TEST_CODEX says otherwise)."""
    chosen = os.environ.get(OVERRIDE_ENV)
    return (reported_version(chosen) if chosen else None) or VERIFIED_CODEX


def main(argv: list[str]) -> int:
    if "--install" not in argv:
        path = codex_binary(install_missing=False)
        if path is None:
            sys.exit(f"@openai/codex@{CODEX_VERSION} is not installed; run: python -m tests.codex_cli --install")
        print(path)
        return 0
    rest = argv[argv.index("--install") + 1:]
    version = rest[0] if rest else CODEX_VERSION
    if parse_version(version) is None:
        sys.exit(f"not a Codex version: {version!r} (e.g. 0.150.0)")
    path = install(version)
    if path is None:
        sys.exit(f"could not install @openai/codex@{version} (is npm available?)")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
