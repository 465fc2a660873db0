"""Checks that need no network: codexglm's config, the key's source, a loopback port, the
directories codexglm writes to."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..config import (
    ConfigError,
    LoadedConfig,
    cache_dir,
    config_dir,
    config_path,
    state_dir,
)
from ..launcher import LaunchError, bind_loopback
from ..ledger.store import DAY_SECONDS, SCHEMA_VERSION, LedgerError, SqliteStore
from ..ledger.writer import ledger_path
from ..server.reqlog import log_dir
from ..server.search import billing_note
from ..settings import Settings, mask_secret
from .report import Check, Status

# Characters a Z.ai key never has; seen when keys are pasted with quotes or "Bearer ".
_SUSPICIOUS = set(" \t\"'`<>")


def config_check(loaded: LoadedConfig | None, error: ConfigError | None, env: Mapping[str, str]) -> Check:
    title = "config"
    if error is not None:
        text = str(error)
        if text.startswith("$"):
            fix = f"Correct or unset {text[1:].split(':', 1)[0]}."
        else:
            fix = f"Edit {config_path(env)}, or remove the setting with `codexglm config unset <setting>`."
        return Check("config", title, Status.FAIL, text, fix)
    assert loaded is not None
    settings = loaded.settings
    where = str(loaded.path) if loaded.path.is_file() else f"no {loaded.path} (defaults)"
    overrides = [f"{key} ({source})" for key, source in loaded.sources.items()
                 if source not in ("default", "config file") and key != "api_keys"]
    message = (
        f"{where}; region {settings.region}, endpoint_mode {settings.endpoint_mode}, "
        f"default model {settings.default_model}"
    )
    if overrides:
        message += f"; set by environment or flags: {', '.join(overrides)}"
    return Check("config", title, Status.OK, message)


def key_check(loaded: LoadedConfig, env: Mapping[str, str]) -> Check:
    """Where the key comes from (never the key: at most its last four characters)."""
    title = "API key"
    keys = loaded.settings.api_keys
    if not keys:
        notes = "; ".join(loaded.warnings)
        message = f"no API key: ZAI_API_KEY is not set and there is no key file at {loaded.key_file}"
        return Check("key", title, Status.FAIL, message + (f" ({notes})" if notes else ""),
                     "Store it without echo: `codexglm config set api_key -` (or `codexglm login`); it goes to a "
                     "0600 file, never into your shell history.")
    message = f"{loaded.key_source}: {', '.join(mask_secret(k) for k in keys)}"
    odd = [str(n) for n, key in enumerate(keys, 1) if _SUSPICIOUS & set(key)]
    if odd:
        return Check("key", title, Status.WARN, f"{message}; key {', '.join(odd)} contains quotes, spaces or brackets",
                     "Store the bare key, without quotes or a 'Bearer ' prefix.")
    if loaded.sources.get("api_keys") == "key file":
        try:
            mode = stat.S_IMODE(loaded.key_file.stat().st_mode)
        except OSError as exc:
            return Check("key", title, Status.WARN, f"{message}; cannot stat the file: {exc.strerror}", "")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            return Check("key", title, Status.WARN, f"{message}; the file has mode {mode:04o}, readable by other users",
                         f"chmod 600 {loaded.key_file}")
        return Check("key", title, Status.OK, f"{message}; file mode {mode:04o}")
    if loaded.key_file.is_file():
        message += f" (it overrides the key file {loaded.key_file})"
    return Check("key", title, Status.OK, message)


def gateway_check(settings: Settings, env: Mapping[str, str]) -> Check | None:
    """A member's link to a team gateway (None without one: the report stays on one screen)."""
    from ..config import MEMBER_KEY_ENV, load_member_key

    title = "team gateway"
    if not settings.gateway_url:
        return None
    key = load_member_key(env)
    if key is None:
        return Check("local.gateway", title, Status.FAIL, f"gateway_url is {settings.gateway_url} but there is no member key",
                     f"store the key your admin gave you: codexglm config set member_key - (or set {MEMBER_KEY_ENV})")
    return Check("local.gateway", title, Status.OK,
                 f"Codex talks to {settings.gateway_url} with member key {mask_secret(key)} (Z.ai: a gateway uses a "
                 "Standard or Team Plan key; a personal Coding Plan key may not be shared)")


