"""What codexglm knows about Codex's command line: its options, and which runs need a model."""

from __future__ import annotations

from collections.abc import Sequence


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


# Codex commands and flags that never ask the model anything: they run without a key.
_OFFLINE_COMMANDS = frozenset({"help", "login", "logout", "completion", "features", "debug", "apply", "sandbox", "mcp"})
_OFFLINE_FLAGS = frozenset({"-h", "--help", "-V", "--version"})
# Root options of codex that take a separate value (the value is not a subcommand).
_VALUE_OPTIONS = frozenset({"-c", "--config", "-m", "--model", "-p", "--profile", "-C", "--cd", "-s", "--sandbox",
                            "-a", "--ask-for-approval", "-i", "--image", "--enable", "--disable", "--local-provider",
                            "--add-dir"})


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
