"""Run Codex with GLM behind it: find codex, point it at an in-process proxy, clean up.

Order matters for speed and safety.  The launcher binds the loopback socket, starts codex
at once (inheriting the terminal), and only then imports trio and the proxy and serves on
the socket it already holds: codex's first request waits in the kernel's listen backlog
instead of failing.  The proxy lives in this process, so it can never outlive it; codex
gets PR_SET_PDEATHSIG on Linux, so it cannot outlive a SIGKILLed launcher either.
Codex is configured purely with `-c` overrides: nothing in the user's files changes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import KEY_ENV
from .settings import Settings

if TYPE_CHECKING:
    import trio

    from .config import LoadedConfig

SUPPORTED_CODEX = ">=0.169.0,<0.170"
MIN_CODEX = (0, 169, 0)
FIRST_UNTESTED_CODEX = (0, 170, 0)
INSTALL_COMMAND = "npm install -g @openai/codex"

# Not a reserved id (openai, ollama, lmstudio), and a display name other than "OpenAI",
# which would switch Codex to remote compaction (protocol.md §5.2).
PROVIDER_ID = "codexglm"
PROVIDER_NAME = "codexglm (GLM)"
TOKEN_ENV = "CODEXGLM_PROXY_TOKEN"
NO_KEY = "no Z.ai API key: set ZAI_API_KEY or store one with `codexglm config set api_key -`"
# The proxy already retries upstream failures with backoff and key rotation; Codex adds
# one transport retry for a lost connection and two stream retries for a stream that
# broke after its first byte (the proxy cannot replay those).
REQUEST_MAX_RETRIES = 1
STREAM_MAX_RETRIES = 2
# Signals that, sent to codexglm, are meant for the session: codex gets them, and is
# killed if it has not exited after KILL_GRACE seconds.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
KILL_GRACE = 3.0
# Once codex has exited, the proxy gets this long to stop before the process just exits.
TEARDOWN_BOUND = 1.5


class LaunchError(Exception):
    """Codex cannot be started (missing, too old, no key, port in use, proxy failure)."""


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

    Raises LaunchError with the install command when codex is missing or too old.
    """
    environ = os.environ if env is None else env
    wanted = environ.get("CODEXGLM_CODEX", "").strip()
    if wanted:
        path = shutil.which(wanted, path=environ.get("PATH")) if os.sep not in wanted else wanted
        if not path or not os.access(path, os.X_OK) or os.path.isdir(path):
            raise LaunchError(f"CODEXGLM_CODEX={wanted} is not an executable")
    else:
        path = shutil.which("codex", path=environ.get("PATH"))
        if not path:
            raise LaunchError(f"Codex CLI not found on PATH; install it with: {INSTALL_COMMAND}")
    version = _package_version(path) or _reported_version(path)
    if version < MIN_CODEX:
        raise LaunchError(
            f"Codex {format_version(version)} at {path} is too old (supported: {SUPPORTED_CODEX}); "
            f"update it with: {INSTALL_COMMAND}"
        )
    return CodexInfo(path, version)


def untested_warning(codex: CodexInfo) -> str | None:
    """A one-line note when codex is newer than the versions codexglm was tested with."""
    if codex.version < FIRST_UNTESTED_CODEX:
        return None
    return f"Codex {format_version(codex.version)} is newer than the tested versions ({SUPPORTED_CODEX}); carrying on"


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
        raise LaunchError(f"cannot run {path} --version: {exc}") from None
    version = parse_version(done.stdout) if done.returncode == 0 else None
    if version is None:
        raise LaunchError(f"cannot tell the Codex version of {path}; reinstall it with: {INSTALL_COMMAND}")
    return version


# --- the codex command line ----------------------------------------------------------------


def chosen_model(args: Sequence[str]) -> str | None:
    """The model the user picked on codex's command line (-m, --model, -c model=...)."""
    model = None
    items = iter(args)
    for arg in items:
        if arg == "--":
            break
        if arg in ("-m", "--model"):
            model = next(items, None) or model
        elif arg.startswith("--model="):
            model = arg.split("=", 1)[1]
        elif arg.startswith("-m") and not arg.startswith("--"):
            model = arg[2:]
        elif arg in ("-c", "--config"):
            model = _config_model(next(items, "")) or model
        elif arg.startswith("--config="):
            model = _config_model(arg.split("=", 1)[1]) or model
        elif arg.startswith("-c") and not arg.startswith("--"):
            model = _config_model(arg[2:]) or model
    return model


def _config_model(override: str) -> str | None:
    key, sep, value = override.partition("=")
    if not sep or key.strip() != "model":
        return None
    return value.strip().strip("\"'") or None


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX for the rest).
    return json.dumps(text)


