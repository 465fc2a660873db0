"""The `codexglm` command line: dispatch and the handlers of codexglm's own commands.

`codexglm` takes exactly codex's arguments and passes every one it does not own to codex
unchanged; it is hand-parsed because a generic parser would consume codex's options.
What codexglm owns is in `table`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..settings import mask_secret
from .table import (
    COMMANDS,
    GLM_OPTIONS,
    SERVE_PORT,
    GlmArgs,
    UsageError,
    build_parser,
    option_label,
    parse_glm_args,
    port_number,
)

if TYPE_CHECKING:
    import argparse
    import socket
    from pathlib import Path

    from ..config import LoadedConfig
    from ..providers.base import ModelSpec
    from ..server.workers import ServeJob
    from ..settings import Settings


# --- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run codexglm; returns the exit status (codex's when codex ran)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except KeyboardInterrupt:  # also while the modules below are still being imported
        return 130


def _main(args: list[str]) -> int:
    from ..codex.catalog import CatalogError
    from ..codex.version import CodexError
    from ..config import ConfigError
    from ..team.store import TeamError

    try:
        return _dispatch(args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except (ConfigError, CodexError, CatalogError, TeamError) as exc:
        _error(str(exc))
        return 1
    except BrokenPipeError:
        # Whoever read our output left (`codexglm config | head`): nothing to report.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as exc:  # argparse's --help
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # one line, not a traceback, unless asked for
        if os.environ.get("CODEXGLM_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (set CODEXGLM_DEBUG=1 for details)")
        return 1


def _error(message: str) -> None:
    try:
        print(f"codexglm: {message}", file=sys.stderr, flush=True)
    except OSError:  # the terminal may be gone (SIGHUP)
        pass


def _warn(message: str) -> None:
    _error(f"warning: {message}")


def _dispatch(argv: list[str]) -> int:
    parsed = parse_glm_args(argv)
    if parsed.help:
        print(glm_help())
        return 0
    if parsed.version:
        return _show_version()
    command = parsed.command
    if command is None:
        return _launch(parsed)
    options = build_parser(command).parse_args(parsed.rest[1:])
    return _HANDLERS[command.name](options, parsed)


def _login_to_gateway(gateway: str) -> int:
    """`codexglm login --gateway URL`: a member's gateway URL and key (read from stdin or a
    prompt), stored like `config set gateway_url` and `config set member_key -`."""
    from .. import config

    url = gateway.strip()
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"login: --gateway must be an http:// or https:// URL, not {url!r}")
    path = config.config_path()
    config.set_value(path, "gateway_url", url)
    print(f"gateway_url = {url}  ({path})")
    return _store_key(config.member_key_path(), "-", what="member key")


def _launch(parsed: GlmArgs) -> int:
    from ..codex.argv import talks_to_model
    from ..config import ConfigError, load_config
    from ..launcher import run

    try:
        loaded = load_config(parsed.flags, flag_names=parsed.flag_names)
    except ConfigError as exc:
        if talks_to_model(parsed.rest):
            raise
        # `codexglm --help` or `login` must not be blocked by a broken config.toml.
        _warn(f"{exc}; ignoring the config file for this command")
        loaded = load_config(parsed.flags, read_file=False, flag_names=parsed.flag_names)
    _introduce(parsed.rest)
    return run(parsed.rest, loaded, port=parsed.port, warn=_warn)


def _introduce(codex_args: list[str]) -> None:
    """Codex's own `--help` and `--version` follow; say first that codexglm is in between."""
    first = codex_args[:1]
    if first in (["--version"], ["-V"]):
        print(f"codexglm {__version__} (codexglm --glm-version also names the codex it runs)", flush=True)
    elif first in (["--help"], ["-h"]):
        print(f"codexglm {__version__}: the Codex CLI on GLM. Codex's help follows; codexglm's own options "
              "and commands: codexglm --glm-help\n", flush=True)


