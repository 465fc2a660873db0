"""Which Codex is installed, and whether codexglm supports it.

Everything that changes when Codex releases a new version starts here: the supported
range, the install command every message gives, and how the version is read (from the
npm package's manifest, which is much faster than running node).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class CodexError(Exception):
    """The Codex CLI is missing, unusable or unsupported."""


# The one pin: the newest Codex the end-to-end suite is run against (tests read it too).
VERIFIED_CODEX = (0, 171, 0)
# The oldest Codex the end-to-end suite's smoke subset is run against (CI does).
MIN_CODEX = (0, 150, 0)
SUPPORTED_CODEX = f"{'.'.join(map(str, MIN_CODEX))} or newer (verified up to {'.'.join(map(str, VERIFIED_CODEX))})"
INSTALL_COMMAND = "npm install -g @openai/codex"
# Where the newer Codex versions already announced live (one per line), in the state dir.
SEEN_FILE = "codex-versions-seen"


@dataclass(frozen=True)
class CodexInfo:
    path: str
    version: tuple[int, int, int]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`codex-cli 0.169.0` (or `0.170.0-alpha.2`) -> (0, 169, 0)."""
    for word in text.split():
        parts = word.split("-", 1)[0].split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return int(parts[0]), int(parts[1]), int(parts[2])
    return None


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def find_codex(env: Mapping[str, str] | None = None) -> CodexInfo:
    """The codex executable (CODEXGLM_CODEX, else PATH) and its version.

    Raises CodexError with the install command when codex is missing or too old.
    """
    environ = os.environ if env is None else env
    wanted = environ.get("CODEXGLM_CODEX", "").strip()
    if wanted:
        path = shutil.which(wanted, path=environ.get("PATH")) if os.sep not in wanted else wanted
        if not path or not os.access(path, os.X_OK) or os.path.isdir(path):
            raise CodexError(f"CODEXGLM_CODEX={wanted} is not an executable")
    else:
        path = shutil.which("codex", path=environ.get("PATH"))
        if not path:
            raise CodexError(f"Codex CLI not found on PATH; install it with: {INSTALL_COMMAND}")
    version = _package_version(path) or _reported_version(path)
    if version < MIN_CODEX:
        raise CodexError(
            f"Codex {format_version(version)} at {path} is too old (supported: {SUPPORTED_CODEX}); "
            f"update it with: {INSTALL_COMMAND}"
        )
    return CodexInfo(path, version)


def verified(codex: CodexInfo) -> bool:
    """Whether the end-to-end suite has been run on this Codex (all up to the pin)."""
    return codex.version <= VERIFIED_CODEX


def newer_version_note(codex: CodexInfo, state: Path) -> str | None:
    """One quiet line the first time a Codex newer than the pin is seen; remembered in
    STATE so every later launch of that version stays silent."""
    if verified(codex):
        return None
    shown = format_version(codex.version)
    seen = state / SEEN_FILE
    try:
        if shown in seen.read_text(encoding="utf-8").split():
            return None
    except OSError:
        pass
    try:
        state.mkdir(parents=True, exist_ok=True)
        with seen.open("a", encoding="utf-8") as handle:
            handle.write(shown + "\n")
    except OSError:
        pass  # an unwritable state dir repeats the line; it never stops the launch
    return (f"Codex {shown} is newer than the newest verified ({format_version(VERIFIED_CODEX)}); "
            f"running it (`codexglm doctor` checks it)")


def _package_version(path: str) -> tuple[int, int, int] | None:
    """Read the npm package's version instead of running node (saves ~100 ms a launch)."""
    real = Path(os.path.realpath(path))
    if real.name != "codex.js" or real.parent.name != "bin":
        return None
    try:
        package = json.loads((real.parent.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(package, dict) or package.get("name") != "@openai/codex":
        return None
    return parse_version(str(package.get("version", "")))


def _reported_version(path: str) -> tuple[int, int, int]:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexError(f"cannot run {path} --version: {exc}") from None
    version = parse_version(done.stdout) if done.returncode == 0 else None
    if version is None:
        raise CodexError(f"cannot tell the Codex version of {path}; reinstall it with: {INSTALL_COMMAND}")
    return version
