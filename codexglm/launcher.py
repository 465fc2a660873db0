"""Process supervision: run codex against an in-process proxy, relay signals, clean up.

Order matters for speed and safety.  The launcher binds the loopback socket, starts codex
at once (inheriting the terminal), and only then imports trio and the proxy and serves on
the socket it already holds: codex's first request waits in the kernel's listen backlog
instead of failing.  The proxy lives in this process, so it can never outlive it; codex
gets PR_SET_PDEATHSIG on Linux, so it cannot outlive a SIGKILLed launcher either.
What Codex is (its versions, its flags, its overrides, its catalog) lives in `codex/`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .codex.argv import (
    attached_images,
    chosen_model,
    codex_arguments,
    needs_provider_probe,
    notes_allowed,
    prints_json_events,
    remote_refusal,
    talks_to_model,
)
from .codex.capabilities import Capabilities, capabilities
from .codex.guard import ensure_provider_used
from .codex.home import CodexHomeOverlay, ModelChoice, pid_alive, user_codex_home
from .codex.overrides import TOKEN_ENV, codex_overrides
from .codex.version import CodexError, CodexInfo, find_codex, newer_version_note
from .config import cache_dir, no_key_message, state_dir
from .providers import key_variables
from .settings import Settings

if TYPE_CHECKING:
    import trio

    from .config import LoadedConfig
    from .ledger.writer import Ledger


# Signals that, sent to codexglm, are meant for the session: codex gets them, and is
# killed if it has not exited after KILL_GRACE seconds.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
KILL_GRACE = 3.0
# Once codex has exited, the proxy gets this long to stop before the process just exits.
TEARDOWN_BOUND = 1.5


class LaunchError(CodexError):
    """Codex cannot be started (missing, too old, no key, port in use, proxy failure)."""


# --- the codex command line ----------------------------------------------------------------


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


_SCRATCH_PREFIX = "codexglm-"


def sweep_scratch(root: Path | None = None) -> list[Path]:
    """Remove scratch dirs of launchers that are gone (ours only); returns what was removed."""
    removed = []
    base = root or Path(tempfile.gettempdir())
    for path in base.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid_text = path.name[len(_SCRATCH_PREFIX):].split("-", 1)[0]
        try:
            if not pid_text.isdigit() or path.stat().st_uid != os.getuid() or pid_alive(int(pid_text)):
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


class ScratchDir:
    """A private (0700) temporary directory, created only when first needed.

    Its name carries the launcher's pid, so a later launch can sweep what a SIGKILLed one
    left behind (`sweep_scratch`)."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def __call__(self) -> Path:
        if self._path is None:
            sweep_scratch()
            self._path = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-"))
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


def codex_environment(env: Mapping[str, str]) -> dict[str, str]:
    """ENV without any provider's API key: codex never needs one, and it would leak into
    every shell command the agent runs (and Codex's session logs)."""
    secret = key_variables()
    return {name: value for name, value in env.items() if name not in secret}


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
    from .codex.catalog import CatalogError, build_catalog
    from .discovery import with_discovered

    settings = with_discovered(loaded.settings)
    for line in loaded.warnings:
        warn(line)
    if not settings.api_keys and not settings.gateway_url and talks_to_model(args):
        raise LaunchError(no_key_message(settings.upstream))
    codex = find_codex()
    note = newer_version_note(codex, state_dir()) if notes_allowed(args) else None
    if note:
        warn(note)
    _warn_unseen_images(args, settings, warn)
    able = capabilities(codex, cache_dir())
    refusal = remote_refusal(args, able)
    if refusal:
        raise LaunchError(refusal)
    scratch = ScratchDir()
    home = _overlay_home(warn)

    def finish() -> None:
        """Once, before the scratch dir goes: the overlay's changes go where they belong."""
        nonlocal home
        if home is not None:
            overlay, home = home, None
            _keep_model_choice(overlay.carry_back(), loaded, warn)
        scratch.remove()

    try:
        model = chosen_model(args)
        try:
            catalog: Path | None = build_catalog(codex, settings, extra_models=[model] if model else [], scratch=scratch,
                                                 on_fallback=warn)
        except CatalogError as exc:
            warn(f"{exc}; Codex will use generic model metadata")
            catalog = None
        return launch(codex, args, settings, catalog=catalog, capabilities=able, port=port, cleanup=finish,
                      codex_home=home.path if home is not None else None)
    finally:
        finish()