def _show_version() -> int:
    from ..codex.version import SUPPORTED_CODEX, CodexError, find_codex, format_version

    print(f"codexglm {__version__}")
    try:
        codex = find_codex()
    except CodexError as exc:
        print(f"codex: {exc}")
    else:
        print(f"codex-cli {format_version(codex.version)} ({codex.path}); supported: {SUPPORTED_CODEX}")
    return 0


def glm_help() -> str:
    width = max(len(option_label(o)) for o in GLM_OPTIONS) + 2
    lines = [
        "usage: codexglm [--glm-OPTION ...] [codex options] [prompt]",
        "       codexglm [--glm-OPTION ...] exec|resume|review|... [codex arguments]",
        "       codexglm login|config|serve|models|doctor|completion ...",
        "",
        "Runs the OpenAI Codex CLI on Z.ai GLM models through a local proxy. Every argument",
        "that is not codexglm's goes to codex unchanged (`codexglm --help` is codex's help).",
        "codexglm's options start with --glm- and must come before a `--`; a `--` right after",
        "them is dropped (`codexglm --glm-model glm-5 -- doctor` runs codex's doctor).",
        "",
        "commands:",
        *(f"  {c.name:<{width}}{c.help}" for c in COMMANDS),
        "",
        "options:",
        *(f"  {option_label(o):<{width}}{o.help}" for o in GLM_OPTIONS),
        "",
        "environment: ZAI_API_KEY (a comma-separated key pool), ZAI_BASE_URL, ZAI_CODING_BASE_URL,",
        "GLM_ZAI_ENDPOINT_MODE, GLM_ZAI_KEY_TYPE, GLM_PAID_FALLBACK, GLM_DEFAULT_MODEL, GLM_MODEL_MAP_JSON,",
        "each other provider's key variable, CODEXGLM_CODEX (the codex to run),",
        "CODEXGLM_CONFIG_DIR, CODEXGLM_STATE_DIR, CODEXGLM_CACHE_DIR.",
    ]
    return "\n".join(lines)


# --- codexglm's own commands ------------------------------------------------------------------


def _config_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    import json

    from .. import config

    action = options.action or "show"
    if action == "path":
        print(config.config_path())
        return 0
    if action == "show":
        loaded = config.load_config(parsed.flags)
        for line in loaded.warnings:
            _warn(line)
        _show_config(loaded)
        return 0
    path = config.config_path()
    key: str = options.key
    if action == "set":
        if key == "api_key":
            return _store_key(config.load_config().key_file, options.value)
        if key == "member_key":
            return _store_key(config.member_key_path(), options.value, what="member key")
        if key == "default_model" or key.startswith("model_map."):
            config.check_model(config.load_config(parsed.flags).settings.upstream, key, options.value.strip())
        value = config.set_value(path, key, options.value)
        print(f"{key} = {value if isinstance(value, str) else json.dumps(value)}  ({path})")
        return 0
    if key == "api_key":
        key_file = config.load_config().key_file
        print(f"removed {key_file}" if config.remove_api_key(key_file) else f"no key file at {key_file}")
        return 0
    print(f"removed {key} from {path}" if config.unset_value(path, key) else f"{key} was not set in {path}")
    return 0


def _store_key(key_file: Any, value: str, what: str = "api_key") -> int:
    from .. import config

    given_inline = value != "-"
    if value == "-":
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("Team gateway member key: " if what != "api_key" else "Z.ai API key (comma-separated for a pool): ")
        else:
            value = sys.stdin.read()
    keys = config.store_api_key(key_file, value)
    masked = ", ".join(mask_secret(k) for k in keys)
    print(f"stored {masked} in {key_file} (mode 0600)")
    if given_inline:
        _warn(f"the key is now in your shell history; next time use `codexglm config set {what.replace(' ', '_')} -`")
    variable = config.MEMBER_KEY_ENV if what != "api_key" else config.load_config().settings.upstream.key_env
    if os.environ.get(variable, "").strip():
        _warn(f"{variable} is set and wins over the key file")
    return 0


