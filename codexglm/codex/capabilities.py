"""What the installed Codex can do, read from its own `--help` once per version.

Codex's flags and subcommands come and go between releases (`--no-daemon` arrived in
0.156, `exec --remote` in 0.171), so the launcher asks the installed binary instead of
keeping a list of versions.  The one fact help cannot show is how a subcommand's `-c`
options combine with the root's; that is decided by the version (see
`ROOT_OVERRIDES_MERGE_FROM`).  The answer is cached per version in the cache dir, so a
normal launch reads one small file.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import write_atomic
from .version import CodexInfo, format_version

# Up to 0.163, any `-c` after a subcommand makes Codex drop every root-level `-c` (and
# with them codexglm's provider); from 0.164 both lists are merged.
ROOT_OVERRIDES_MERGE_FROM = (0, 164, 0)
# Bumped whenever the cached record's fields change.
_FORMAT = 1
_HELP_TIMEOUT = 30.0
_COMMAND_LINE = re.compile(r"^  ([a-z][a-z0-9-]*)\s+(.*)$")
_ALIASES = re.compile(r"\[aliases?: ([^\]]+)\]")


@dataclass(frozen=True)
class Capabilities:
    """What one Codex version accepts on its command line."""

    commands: frozenset[str]  # root subcommands and their aliases
    exec_commands: frozenset[str]  # subcommands of `exec` (resume, review)
    no_daemon: bool  # the root `--no-daemon` flag
    exec_remote: bool  # `exec --remote <ADDR>`, which refuses every `-c`
    root_overrides_merge: bool  # root `-c` survive a subcommand's own `-c`


def help_commands(text: str) -> frozenset[str]:
    """The subcommand names (and aliases) listed under `Commands:` in a clap help text."""
    names: set[str] = set()
    listing = False
    for line in text.splitlines():
        if line.rstrip().endswith(":") and not line.startswith(" "):
            listing = line.strip() == "Commands:"
            continue
        if not listing:
            continue
        match = _COMMAND_LINE.match(line)
        if match:
            names.add(match.group(1))
        # Aliases close a command's description, which may wrap onto the next lines.
        aliases = _ALIASES.search(line)
        if aliases:
            names.update(alias.strip() for alias in aliases.group(1).split(","))
    names.discard("help")
    return frozenset(names)


def help_has_option(text: str, option: str) -> bool:
    """Whether a clap help text lists OPTION (e.g. `--no-daemon`) as one of its flags."""
    return re.search(rf"^\s+(?:-\w, )?{re.escape(option)}(?=[\s=]|$)", text, re.MULTILINE) is not None


def read_capabilities(codex: CodexInfo, root_help: str, exec_help: str) -> Capabilities:
    return Capabilities(
        commands=help_commands(root_help),
        exec_commands=help_commands(exec_help),
        no_daemon=help_has_option(root_help, "--no-daemon"),
        exec_remote=help_has_option(exec_help, "--remote"),
        root_overrides_merge=codex.version >= ROOT_OVERRIDES_MERGE_FROM,
    )


def _help(codex: CodexInfo, *words: str) -> str:
    try:
        done = subprocess.run([codex.path, *words, "--help"], capture_output=True, text=True,
                              timeout=_HELP_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def capabilities(codex: CodexInfo, cache: Path) -> Capabilities:
    """CODEX's capabilities, from the cache or (once per version) from its help."""
    path = cache / f"codex-{format_version(codex.version)}-capabilities.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["format"] == _FORMAT:
            return Capabilities(
                commands=frozenset(record["commands"]),
                exec_commands=frozenset(record["exec_commands"]),
                no_daemon=bool(record["no_daemon"]),
                exec_remote=bool(record["exec_remote"]),
                root_overrides_merge=bool(record["root_overrides_merge"]),
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    root_help = _help(codex)
    found = read_capabilities(codex, root_help, _help(codex, "exec"))
    if root_help:  # a Codex that printed no help is asked again next time
        record = {key: sorted(value) if isinstance(value, frozenset) else value for key, value in asdict(found).items()}
        try:
            write_atomic(path, json.dumps({"format": _FORMAT, **record}))
        except OSError:
            pass  # an unwritable cache costs two `--help` runs per launch, nothing more
    return found
