"""The `codexglm` command line.

`codexglm` takes exactly codex's arguments and passes every one it does not own to codex
unchanged; it is hand-parsed because a generic parser would consume codex's options.
codexglm owns:
  * options spelled `--glm-...`, anywhere before a `--`;
  * a `--` that follows only such options (it ends them and is dropped, so
    `codexglm --glm-model glm-5 -- doctor` runs `codex doctor`); a `--` after any codex
    argument belongs to codex and is passed on with everything after it, unread;
  * the commands config, serve, models, doctor and completion as the first codex
    argument (use `codexglm -- doctor` for codex's own doctor/completion).
The command table below also drives the argparse parsers of codexglm's own commands and
the shell completion scripts, so the three cannot drift apart.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__
from .settings import ENDPOINT_MODES, REGIONS, mask_secret

if TYPE_CHECKING:
    import argparse

    from .config import LoadedConfig


class UsageError(Exception):
    """Bad codexglm arguments (exit status 2)."""


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    metavar: str | None = None  # None: a switch
    complete: str = ""  # what the value completes to: model, region, endpoint_mode, dir, ...
    choices: tuple[str, ...] = ()
    setting: str | None = None  # the Settings field a --glm- option sets
    value: object = True  # what a switch sets


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...] = ()
    arguments: tuple[tuple[str, str], ...] = ()  # (metavar, completion source)
    actions: tuple[Command, ...] = ()  # sub-commands (config show/set/...)


GLM_OPTIONS: tuple[Option, ...] = (
    Option("--glm-model", "GLM model for this run (Codex's -m wins)", "MODEL", "model", setting="default_model"),
    Option("--glm-region", "Z.ai region", "REGION", "region", tuple(REGIONS), setting="region"),
    Option(
        "--glm-endpoint-mode",
        "which Z.ai endpoints to use",
        "MODE",
        "endpoint_mode",
        ENDPOINT_MODES,
        setting="endpoint_mode",
    ),
    Option("--glm-port", "loopback port of the proxy (default: any free port)", "PORT"),
    Option("--glm-log-bodies", "also log request and response bodies", setting="log_bodies"),
    Option("--glm-log-dir", "directory for the proxy's logs", "DIR", "dir", setting="log_dir"),
    Option("--glm-no-reasoning", "do not show GLM's reasoning", setting="show_reasoning", value=False),
    Option("--glm-web-search", "map Codex's web search to GLM's billed web_search tool", setting="web_search"),
    Option("--glm-help", "show this help and exit"),
    Option("--glm-version", "show codexglm's and codex's versions and exit"),
)
_GLM_BY_FLAG = {option.flag: option for option in GLM_OPTIONS}

COMMANDS: tuple[Command, ...] = (
    Command(
        "config",
        "show the effective settings, or change config.toml",
        actions=(
            Command("show", "show each setting and where it came from"),
            Command("set", "store a setting (api_key goes to a 0600 key file; VALUE - reads stdin)",
                    arguments=(("KEY", "config_key"), ("VALUE", ""))),
            Command("unset", "remove a setting", arguments=(("KEY", "config_key"),)),
            Command("path", "print the config file's path"),
        ),
    ),
    Command(
        "serve",
        "run the proxy alone (for your own Codex setup)",
        options=(
            Option("--host", "address to listen on (default 127.0.0.1)", "HOST", "host"),
            Option("--port", "port to listen on (default 8787)", "PORT"),
            Option("--token", "client token (default: $CODEXGLM_TOKEN, else a new one)", "TOKEN"),
        ),
    ),
    Command("models", "list the GLM models with context window, reasoning and price"),
    Command(
        "doctor",
        "check the key, endpoints, Codex install and proxy",
        options=(
            Option("--json", "print one JSON object instead of the report"),
            Option("--offline", "run only the checks that need no network"),
        ),
    ),
    Command("completion", "print a shell completion script", arguments=(("SHELL", "shell"),)),
)
_COMMANDS = {command.name: command for command in COMMANDS}


def command_named(name: str) -> Command:
    return _COMMANDS[name]
SHELLS = ("bash", "zsh", "fish")
SERVE_PORT = 8787


@dataclass
class GlmArgs:
    """codexglm's share of the command line; `rest` is codex's (or a codexglm command's)."""

    flags: dict[str, Any] = field(default_factory=dict)  # Settings field -> raw value
    port: int = 0
    help: bool = False
    version: bool = False
    rest: list[str] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # indexes of argv that were codexglm's
    separated: bool = False  # a `--` ended codexglm's options: `rest` is all codex's

    @property
    def command(self) -> Command | None:
        """The codexglm command the arguments name, if any."""
        if self.separated or not self.rest:
            return None
        return _COMMANDS.get(self.rest[0])


def parse_glm_args(argv: Sequence[str]) -> GlmArgs:
    """Split ARGV into codexglm's options and everything else (order kept)."""
    parsed = GlmArgs()
    only_glm = True
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            if only_glm:
                parsed.dropped.append(index)
                parsed.separated = True
                index += 1
            parsed.rest.extend(argv[index:])
            break
        if not arg.startswith("--glm-"):
            only_glm = False
            parsed.rest.append(arg)
            index += 1
            continue
        flag, has_value, value = arg.partition("=")
        option = _GLM_BY_FLAG.get(flag)
        if option is None:
            raise UsageError(f"unknown option {flag} (see codexglm --glm-help)")
        parsed.dropped.append(index)
        if option.metavar is None:
            if has_value:
                raise UsageError(f"{flag} takes no value")
            _apply_switch(parsed, option)
        else:
            if not has_value:
                index += 1
                if index >= len(argv):
                    raise UsageError(f"{flag} needs a value ({option.metavar})")
                parsed.dropped.append(index)
                value = argv[index]
            _apply_value(parsed, option, value)
        index += 1
    return parsed


def _apply_switch(parsed: GlmArgs, option: Option) -> None:
    if option.flag == "--glm-help":
        parsed.help = True
    elif option.flag == "--glm-version":
        parsed.version = True
    elif option.setting:
        parsed.flags[option.setting] = option.value


def _apply_value(parsed: GlmArgs, option: Option, value: str) -> None:
    if option.choices and value not in option.choices:
        raise UsageError(f"{option.flag} must be one of {', '.join(option.choices)}, not {value!r}")
    if option.flag == "--glm-port":
        parsed.port = _port(option.flag, value)
    elif option.setting:
        parsed.flags[option.setting] = value


def _port(flag: str, value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise UsageError(f"{flag} must be a port number (0-65535), not {value!r}")
    return int(value)


# --- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run codexglm; returns the exit status (codex's when codex ran)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from .catalog import CatalogError
    from .config import ConfigError
    from .launcher import LaunchError

    try:
        return _dispatch(args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except (ConfigError, LaunchError, CatalogError) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
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
    if command.name == "doctor":
        from .doctor import run_doctor

        first = next(i for i in range(len(argv)) if i not in parsed.dropped)
        return run_doctor([arg for i, arg in enumerate(argv) if i != first])
    options = build_parser(command).parse_args(parsed.rest[1:])
    return _HANDLERS[command.name](options, parsed)


def _launch(parsed: GlmArgs) -> int:
    from .config import ConfigError, load_config
    from .launcher import run, talks_to_model

    try:
        loaded = load_config(parsed.flags)
    except ConfigError as exc:
        if talks_to_model(parsed.rest):
            raise
        # `codexglm --help` or `login` must not be blocked by a broken config.toml.
        _warn(f"{exc}; ignoring the config file for this command")
        loaded = load_config(parsed.flags, read_file=False)
    return run(parsed.rest, loaded, port=parsed.port, warn=_warn)


def _show_version() -> int:
    from .launcher import SUPPORTED_CODEX, LaunchError, find_codex, format_version

    print(f"codexglm {__version__}")
    try:
        codex = find_codex()
    except LaunchError as exc:
        print(f"codex: {exc}")
    else:
        print(f"codex-cli {format_version(codex.version)} ({codex.path}); supported: {SUPPORTED_CODEX}")
    return 0


def glm_help() -> str:
    width = max(len(_option_label(o)) for o in GLM_OPTIONS) + 2
    lines = [
        "usage: codexglm [--glm-OPTION ...] [codex options] [prompt]",
        "       codexglm [--glm-OPTION ...] exec|resume|review|... [codex arguments]",
        "       codexglm config|serve|models|doctor|completion ...",
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
        *(f"  {_option_label(o):<{width}}{o.help}" for o in GLM_OPTIONS),
        "",
        "environment: ZAI_API_KEY (a comma-separated key pool), ZAI_BASE_URL, ZAI_CODING_BASE_URL,",
        "GLM_ZAI_ENDPOINT_MODE, GLM_DEFAULT_MODEL, GLM_MODEL_MAP_JSON, CODEXGLM_CODEX (the codex to run),",
        "CODEXGLM_CONFIG_DIR, CODEXGLM_STATE_DIR, CODEXGLM_CACHE_DIR.",
    ]
    return "\n".join(lines)


def _option_label(option: Option) -> str:
    return f"{option.flag} {option.metavar}" if option.metavar else option.flag


# --- codexglm's own commands ------------------------------------------------------------------


def _new_parser(prog: str, description: str) -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse with codexglm's error style: one line, exit status 2."""

        def error(self, message: str) -> Any:  # type: ignore[override]
            raise UsageError(f"{self.prog.removeprefix('codexglm ')}: {message}")

    return Parser(prog=prog, description=description)


def build_parser(command: Command, prog: str = "codexglm") -> argparse.ArgumentParser:
    """The argparse parser of one codexglm command, built from the command table."""
    parser = _new_parser(f"{prog} {command.name}", command.help)
    for option in command.options:
        if option.metavar:
            parser.add_argument(option.flag, metavar=option.metavar, help=option.help)
        else:
            parser.add_argument(option.flag, action="store_true", help=option.help)
    for metavar, source in command.arguments:
        choices = SHELLS if source == "shell" else None
        parser.add_argument(metavar.lower(), metavar=metavar, choices=choices)
    if command.actions:
        sub = parser.add_subparsers(dest="action", metavar="ACTION")
        for action in command.actions:
            child = sub.add_parser(action.name, help=action.help, description=action.help)
            for metavar, _ in action.arguments:
                child.add_argument(metavar.lower(), metavar=metavar)
    return parser


def _config_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    import json

    from . import config

    action = options.action or "show"
    if action == "path":
        print(config.config_path())
        return 0
    if action == "show":
        _show_config(config.load_config(parsed.flags))
        return 0
    path = config.config_path()
    key: str = options.key
    if action == "set":
        if key == "api_key":
            return _store_key(config.load_config().key_file, options.value)
        value = config.set_value(path, key, options.value)
        print(f"{key} = {value if isinstance(value, str) else json.dumps(value)}  ({path})")
        return 0
    if key == "api_key":
        key_file = config.load_config().key_file
        print(f"removed {key_file}" if config.remove_api_key(key_file) else f"no key file at {key_file}")
        return 0
    print(f"removed {key} from {path}" if config.unset_value(path, key) else f"{key} was not set in {path}")
    return 0


def _store_key(key_file: Any, value: str) -> int:
    from . import config

    given_inline = value != "-"
    if value == "-":
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("Z.ai API key (comma-separated for a pool): ")
        else:
            value = sys.stdin.read()
    keys = config.store_api_key(key_file, value)
    masked = ", ".join(mask_secret(k) for k in keys)
    print(f"stored {masked} in {key_file} (mode 0600)")
    if given_inline:
        _warn("the key is now in your shell history; next time use `codexglm config set api_key -`")
    if os.environ.get(config.KEY_ENV, "").strip():
        _warn(f"{config.KEY_ENV} is set and wins over the key file")
    return 0


def _show_config(loaded: LoadedConfig) -> None:
    from .config import SETTING_TYPES, format_value

    for line in loaded.warnings:
        _warn(line)
    print(f"# config file: {loaded.path}{'' if loaded.path.exists() else ' (not created yet)'}")
    print(f"# key file:    {loaded.key_file}")
    print(f"# API key:     {loaded.key_source}")
    rows = [("api_keys", format_value("api_keys", loaded.settings), loaded.sources["api_keys"])]
    rows += [(key, format_value(key, loaded.settings), loaded.sources[key]) for key in SETTING_TYPES]
    width = max(len(key) for key, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 40)
    for key, value, source in rows:
        print(f"{key:<{width}} = {value:<{value_width}}  ({source})")


def _models_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from .config import load_config
    from .translate.models import MODELS

    default = load_config(parsed.flags).settings.default_model
    rows = [("MODEL", "CONTEXT", "OUTPUT", "REASONING", "INPUT", "USD/M IN / CACHED / OUT")]
    for spec in MODELS.values():
        price = "free" if spec.price is None else " / ".join(f"{p:g}" for p in spec.price)
        rows.append(
            (
                spec.id + (" *" if spec.id == default else ""),
                f"{spec.context_window:,}",
                f"{spec.max_output:,}",
                ",".join(spec.reasoning_levels) or "no",
                "text+image" if spec.vision else "text",
                price,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print("* default model")
    return 0


def _completion_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    from .completions import completion_script

    sys.stdout.write(completion_script(options.shell))
    return 0


def _serve_command(options: argparse.Namespace, parsed: GlmArgs) -> int:
    import ipaddress

    from .config import load_config

    host = options.host or "127.0.0.1"
    port = _port("--port", options.port) if options.port is not None else (parsed.port or SERVE_PORT)
    token = options.token or os.environ.get("CODEXGLM_TOKEN", "").strip()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not token and not loopback:
        raise UsageError(f"refusing to serve on {host} without a token: pass --token or set CODEXGLM_TOKEN")
    settings = load_config(parsed.flags).settings
    from .launcher import NO_KEY, LaunchError, new_token

    if not settings.api_keys:
        raise LaunchError(NO_KEY)
    generated = not token
    if generated:
        token = new_token()
    import functools
    import signal

    import trio

    from .server import serve

    async def serve_until_signal() -> None:
        async with trio.open_nursery() as nursery:
            bound_host, bound_port = await nursery.start(functools.partial(serve, settings, token, host=host, port=port))
            print(f"codexglm: proxy at http://{_url_host(bound_host)}:{bound_port}/v1", flush=True)
            print(f"codexglm: client token: {token if generated else '(as given)'}", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(serve_until_signal)
    except OSError as exc:
        from .launcher import LaunchError

        raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


_HANDLERS: dict[str, Callable[[Any, GlmArgs], int]] = {
    "config": _config_command,
    "models": _models_command,
    "completion": _completion_command,
    "serve": _serve_command,
}
