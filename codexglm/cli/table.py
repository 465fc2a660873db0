"""codexglm's commands and options, and the parsing of its share of the command line.

This table is the bottom of the CLI: the handlers (`cli`), the shell completions and
doctor all read it, so they cannot drift apart.  codexglm owns:
  * options spelled `--glm-...`, anywhere before a `--`;
  * a `--` that follows only such options (it ends them and is dropped, so
    `codexglm --glm-model glm-5 -- doctor` runs `codex doctor`); a `--` after any codex
    argument belongs to codex and is passed on with everything after it, unread;
  * its commands as the first codex argument (use `codexglm -- doctor` for codex's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..ledger.terms import GROUPINGS, SINCE_HELP
from ..providers import GLM, provider_names
from ..team.members import PERIODS

if TYPE_CHECKING:
    import argparse


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
    epilog: str = ""  # shown after the options by --help


GLM_OPTIONS: tuple[Option, ...] = (
    Option("--glm-model", "model for this run, PROVIDER/MODEL for another provider's (Codex's -m wins)", "MODEL", "model",
           setting="default_model"),
    Option("--glm-region", "Z.ai region", "REGION", "region", tuple(GLM.regions), setting="region"),
    Option(
        "--glm-endpoint-mode",
        "which Z.ai endpoints to use",
        "MODE",
        "endpoint_mode",
        tuple(GLM.endpoint_modes),
        setting="endpoint_mode",
    ),
    Option("--glm-port", "loopback port of the proxy (default: any free port)", "PORT"),
    Option("--glm-log-bodies", "also log request and response bodies", setting="log_bodies"),
    Option("--glm-log-dir", "directory for the proxy's logs", "DIR", "dir", setting="log_dir"),
    Option("--glm-no-reasoning", "do not show GLM's reasoning", setting="show_reasoning", value=False),
    Option("--glm-web-search", "web search through Z.ai's search API (billed per search)", setting="web_search"),
    Option("--glm-vision-model", "model that describes images for text-only models (auto, off)", "MODEL", "model",
           setting="vision_model"),
    Option("--glm-help", "show this help and exit"),
    Option("--glm-version", "show codexglm's and codex's versions and exit"),
)
_GLM_BY_FLAG = {option.flag: option for option in GLM_OPTIONS}
# The README's "A team gateway" commands (a test checks they are the same, and runs them).
TEAM_SETUP = """team gateway in five commands (one instance: skip the first, SQLite is the default);
use a Standard or Team Plan key in ZAI_API_KEY: a personal Coding Plan key may not be shared:

  initdb -D ~/codexglm-db -U codexglm --auth=trust && pg_ctl -D ~/codexglm-db -l ~/codexglm-db/log -o "-p $PGPORT" -w start && createdb -h localhost -U codexglm codexglm && export CODEXGLM_DB=postgresql://codexglm@localhost:$PGPORT/codexglm
  codexglm keys create alice --budget-usd 50 --period month --rpm 30 --max-streams 4 | tail -1 > alice.key
  CODEXGLM_ADMIN_TOKEN=$(openssl rand -hex 16) codexglm serve --team --host 0.0.0.0 --port 8787 &
  codexglm login --gateway http://gateway.example:8787/v1 < alice.key
  codexglm exec "say hello"