def _show_config(loaded: LoadedConfig) -> None:
    from ..config import SETTING_TYPES, format_value

    for line in loaded.warnings:
        _warn(line)
    print(f"# config file: {loaded.path}{'' if loaded.path.exists() else ' (not created yet)'}")
    print(f"# key file:    {loaded.key_file}")
    print(f"# API key:     {loaded.key_source}")
    for name, source in loaded.other_key_sources.items():
        print(f"# {name} key:{' ' * max(1, 8 - len(name))}{source}")
    rows = [("api_keys", format_value("api_keys", loaded.settings), loaded.sources["api_keys"])]
    rows += [(key, format_value(key, loaded.settings), loaded.sources[key]) for key in SETTING_TYPES]
    width = max(len(key) for key, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 40)
    for key, value, source in rows:
        print(f"{key:<{width}} = {value:<{value_width}}  ({source})")


def _models_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from ..codex.catalog import reasoning_levels
    from ..config import load_config
    from ..discovery import DiscoveryError, cached_ids, listed_models, refresh
    from ..providers import get_provider, model_slug

    settings = load_config(parsed.flags).settings
    header = ("MODEL", "CONTEXT", "OUTPUT", "REASONING", "INPUT", "USD/M IN / CACHED / OUT")
    notes: dict[str, int] = {}  # note -> its number, shared by the models it is about
    for index, name in enumerate(settings.provider_names()):
        provider = get_provider(name)
        routed = settings.for_provider(name)
        try:
            discovered = refresh(routed, force=options.refresh) if routed.api_keys else cached_ids(name)[0]
        except DiscoveryError as exc:
            _warn(f"{exc}; showing the last list codexglm has")
            discovered = cached_ids(name)[0]
        rows = [header]
        for model_id, listed in listed_models(provider, discovered).items():
            spec = listed.spec
            price = "plan only" if spec.plan_only else "free" if spec.price is None else " / ".join(f"{p:g}" for p in spec.price)
            slug = model_slug(name, model_id, settings.provider)
            if listed.note:
                notes.setdefault(listed.note, len(notes) + 1)
            mark = (" *" if model_id == routed.default_model else "") + (f" [{notes[listed.note]}]" if listed.note else "")
            rows.append((slug + mark, f"{spec.context_window:,}", f"{spec.max_output:,}",
                         ",".join(reasoning_levels(spec, provider.thinking)) or "no", _input(spec, settings), price))
        if index:
            print()
        print(f"{provider.vendor} ({name}){'' if index else ', the default provider'}:")
        _print_table(rows)
    described = f"; described: images reach the model as descriptions by {settings.describer}" if settings.describer else ""
    print("* default model of its provider" + described)
    for note, number in notes.items():
        print(f"[{number}] {note}")
    return 0


def _input(spec: ModelSpec, settings: Settings) -> str:
    return "text+image" if spec.vision else "text+described" if settings.describer else "text"


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _login_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from ..config import load_config
    from ..providers import DEFAULT_PROVIDER, get_provider
    from .login import LoginError, login, read_key

    if options.gateway is not None:
        return _login_to_gateway(options.gateway)
    loaded = load_config(parsed.flags)
    provider = get_provider(options.provider or DEFAULT_PROVIDER)
    text = read_key(provider, sys.stdin.isatty())
    try:
        findings = login(loaded, options.provider, text)
    except LoginError as exc:
        _error(f"{exc}; nothing was stored")
        return 1
    print(f"{provider.vendor} key checked:")
    for line in findings.lines:
        print(f"  {line}")
    if os.environ.get(provider.key_env, "").strip():
        _warn(f"{provider.key_env} is set and wins over the stored key")
    return 0


def _completion_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from .completions import completion_script

    sys.stdout.write(completion_script(options.shell))
    return 0