def port_check() -> Check:
    try:
        sock = bind_loopback()
    except LaunchError as exc:
        return Check("local.port", "loopback port", Status.FAIL, str(exc),
                     "Allow listening on 127.0.0.1 (firewall, sandbox or container policy).")
    with sock:
        port = sock.getsockname()[1]
    return Check("local.port", "loopback port", Status.OK, f"127.0.0.1:{port} can be bound (the proxy takes a free port)")


def directories(settings: Settings, env: Mapping[str, str]) -> list[tuple[str, Path, str]]:
    """(name, path, how to move it) of every directory codexglm writes to."""
    state = state_dir(env)
    dirs = [
        ("config", config_dir(env), "set CODEXGLM_CONFIG_DIR to a writable directory"),
        ("state", state, "set CODEXGLM_STATE_DIR to a writable directory"),
        ("cache", cache_dir(env), "set CODEXGLM_CACHE_DIR to a writable directory"),
    ]
    logs = log_dir(settings)
    if logs != state:
        dirs.append(("logs", logs, "codexglm config set log_dir <writable dir>"))
    return dirs


def dirs_check(settings: Settings, env: Mapping[str, str]) -> Check:
    title = "directories"
    shown = []
    for name, path, move in directories(settings, env):
        problem = _unwritable(path)
        if problem is not None:
            return Check("local.dirs", title, Status.FAIL, f"{name} directory {_home(path, env)}: {problem}",
                         f"Fix its permissions, or {move}.")
        shown.append(f"{name} {_home(path, env)}")
    return Check("local.dirs", title, Status.OK, f"writable: {', '.join(shown)}")


def ledger_check(settings: Settings, env: Mapping[str, str], now: float) -> Check:
    """The usage ledger: whether it is kept, and that `codexglm usage` can read it."""
    title = "usage ledger"
    path = ledger_path(settings)
    if not settings.usage_ledger:
        return Check("local.ledger", title, Status.OK, "off (usage_ledger = false): no usage is recorded")
    if not path.exists():
        return Check("local.ledger", title, Status.OK, f"none yet; {_home(path, env)} is created by the first request")
    try:
        store = SqliteStore(path, read_only=True)
        try:
            recent = store.report(now - 30 * DAY_SECONDS, "day").totals.requests
        finally:
            store.close()
    except LedgerError as exc:
        return Check("local.ledger", title, Status.WARN, str(exc),
                     f"Move {path} aside (a new one is started), or run codexglm once to upgrade it.")
    return Check("local.ledger", title, Status.OK,
                 f"{_home(path, env)}: {recent:,} requests in the last 30 days (schema v{SCHEMA_VERSION})")


def _unwritable(path: Path) -> str | None:
    """Why codexglm cannot write in PATH (created on first use), or None."""
    if path.is_dir():
        try:
            with tempfile.TemporaryFile(dir=path, prefix=".codexglm-doctor-"):
                return None
        except OSError as exc:
            return f"cannot write ({exc.strerror or exc})"
    if path.exists():
        return "exists but is not a directory"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created ({parent} is not writable)"
    return None


def _home(path: Path, env: Mapping[str, str]) -> str:
    home = env.get("HOME")
    text = str(path)
    if home and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")):]
    return text


def features_check(settings: Settings) -> Check:
    """Web search and image descriptions in one line: whether each is on, and what it costs."""
    search = billing_note(settings)
    describer = settings.describer
    if describer is None and settings.vision_model == "auto" and settings.upstream.vision_model is not None:
        vision = (f"image descriptions: off, since {settings.upstream.vision_model} would be billed to cash with this "
                  f"key type and endpoint (`codexglm config set vision_model {settings.upstream.vision_model}` turns them on)")
    elif describer is None:
        vision = "image descriptions: off (text-only models get a note where an image was)"
    else:
        price = settings.upstream.spec_for(describer).price
        cost = "free" if price is None else f"${price[0]:g}/${price[2]:g} per M tokens in/out pay-as-you-go"
        vision = f"images for text-only models: described by {describer}, a request per new image ({cost})"
    return Check("local.features", "web search and images", Status.OK, f"{search}; {vision}")