def _warn_unseen_images(args: Sequence[str], settings: Settings, warn: Callable[[str], None]) -> None:
    """Codex replaces an image with a placeholder for a text-only model and says nothing: say it."""
    images = attached_images(args)
    if not images:
        return
    provider = settings.upstream
    model = provider.resolve_model(chosen_model(args) or settings.default_model, settings.default_model, settings.model_map)
    if provider.spec_for(model).vision:
        return
    seeing = [name for name, spec in provider.models.items() if spec.vision]
    hint = f"; a model that can: -m {seeing[0]}" if seeing else ""
    names = ", ".join(Path(image).name for image in images)
    warn(f"{model} cannot see images: Codex sends it {names} as a placeholder only{hint}")


def _overlay_home(warn: Callable[[str], None]) -> CodexHomeOverlay | None:
    """Codex's CODEX_HOME for this launch (see codex/home.py); None: the user's own, with a warning."""
    real = user_codex_home(os.environ)
    try:
        return CodexHomeOverlay.open(real, state_dir(os.environ) / "codex-home")
    except OSError as exc:
        warn(f"cannot prepare a private CODEX_HOME ({exc.strerror or exc}); /model will write to {real}/config.toml")
        return None


def _keep_model_choice(choice: ModelChoice | None, loaded: LoadedConfig, warn: Callable[[str], None]) -> None:
    """A `/model` choice becomes codexglm's default for the next launch."""
    if choice is None:
        return
    from .config import ConfigError, set_value, unset_value

    try:
        if choice.model is not None:
            set_value(loaded.path, "default_model", choice.model)
        if choice.effort is not None:
            set_value(loaded.path, "reasoning_effort", choice.effort)
        elif choice.model is not None:
            unset_value(loaded.path, "reasoning_effort")
    except (ConfigError, OSError) as exc:
        warn(f"the /model choice was not saved: {exc}")
        return
    values = {"default_model": choice.model, "reasoning_effort": choice.effort}
    saved = ", ".join(f"{key} = {value}" for key, value in values.items() if value)
    warn(f"saved your /model choice for the next launch ({saved} in {loaded.path})")


def launch(
    codex: CodexInfo,
    args: Sequence[str],
    settings: Settings,
    *,
    catalog: Path | None,
    capabilities: Capabilities,
    port: int = 0,
    cleanup: Callable[[], None] = lambda: None,
    codex_home: Path | None = None,
) -> int:
    """Run codex with ARGS against a fresh proxy; return codex's exit status.

    CLEANUP removes temporary files; it also runs if the proxy has to be abandoned.
    CODEX_HOME, when given, is Codex's instead of the user's (see codex/home.py)."""
    ours = not chosen_model(args)
    model = settings.default_model if ours else None
    effort = settings.reasoning_effort if ours else None
    safe_env = codex_environment(os.environ)
    if codex_home is not None:
        safe_env["CODEX_HOME"] = str(codex_home)
    if settings.gateway_url:
        gateway = settings.gateway_url.rstrip("/").removesuffix("/v1")
        overrides = codex_overrides(0, settings, catalog=catalog, model=model, effort=effort, base_url=f"{gateway}/v1")
        return _launch_on_gateway(codex, codex_arguments(args, overrides, capabilities), args, settings, gateway, safe_env)
    if needs_provider_probe(args, capabilities):
        ensure_provider_used(codex, args, codex_overrides(1, settings, catalog=catalog, model=model, effort=effort),
                             capabilities, safe_env, cache=cache_dir())
    sock = bind_loopback(port)
    token = new_token()
    overrides = codex_overrides(sock.getsockname()[1], settings, catalog=catalog, model=model, effort=effort)
    argv = [codex.path, *codex_arguments(args, overrides, capabilities)]
    env = {**safe_env, TOKEN_ENV: token}
    previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the TUI owns Ctrl-C
    try:
        try:
            proc = subprocess.Popen(argv, env=env, preexec_fn=_child_setup())
        except OSError as exc:
            raise LaunchError(f"cannot start {codex.path}: {exc.strerror or exc}") from None
        from .ledger.writer import Ledger  # after codex started: it is not on the launch's critical path

        ledger = Ledger.from_settings(settings)
        session = _Session(proc, sock, settings, token, cleanup, ledger)
        previous = {signum: signal.signal(signum, session.early_signal) for signum in FORWARDED_SIGNALS}
        try:
            status = session.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        sock.close()
        signal.signal(signal.SIGINT, previous_sigint)
    if wants_exit_line(settings, args):
        _print_exit_line(ledger)
    return status


