"""The guard against a silent fallback: never let Codex send a prompt to another provider.

Some Codex versions ignore `-c` options in some positions (up to 0.163, a subcommand's
own `-c` drops all the root ones) and then quietly use OpenAI's built-in provider.  Before
such a command line is launched, the same shape is run once without the prompt and with
a provider that does not exist: a Codex that reads codexglm's overrides stops at once on
it (about 0.1 s), one that ignores them stops on the missing prompt.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from .argv import probe_arguments
from .capabilities import Capabilities
from .version import INSTALL_COMMAND, CodexError, CodexInfo, format_version

PROBE_PROVIDER = "__codexglm_probe__"
_PROBE = ("-c", f'model_provider="{PROBE_PROVIDER}"')
_HONOURED = f"Model provider `{PROBE_PROVIDER}` not found"
_PROBE_TIMEOUT = 20.0


def codex_error(stderr: str, returncode: int) -> str:
    """Codex's own one-line reason from its stderr (`Error: ...`), without backtraces."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING:")]
    for line in lines:
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return lines[0] if lines else f"exit status {returncode}"


def ensure_provider_used(codex: CodexInfo, args: Sequence[str], overrides: Sequence[str],
                         capabilities: Capabilities, env: Mapping[str, str]) -> None:
    """Raise CodexError unless this Codex reads OVERRIDES on the command line ARGS."""
    argv = [codex.path, *probe_arguments(args, overrides, capabilities, _PROBE)]
    try:
        done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=_PROBE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexError(f"cannot check that Codex uses codexglm's provider: {exc}") from None
    if _HONOURED in done.stderr or _HONOURED in done.stdout:
        return
    raise CodexError(
        f"Codex {format_version(codex.version)} would ignore codexglm's provider on this command line and send the "
        f"prompt elsewhere (it said: {codex_error(done.stderr, done.returncode)}), so nothing was started; move your "
        f"-c options before the subcommand, or update Codex: {INSTALL_COMMAND}"
    )