def _serve_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    import ipaddress

    from ..config import load_config

    host = options.host or "127.0.0.1"
    port = port_number("--port", options.port) if options.port is not None else (parsed.port or SERVE_PORT)
    token = options.token or os.environ.get("CODEXGLM_TOKEN", "").strip()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    workers = _workers(options)
    if options.team or options.db:
        return _serve_team(options, parsed, host, port, workers)
    if not token and not loopback:
        raise UsageError(f"refusing to serve on {host} without a token: pass --token or set CODEXGLM_TOKEN")
    from ..discovery import with_discovered

    settings = with_discovered(load_config(parsed.flags, flag_names=parsed.flag_names).settings)
    from ..config import no_key_message
    from ..launcher import LaunchError, new_token
    from ..server.hosting import bind

    if not settings.api_keys:
        raise LaunchError(no_key_message(settings.upstream))
    from .login import sharing_warning

    warning = sharing_warning(settings, loopback)
    if warning:
        _warn(warning)
    generated = not token
    if generated:
        token = new_token()
    from ..server.workers import ServeJob

    # Bound before trio starts, so a busy port is one clear line, not an exception group.
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    setup = None
    if options.print_codex_config:  # before serving: building the catalog runs codex
        bound_host, bound_port = sock.getsockname()[:2]
        setup = codex_setup_text(settings, f"http://{_url_host(_reachable(bound_host))}:{bound_port}/v1",
                                 token if generated else None)

    def announce(bound_host: str, bound_port: int) -> None:
        print(f"codexglm: proxy at http://{_url_host(bound_host)}:{bound_port}/v1", flush=True)
        print(f"codexglm: client token: {token if generated else '(as given)'}", flush=True)
        if setup is not None:
            print(setup, flush=True)

    with sock:
        _run_serve(ServeJob(settings, token, host), sock, workers, announce)
    return 0


def _workers(options: argparse.Namespace) -> int:
    """--workers, checked: a whole number from 1 to `workers_limit()`."""
    from ..server.workers import workers_limit

    limit = workers_limit()
    text = options.workers if options.workers is not None else "1"
    if not text.strip().isdigit() or not 1 <= int(text) <= limit:
        raise UsageError(f"serve: --workers must be a whole number from 1 to {limit} (4 per CPU), not {text!r}")
    return int(text)


def _run_serve(job: ServeJob, sock: socket.socket, workers: int, announce: Callable[[str, int], None]) -> None:
    """Serve JOB on SOCK: in this process, or in WORKERS supervised ones."""
    from ..launcher import LaunchError
    from ..server.workers import WorkersFailed, run_workers, serve_job

    if workers == 1:
        serve_job(job, sock, announce)
        return
    if job.settings.max_concurrency < workers:
        raise UsageError(f"serve: --workers {workers} needs max_concurrency of at least {workers} "
                         f"(it is {job.settings.max_concurrency}), as each worker gets a share of it")
    try:
        run_workers(job, sock, workers, announce)
    except WorkersFailed as exc:
        raise LaunchError(str(exc)) from None


def _serve_team(options: argparse.Namespace, parsed: GlmArgs, host: str, port: int, workers: int) -> int:
    """`serve --team`: member keys instead of the one token, limits and usage in the team database."""
    from ..config import load_config, no_key_message
    from ..launcher import LaunchError, new_token
    from ..ledger.store import LedgerError
    from ..server.hosting import bind
    from ..server.workers import ServeJob
    from ..team.store import TeamError
    from .gateway import admin_token, database_url, open_store

    settings = load_config(parsed.flags).settings
    if not settings.api_keys:
        raise LaunchError(no_key_message(settings.upstream))
    try:
        open_store(options, settings).close()  # a clear line now; each server process opens its own
    except LedgerError as exc:
        raise TeamError(f"cannot open the team database: {exc}") from None
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    admin = admin_token()

    def announce(bound_host: str, bound_port: int) -> None:
        print(f"codexglm: team gateway at http://{_url_host(bound_host)}:{bound_port}/v1", flush=True)
        print(f"codexglm: members use their key (codexglm keys); admin pages {'on' if admin else 'off'}", flush=True)
        print("codexglm: Z.ai's policy: a gateway uses a Standard or Team Plan key, never a personal Coding Plan key",
              flush=True)

    job = ServeJob(settings, new_token(), host, admin_token=admin, team=True, team_db=database_url(options))
    with sock:
        _run_serve(job, sock, workers, announce)
    return 0