def _launch_on_gateway(
    codex: CodexInfo, arguments: list[str], args: Sequence[str], settings: Settings, gateway: str, env: dict[str, str]
) -> int:
    """Run codex (with ARGUMENTS, pointed at the team GATEWAY) using the member key: no local
    proxy; codex's signals are relayed as for a local session."""
    from .config import MEMBER_KEY_ENV, load_member_key

    key = load_member_key()
    if key is None:
        raise LaunchError(
            f"gateway_url is set but there is no member key: set {MEMBER_KEY_ENV} or store the key your admin "
            "gave you with `codexglm config set member_key -`"
        )
    env = {**env, TOKEN_ENV: key}
    started = time.time()
    previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the TUI owns Ctrl-C
    try:
        try:
            proc = subprocess.Popen([codex.path, *arguments], env=env, preexec_fn=_child_setup())
        except OSError as exc:
            raise LaunchError(f"cannot start {codex.path}: {exc.strerror or exc}") from None
        previous = {signum: signal.signal(signum, lambda signum, frame: _send(proc, signum)) for signum in FORWARDED_SIGNALS}
        try:
            status = exit_status(proc.wait())
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        signal.signal(signal.SIGINT, previous_sigint)
    if wants_exit_line(settings, args):
        _print_gateway_exit_line(gateway, key, started)
    return status


def _print_gateway_exit_line(gateway: str, key: str, since: float) -> None:
    """The exit line from the gateway's ledger (this member's usage since the launch);
    nothing if the gateway cannot say within a few seconds."""
    import httpx

    from .ledger.entry import RunTally, Totals
    from .ledger.report import exit_line

    try:
        answer = httpx.get(f"{gateway}/v1/codexglm/usage", params={"since": since},
                           headers={"Authorization": f"Bearer {key}"}, timeout=3.0)
        document = answer.json()
        tally = RunTally(Totals(**document["totals"]), session_id=document.get("session_id"))
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return
    line = exit_line(tally)
    if line is not None:
        _to_stderr(line)


def wants_exit_line(settings: Settings, args: Sequence[str]) -> bool:
    """The exit line is on unless switched off; `auto` keeps it off `exec --json` output."""
    if settings.exit_summary == "auto":
        return not prints_json_events(args)
    return settings.exit_summary == "always"


def _print_exit_line(ledger: Ledger) -> None:
    from .ledger.report import exit_line

    line = exit_line(ledger.tally)
    if line is None:
        return
    if ledger.error:
        line += f" ({ledger.error})"
    _to_stderr(line)


def _to_stderr(line: str) -> None:
    try:
        os.write(2, (line + "\n").encode("utf-8", "replace"))
    except OSError:  # the terminal may be gone (SIGHUP)
        pass


def new_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class _Session:
    """One codex process and the proxy serving it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        sock: socket.socket,
        settings: Settings,
        token: str,
        cleanup: Callable[[], None],
        ledger: Ledger,
    ) -> None:
        self.proc = proc
        self.ledger = ledger
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
            raise LaunchError(f"the proxy cannot start: {one_line(exc)}") from None
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
            await serve(self.settings, self.token, sock=self.sock, ledger=self.ledger)
            self.failure = "the proxy stopped unexpectedly"
        except Exception as exc:
            self.failure = f"the proxy failed: {one_line(exc)}"
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


def one_line(exc: BaseException) -> str:
    """An exception as one line of a message: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