def stream_idle_timeout_ms(settings: Settings) -> int:
    """How long Codex waits between events: the proxy sends a keep-alive event every
    keepalive_interval seconds, so several missed ones mean it is wedged."""
    return int(max(60.0, settings.keepalive_interval * 6) * 1000)


def codex_overrides(port: int, settings: Settings, *, catalog: Path | None, model: str | None) -> list[str]:
    """Root-level `-c` options that point codex at the proxy; they go before the user's
    subcommand (Codex 0.169 merges them with a subcommand's own `-c`)."""
    provider = ", ".join(
        (
            f"name={_toml_string(PROVIDER_NAME)}",
            f"base_url={_toml_string(f'http://127.0.0.1:{port}/v1')}",
            f"env_key={_toml_string(TOKEN_ENV)}",
            'wire_api="responses"',
            f"request_max_retries={REQUEST_MAX_RETRIES}",
            f"stream_max_retries={STREAM_MAX_RETRIES}",
            f"stream_idle_timeout_ms={stream_idle_timeout_ms(settings)}",
            "supports_websockets=false",
        )
    )
    # --no-daemon: the TUI's shared background server would outlive this launch (and the
    # proxy it points at); -c overrides already rule it out, this also silences the warning.
    args = ["--no-daemon", "-c", f"model_provider={_toml_string(PROVIDER_ID)}",
            "-c", f"model_providers.{PROVIDER_ID}={{{provider}}}"]
    if catalog is not None:
        args += ["-c", f"model_catalog_json={_toml_string(str(catalog))}"]
    if model is not None:
        args += ["-c", f"model={_toml_string(model)}"]
    return args


# --- process lifecycle ----------------------------------------------------------------------


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0 = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise LaunchError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    return sock