def _keys_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from ..config import load_config
    from .gateway import keys_command

    return keys_command(options, load_config(parsed.flags).settings)


def codex_setup_text(settings: Settings, base_url: str, token: str | None) -> str:
    """What a Codex set up by hand needs to use this proxy: config.toml lines, the token's
    variable and the model catalog (built for the installed Codex, when there is one)."""
    from ..codex.catalog import CatalogError, build_catalog
    from ..codex.overrides import TOKEN_ENV, codex_config_toml
    from ..codex.version import CodexError, find_codex

    try:
        codex = find_codex()
        catalog: Path | None = build_catalog(codex, settings)
        catalog_note = f"# model_catalog_json: GLM's context windows and reasoning levels, built for codex {'.'.join(map(str, codex.version))}."
    except (CodexError, CatalogError) as exc:
        catalog = None
        catalog_note = f"# No model catalog ({exc}); once codex is installed, rerun this to get one."
    shown_token = token if token is not None else "<the token you gave with --token or $CODEXGLM_TOKEN>"
    return "\n".join([
        "# --- Codex setup: add to $CODEX_HOME/config.toml (default ~/.codex/config.toml),",
        "# or pass each root line with `codex -c`. Codex reads the proxy token from its environment:",
        f"#   export {TOKEN_ENV}={shown_token}",
        catalog_note,
        "# The proxy also lists its models at GET /v1/models.",
        codex_config_toml(base_url, settings, catalog=catalog, model=settings.default_model).rstrip(),
        "# --- end of Codex setup",
    ])


def _reachable(host: str) -> str:
    """The address a local Codex connects to for a bound host (a wildcard means loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _usage_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    import time

    from ..config import load_config
    from ..ledger.entry import Totals
    from ..ledger.report import SinceError, report_csv, report_json, report_table
    from ..ledger.store import LedgerError, Report
    from ..ledger.terms import GROUPINGS
    from ..ledger.writer import ledger_path, read_report

    by, since = options.by or "day", options.since or "7d"
    if by not in GROUPINGS:
        raise UsageError(f"usage: --by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    if options.json and options.csv:
        raise UsageError("usage: --json and --csv cannot be combined")
    settings = load_config(parsed.flags).settings
    now = time.time()
    try:
        found = read_report(settings, since, by, now)
    except SinceError as exc:
        raise UsageError(f"usage: {exc}") from None
    except LedgerError as exc:
        _error(f"cannot read the usage ledger: {exc}")
        return 1
    start, report = found or (now, Report(Totals(), []))
    if options.json:
        print(report_json(report, by, start))
    elif options.csv:
        sys.stdout.write(report_csv(report, by))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        label = "this plan window" if since == "window" else f"since {since}"
        print(report_table(report, by, label, color=color))
        if found is None:
            print(f"(nothing recorded yet in {ledger_path(settings)})")
    return 0


def _doctor_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from ..doctor import run_doctor

    return run_doctor(parsed.flags, json_output=options.json, offline=options.offline)


_HANDLERS: dict[str, Callable[[Any, GlmArgs], int]] = {
    "doctor": _doctor_command,
    "config": _config_command,
    "models": _models_command,
    "login": _login_command,
    "completion": _completion_command,
    "serve": _serve_command,
    "usage": _usage_command,
    "keys": _keys_command,
}
