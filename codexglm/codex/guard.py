"""The guard against a silent fallback: never let Codex send a prompt to another provider.

Some Codex versions ignore `-c` options in some positions (up to 0.163, a subcommand's
own `-c` drops all the root ones) and then quietly use OpenAI's built-in provider.  Before
such a command line is launched, the same shape is run once without the prompt and with
a provider that does not exist: a Codex that reads codexglm's overrides stops at once on
it, one that ignores them stops on the missing prompt.  That costs about 0.15 s
(bench/bench_probe.py), so a shape that passed is remembered per Codex version (which
options are dropped depends on where they stand, never on their values).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import write_atomic
from .argv import probe_arguments
from .capabilities import Capabilities
from .version import INSTALL_COMMAND, CodexError, CodexInfo, format_version

PROBE_PROVIDER = "__codexglm_probe__"
_PROBE = ("-c", f'model_provider="{PROBE_PROVIDER}"')
_HONOURED = f"Model provider `{PROBE_PROVIDER}` not found"
_PROBE_TIMEOUT = 20.0
# What a Codex that skipped the unknown provider says next: it went on to read a prompt.
_WENT_ON = ("No prompt provided", "Reading prompt from stdin", "stdin is not a terminal")


def codex_error(stderr: str, returncode: int) -> str:
    """Codex's own one-line reason from its stderr (`Error: ...`), without backtraces."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING:")]
    for line in lines:
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return lines[0] if lines else f"exit status {returncode}"


def _shape(argv: Sequence[str]) -> str:
    """ARGV with each `-c` value cut to its key: what decides whether Codex drops it."""
    return " ".join(word.split("=", 1)[0] for word in argv)


def ensure_provider_used(codex: CodexInfo, args: Sequence[str], overrides: Sequence[str],
                         capabilities: Capabilities, env: Mapping[str, str], cache: Path | None = None) -> None:
    """Raise CodexError unless this Codex reads OVERRIDES on the command line ARGS.

    CACHE (a directory) remembers the shapes that passed, for this Codex version."""
    argv = probe_arguments(args, overrides, capabilities, _PROBE)
    passed = cache / f"codex-{format_version(codex.version)}-probed.json" if cache is not None else None
    known = _read_shapes(passed)
    if _shape(argv) in known:
        return
    try:
        done = subprocess.run([codex.path, *argv], env=dict(env), capture_output=True, text=True,
                              timeout=_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexError(f"cannot check that Codex uses codexglm's provider: {exc}") from None
    if _HONOURED in done.stderr or _HONOURED in done.stdout:
        if passed is not None:
            try:
                write_atomic(passed, json.dumps(sorted({*known, _shape(argv)})))
            except OSError:
                pass  # an unwritable cache only means probing again next time
        return
    said = codex_error(done.stderr, done.returncode)
    version = format_version(codex.version)
    if any(sign in done.stderr for sign in _WENT_ON):
        raise CodexError(
            f"Codex {version} would ignore codexglm's provider on this command line and send the prompt elsewhere "
            f"(it said: {said}), so nothing was started; move your -c options before the subcommand, or update "
            f"Codex: {INSTALL_COMMAND}"
        )
    raise CodexError(f"cannot confirm that Codex {version} uses codexglm's provider on this command line, so nothing "
                     f"was started; Codex said: {said}")


def _read_shapes(path: Path | None) -> set[str]:
    if path is None:
        return set()
    try:
        shapes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {shape for shape in shapes if isinstance(shape, str)} if isinstance(shapes, list) else set()