class ScratchDir:
    """A private (0700) temporary directory, created only when first needed."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def __call__(self) -> Path:
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix="codexglm-"))
        return self._path

    def remove(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


def _child_setup() -> Callable[[], None]:
    """What runs in the child between fork and exec: default SIGINT (the launcher
    ignores it, and ignored signals survive exec) and, on Linux, death with the parent."""
    parent = os.getpid()
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if prctl is not None:
            prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(128 + signal.SIGTERM)

    return setup


# Codex commands and flags that never ask the model anything: they run without a key.
_OFFLINE_COMMANDS = frozenset({"help", "login", "logout", "completion", "features", "debug", "apply", "sandbox", "mcp"})
_OFFLINE_FLAGS = frozenset({"-h", "--help", "-V", "--version"})
# Root options of codex that take a separate value (the value is not a subcommand).
_VALUE_OPTIONS = frozenset({"-c", "--config", "-m", "--model", "-p", "--profile", "-C", "--cd", "-s", "--sandbox",
                            "-a", "--ask-for-approval", "-i", "--image", "--enable", "--disable", "--local-provider",
                            "--add-dir"})


def talks_to_model(args: Sequence[str]) -> bool:
    """Whether this codex invocation may send requests to the model (and so needs a key)."""
    if any(arg in _OFFLINE_FLAGS for arg in args):
        return False
    words = iter(args)
    for arg in words:
        if arg in _VALUE_OPTIONS:
            next(words, None)
        elif not arg.startswith("-"):
            return arg not in _OFFLINE_COMMANDS
    return True


def codex_environment(env: Mapping[str, str]) -> dict[str, str]:
    """ENV without the Z.ai key: codex never needs it, and it would leak into every shell
    command the agent runs (and Codex's session logs)."""
    return {name: value for name, value in env.items() if name != KEY_ENV}


def exit_status(returncode: int) -> int:
    """Codex's exit status as a shell reports it: a signal N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _send(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.returncode is None:
        try:
            os.kill(proc.pid, signum)
        except ProcessLookupError:
            pass


def run(args: Sequence[str], loaded: LoadedConfig, *, port: int = 0, warn: Callable[[str], None]) -> int:
    """`codexglm [codex args]`: check the setup, build the catalog, run codex."""
    from .catalog import CatalogError, build_catalog

    settings = loaded.settings
    for line in loaded.warnings:
        warn(line)
    if not settings.api_keys and talks_to_model(args):
        raise LaunchError(NO_KEY)
    codex = find_codex()
    note = untested_warning(codex)
    if note:
        warn(note)
    scratch = ScratchDir()
    try:
        model = chosen_model(args)
        try:
            catalog: Path | None = build_catalog(codex, settings, extra_models=[model] if model else [], scratch=scratch)
        except CatalogError as exc:
            warn(f"{exc}; Codex will use generic model metadata")
            catalog = None
        return launch(codex, args, settings, catalog=catalog, port=port, cleanup=scratch.remove)
    finally:
        scratch.remove()


def launch(
    codex: CodexInfo,
    args: Sequence[str],
    settings: Settings,
    *,
    catalog: Path | None,
    port: int = 0,
    cleanup: Callable[[], None] = lambda: None,
) -> int:
    """Run codex with ARGS against a fresh proxy; return codex's exit status.

    CLEANUP removes temporary files; it also runs if the proxy has to be abandoned."""
    sock = bind_loopback(port)
    token = new_token()
    bound_port = sock.getsockname()[1]
    model = None if chosen_model(args) else settings.default_model
    argv = [codex.path, *codex_overrides(bound_port, settings, catalog=catalog, model=model), *args]
    env = {**codex_environment(os.environ), TOKEN_ENV: token}
    previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the TUI owns Ctrl-C
    try:
        try:
            proc = subprocess.Popen(argv, env=env, preexec_fn=_child_setup())
        except OSError as exc:
            raise LaunchError(f"cannot start {codex.path}: {exc.strerror or exc}") from None
        session = _Session(proc, sock, settings, token, cleanup)
        previous = {signum: signal.signal(signum, session.early_signal) for signum in FORWARDED_SIGNALS}
        try:
            return session.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        sock.close()
        signal.signal(signal.SIGINT, previous_sigint)


def new_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class _Session:
    """One codex process and the proxy serving it."""

    def __init__(
        self, proc: subprocess.Popen[bytes], sock: socket.socket, settings: Settings, token: str, cleanup: Callable[[], None]
    ) -> None:
        self.proc = proc
        self.sock = sock
        self.settings = settings
        self.token = token
        self.cleanup = cleanup
        self.signalled = False  # a forwarded signal arrived before trio was running
        self.failure: str | None = None

    def early_signal(self, signum: int, frame: object) -> None:
        self.signalled = True
        _send(self.proc, signum)

    def run(self) -> int:
        """Serve until codex exits; a proxy that cannot start or dies takes codex down."""
        try:
            import logging

            import trio

            from .server import serve
        except Exception as exc:  # a broken install must not leave codex waiting for a proxy
            _stop_now(self.proc)
            raise LaunchError(f"the proxy cannot start: {_one_line(exc)}") from None
        if self.proc.poll() is None:  # e.g. `--version` is over before the proxy is ready
            # Nothing may write to the terminal the TUI draws on; the proxy logs to files.
            logging.getLogger().addHandler(logging.NullHandler())
            try:
                trio.run(self._main, serve)
            finally:
                if self.proc.poll() is None:  # only after a bug of ours: never leave codex behind
                    _stop_now(self.proc)
        if self.failure:
            raise LaunchError(self.failure)
        return exit_status(self.proc.wait())

    async def _main(self, serve: Callable[..., Any]) -> None:
        import trio

        async with trio.open_nursery() as guard:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._relay_signals, nursery)
                nursery.start_soon(self._run_proxy, serve, nursery)
                returncode = await trio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)
                guard.start_soon(self._abandon_after, TEARDOWN_BOUND, exit_status(returncode))
                nursery.cancel_scope.cancel()
            guard.cancel_scope.cancel()

    async def _run_proxy(self, serve: Callable[..., Any], nursery: trio.Nursery) -> None:
        try:
            await serve(self.settings, self.token, sock=self.sock)
            self.failure = "the proxy stopped unexpectedly"
        except Exception as exc:
            self.failure = f"the proxy failed: {_one_line(exc)}"
        _send(self.proc, signal.SIGTERM)
        nursery.start_soon(self._kill_after_grace)

    async def _relay_signals(self, nursery: trio.Nursery) -> None:
        import trio

        with trio.open_signal_receiver(*FORWARDED_SIGNALS) as signals:
            escalating = self.signalled
            if escalating:
                nursery.start_soon(self._kill_after_grace)
            async for signum in signals:
                _send(self.proc, signum)
                if not escalating:
                    escalating = True
                    nursery.start_soon(self._kill_after_grace)

    async def _kill_after_grace(self) -> None:
        import trio

        await trio.sleep(KILL_GRACE)
        _send(self.proc, signal.SIGKILL)

    async def _abandon_after(self, seconds: float, status: int) -> None:
        """Codex is gone; if the proxy is still shutting down after SECONDS, leave anyway
        (it lives in this process, so exiting stops it)."""
        import trio

        await trio.sleep(seconds)
        self.cleanup()
        if self.failure:
            os.write(2, f"codexglm: {self.failure}\n".encode())
            status = 1
        os._exit(status)


def _stop_now(proc: subprocess.Popen[bytes]) -> None:
    _send(proc, signal.SIGTERM)
    try:
        proc.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
