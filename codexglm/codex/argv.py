"""What codexglm knows about Codex's command line: its options, and which runs need a model."""

from __future__ import annotations

from collections.abc import Sequence

from .capabilities import Capabilities


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


def attached_images(args: Sequence[str]) -> list[str]:
    """Files given with -i/--image (Codex takes several after one flag, comma-separated or
    not, until the next option)."""
    images: list[str] = []
    taking = False
    for arg in args:
        if arg == "--":
            break
        if arg in ("-i", "--image"):
            taking = True
            continue
        if arg.startswith("--image="):
            value = arg.removeprefix("--image=")
        elif arg.startswith("-i") and not arg.startswith("--") and len(arg) > 2:
            value = arg[2:]
        elif taking and not arg.startswith("-"):
            value = arg
        else:
            taking = False
            continue
        images += [name for name in value.split(",") if name]
    return images


# Codex commands and flags that never ask the model anything: they run without a key.
_OFFLINE_COMMANDS = frozenset({"help", "login", "logout", "completion", "features", "debug", "apply", "sandbox", "mcp"})
_OFFLINE_FLAGS = frozenset({"-h", "--help", "-V", "--version"})
# Options of codex (root and `exec`) that take a separate value (the value is not a subcommand).
_VALUE_OPTIONS = frozenset({"-c", "--config", "-m", "--model", "-p", "--profile", "-C", "--cd", "-s", "--sandbox",
                            "-a", "--ask-for-approval", "-i", "--image", "--enable", "--disable", "--local-provider",
                            "--add-dir", "--remote", "--remote-auth-token-env", "--output-schema", "-o",
                            "--output-last-message", "--color"})
_CONFIG_OPTIONS = frozenset({"-c", "--config"})
_EXEC = frozenset({"exec", "e"})


def prints_json_events(args: Sequence[str]) -> bool:
    """Whether codex writes machine-readable events (`exec --json`): nothing of codexglm's
    may then follow on the terminal unasked."""
    return _subcommand(args) in ("exec", "e") and any(arg in ("--json", "--experimental-json") for arg in args)


def _subcommand(args: Sequence[str]) -> str | None:
    words = iter(args)
    for arg in words:
        if arg in _VALUE_OPTIONS:
            next(words, None)
        elif not arg.startswith("-"):
            return arg
    return None


def talks_to_model(args: Sequence[str]) -> bool:
    """Whether this codex invocation may send requests to the model (and so needs a key)."""
    if any(arg in _OFFLINE_FLAGS for arg in args):
        return False
    command = _subcommand(args)
    return command is None or command not in _OFFLINE_COMMANDS


def subcommands(args: Sequence[str], capabilities: Capabilities) -> list[int]:
    """Positions in ARGS of the codex subcommands the user typed, outermost first
    (`exec resume --last` -> [0, 1]; a prompt for the TUI -> [])."""
    found: list[int] = []
    level = capabilities.commands
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            break
        if arg in _VALUE_OPTIONS:
            position += 2
            continue
        if not arg.startswith("-"):
            if arg not in level:
                break  # a prompt, a session id, or a command we do not descend into
            found.append(position)
            level = capabilities.exec_commands if arg in _EXEC else frozenset()
        position += 1
    return found


def _end_of_options(args: Sequence[str], start: int) -> int:
    """Where codex stops reading options after START: at a `--`, else the end."""
    try:
        return args.index("--", start)
    except ValueError:
        return len(args)


def codex_arguments(args: Sequence[str], overrides: Sequence[str], capabilities: Capabilities) -> list[str]:
    """ARGS with codexglm's OVERRIDES where the installed Codex honours them.

    `--no-daemon` goes first where it exists: the TUI's shared background server would
    outlive this launch (and the proxy it points at).
    A Codex that drops root `-c` once a subcommand has its own gets them after the deepest
    subcommand, last, so they win there; others (and the TUI) get them at the root, where
    the user's own `-c` can still refine the rest of the config.
    """
    head = ["--no-daemon"] if capabilities.no_daemon else []
    found = subcommands(args, capabilities)
    if capabilities.root_overrides_merge or not found or not talks_to_model(args):
        return [*head, *overrides, *args]
    end = _end_of_options(args, found[-1])
    return [*head, *args[:end], *overrides, *args[end:]]


def needs_provider_probe(args: Sequence[str], capabilities: Capabilities) -> bool:
    """Whether Codex could drop some overrides: only when the user's own `-c` sit after a
    subcommand of a run that talks to the model."""
    found = subcommands(args, capabilities)
    if not found or not talks_to_model(args):
        return False
    return any(_is_config_option(arg) for arg in args[found[0]:_end_of_options(args, found[0])])


def _is_config_option(arg: str) -> bool:
    """`-c K=V`, `-cK=V`, `--config K=V` or `--config=K=V` (the option word)."""
    return arg in _CONFIG_OPTIONS or arg.startswith("--config=") or (arg.startswith("-c") and not arg.startswith("--"))


def probe_arguments(args: Sequence[str], overrides: Sequence[str], capabilities: Capabilities,
                    probe: Sequence[str]) -> list[str]:
    """The same command line shape, safe to run: the user's subcommands and `-c` options
    only (no prompt, no other flags), with codexglm's OVERRIDES placed as for the launch
    and PROBE (a `-c` naming a provider that does not exist) last among them. A Codex that
    honours the overrides stops at once on the unknown provider; one that drops them reads
    an empty stdin and stops with "no prompt"."""
    found = subcommands(args, capabilities)
    skeleton: list[str] = []
    position, end = 0, _end_of_options(args, 0)
    while position < end:
        arg = args[position]
        if position in found or (_is_config_option(arg) and arg not in _CONFIG_OPTIONS):
            skeleton.append(arg)
        elif arg in _CONFIG_OPTIONS:
            skeleton += args[position:position + 2]
            position += 1
        position += 1
    return codex_arguments(skeleton, [*overrides, *probe], capabilities)


def remote_refusal(args: Sequence[str], capabilities: Capabilities) -> str | None:
    """Why codexglm cannot run this `exec --remote` (Codex refuses every `-c` with it)."""
    found = subcommands(args, capabilities)
    if not capabilities.exec_remote or not found or args[found[0]] not in _EXEC:
        return None
    tail = args[found[0]:_end_of_options(args, found[0])]
    if not any(arg == "--remote" or arg.startswith("--remote=") for arg in tail):
        return None
    return ("`exec --remote` runs the agent on the remote app server, and Codex refuses every -c option with it, "
            "so codexglm cannot point it at its provider: run `codex exec --remote ...` directly and configure "
            "the model provider on that server")


# Invocations that print help, versions or scripts: nothing of codexglm's may mix into them.
_QUIET_COMMANDS = frozenset({"help", "completion"})


def notes_allowed(args: Sequence[str]) -> bool:
    """Whether codexglm may print its own notes (such as a new Codex version) for ARGS."""
    if any(arg in _OFFLINE_FLAGS for arg in args[:_end_of_options(args, 0)]):
        return False
    words = [arg for arg in args if not arg.startswith("-")]
    return not words or words[0] not in _QUIET_COMMANDS