"""
_DB_OPTION = Option(
    "--db", "the team database: postgresql://… (default: $CODEXGLM_DB, else the usage ledger's SQLite)", "URL"
)

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
            Option("--print-codex-config", "print the config.toml block and token variable that point Codex here"),
            Option("--team", "team gateway: member keys (codexglm keys) replace the token"),
            Option("--workers", "server processes sharing the port (default 1)", "N"),
            _DB_OPTION,
        ),
        epilog=TEAM_SETUP,
    ),
    Command(
        "keys",
        "team gateway member keys: create, list, show, revoke, rotate",
        options=(_DB_OPTION,),
        actions=(
            Command(
                "create",
                "add a member; prints its new key once, on the last line",
                options=(
                    Option("--budget-usd", "spending limit per period, at list prices", "USD"),
                    Option("--period", "budget period (default month)", "PERIOD", choices=PERIODS),
                    Option("--rpm", "requests per minute", "N"),
                    Option("--max-streams", "requests in progress at once", "N"),
                    Option("--models", "the models allowed, comma-separated (default: all)", "MODELS"),
                ),
                arguments=(("NAME", ""),),
            ),
            Command("list", "list the members, their limits and spend"),
            Command("show", "one member's limits and spend", arguments=(("NAME", ""),)),
            Command("revoke", "stop a member's key (every instance refuses it within seconds)", arguments=(("NAME", ""),)),
            Command("rotate", "give a member a new key (the old one stops working)", arguments=(("NAME", ""),)),
        ),
    ),
    Command(
        "models",
        "list every provider's models with context window, reasoning and price",
        options=(Option("--refresh", "ask each provider for its model list now (else at most daily)"),),
    ),
    Command(
        "login",
        "check an API key (region, plan, key type), pick a billing-safe endpoint mode and store it",
        options=(Option("--gateway", "a team member: store the gateway's URL and your member key instead", "URL"),),
        arguments=(("PROVIDER", "provider"),),
    ),
    Command(
        "doctor",
        "check the key, endpoints, Codex install and proxy",
        options=(
            Option("--json", "print one JSON object instead of the report"),
            Option("--offline", "run only the checks that need no network"),
        ),
    ),
    Command("completion", "print a shell completion script", arguments=(("SHELL", "shell"),)),
    Command(
        "usage",
        "what requests through codexglm used and cost, from the usage ledger",
        options=(
            Option("--since", f"time range: {SINCE_HELP} (default 7d)", "SPAN", "usage_since"),
            Option("--by", "group by day, model, session or provider (default day)", "GROUP", "usage_by", GROUPINGS),
            Option("--json", "print one JSON object: totals and rows"),
            Option("--csv", "print the rows as CSV"),
        ),
    ),
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
    flag_names: dict[str, str] = field(default_factory=dict)  # Settings field -> the option that set it
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
        parsed.flag_names[option.setting] = option.flag


def _apply_value(parsed: GlmArgs, option: Option, value: str) -> None:
    if option.choices and value not in option.choices:
        raise UsageError(f"{option.flag} must be one of {', '.join(option.choices)}, not {value!r}")
    if option.flag == "--glm-port":
        parsed.port = port_number(option.flag, value)
    elif option.setting:
        parsed.flags[option.setting] = value
        parsed.flag_names[option.setting] = option.flag


def port_number(flag: str, value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise UsageError(f"{flag} must be a port number (0-65535), not {value!r}")
    return int(value)



def _new_parser(prog: str, description: str, epilog: str = "") -> argparse.ArgumentParser:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse with codexglm's error style: one line, exit status 2."""

        def error(self, message: str) -> Any:
            raise UsageError(f"{self.prog.removeprefix('codexglm ')}: {message}")

    return Parser(prog=prog, description=description, epilog=epilog or None, formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser(command: Command, prog: str = "codexglm") -> argparse.ArgumentParser:
    """The argparse parser of one codexglm command, built from the command table."""
    parser = _new_parser(f"{prog} {command.name}", command.help, command.epilog)
    for option in command.options:
        if option.metavar:
            parser.add_argument(option.flag, metavar=option.metavar, help=option.help)
        else:
            parser.add_argument(option.flag, action="store_true", help=option.help)
    for metavar, source in command.arguments:
        if source == "provider":  # optional: the default provider
            parser.add_argument(metavar.lower(), metavar=metavar, nargs="?", choices=provider_names())
            continue
        choices = SHELLS if source == "shell" else None
        parser.add_argument(metavar.lower(), metavar=metavar, choices=choices)
    if command.actions:
        sub = parser.add_subparsers(dest="action", metavar="ACTION")
        for action in command.actions:
            child = sub.add_parser(action.name, help=action.help, description=action.help)
            for option in action.options:
                child.add_argument(option.flag, metavar=option.metavar, help=option.help, choices=option.choices or None)
            for metavar, _ in action.arguments:
                child.add_argument(metavar.lower(), metavar=metavar)
    return parser


def option_label(option: Option) -> str:
    return f"{option.flag} {option.metavar}" if option.metavar else option.flag
