"""Effective settings and where each came from: defaults < config.toml < environment < flags.

config.toml lives in the platformdirs config dir (or CODEXGLM_CONFIG_DIR); its keys are the
`Settings` field names plus `key_file`.  API keys never go into config.toml: they come from
ZAI_API_KEY or from a 0600 key file, and the environment wins.  This module is on the
launcher's hot path, so it imports only the standard library (tomlkit only when writing).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .providers import (
    DEFAULT_PROVIDER,
    Provider,
    UnknownProvider,
    define_custom_providers,
    get_provider,
    provider_names,
)
from .providers.base import UNKNOWN_KEY_TYPE
from .settings import API_KEYS, ENV, FILE, FLAG, STORED_KEY, Origin, ProviderAccess, Settings, mask_secret

APP_NAME = "codexglm"
CONFIG_FILE = "config.toml"
KEY_FILE = "api_key"
# A team gateway member's key (see Settings.gateway_url): a file beside the API key file, or the env.
MEMBER_KEY_FILE = "member_key"
MEMBER_KEY_ENV = "CODEXGLM_MEMBER_KEY"

# Selects the provider (also a config.toml key and a setting).
PROVIDER_ENV = "CODEXGLM_PROVIDER"


def no_key_message(provider: Provider) -> str:
    """What to do when there is no key: said the same way by the launcher, serve and the proxy."""
    login = "codexglm login" if provider.name == DEFAULT_PROVIDER else f"codexglm login {provider.name}"
    return f"no {provider.vendor} API key: run `{login}` (or set {provider.key_env})"


class ConfigError(Exception):
    """A setting is invalid or the config file cannot be read or written."""


# Settings fields config.toml cannot set: keys come from the key store, the other
# providers from their own keys and variables, discovered models from the cache.
_NOT_CONFIGURABLE = frozenset({"api_keys", "other_providers", "discovered_models", "origins"})


def _setting_types() -> dict[str, type]:
    """Value type of every configurable Settings field, taken from its default."""
    types: dict[str, type] = {}
    for f in dataclasses.fields(Settings):
        if f.name in _NOT_CONFIGURABLE:
            continue
        if f.default_factory is not dataclasses.MISSING:
            types[f.name] = type(f.default_factory())
        elif f.default is None:
            types[f.name] = str  # optional string (None = built-in default)
        else:
            types[f.name] = type(f.default)
    return types


SETTING_TYPES: dict[str, type] = _setting_types()
# Keys `codexglm config set` accepts: settings, the key file location, and the key itself.
CONFIG_KEYS: tuple[str, ...] = (*SETTING_TYPES, "key_file", "api_key", "member_key")


def member_key_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / MEMBER_KEY_FILE


def load_member_key(env: Mapping[str, str] | None = None) -> str | None:
    """The team gateway member key: $CODEXGLM_MEMBER_KEY, else the member key file."""
    environ = _env(env)
    given = environ.get(MEMBER_KEY_ENV, "").strip()
    if given:
        return given
    try:
        return member_key_path(environ).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _platform_dir(kind: str) -> Path:
    import platformdirs  # only when no override is set

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    override = _env(env).get("CODEXGLM_CONFIG_DIR")
    return Path(override) if override else _platform_dir("config")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    override = _env(env).get("CODEXGLM_STATE_DIR")
    return Path(override) if override else _platform_dir("state")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    override = _env(env).get("CODEXGLM_CACHE_DIR")
    return Path(override) if override else _platform_dir("cache")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / CONFIG_FILE


def default_key_file(directory: Path, provider: str) -> Path:
    """Where `codexglm login PROVIDER` stores its key: `api_key` for GLM (as always),
    `api_key.NAME` for every other provider."""
    return directory / (KEY_FILE if provider == DEFAULT_PROVIDER else f"{KEY_FILE}.{provider}")


_PATH_KEYS = frozenset({"key_file", "log_dir"})


def coerce(key: str, value: Any) -> Any:
    """Turn a raw value (from TOML, env, a flag or the command line) into the key's type."""
    if key in _PATH_KEYS:
        # `~/logs` in config.toml means the home directory, as it would in a shell.
        return os.path.expanduser(_coerce_str(key, value))
    kind = SETTING_TYPES.get(key)
    if kind is None:
        raise ConfigError(f"unknown setting {key!r} (known: {', '.join(CONFIG_KEYS)})")
    if key == "exit_summary":
        return _coerce_exit_summary(value)
    if kind is bool:
        result: Any = _coerce_bool(key, value)
    elif kind is int or kind is float:
        result = _coerce_number(key, value, kind)
    elif kind is dict:
        result = _coerce_map(key, value)
    else:
        result = _coerce_str(key, value)
    _validate(key, result)
    return result


def _coerce_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, not {value!r}")


EXIT_SUMMARY_MODES = ("auto", "always", "never")


def _coerce_exit_summary(value: Any) -> str:
    """auto, always or never; a boolean means auto (true) or never (false)."""
    text = value if isinstance(value, str) else None
    if text is not None and text.strip().lower() in EXIT_SUMMARY_MODES:
        return text.strip().lower()
    try:
        return "auto" if _coerce_bool("exit_summary", value) else "never"
    except ConfigError:
        raise ConfigError(f"exit_summary must be one of {', '.join(EXIT_SUMMARY_MODES)} (or true/false), not {value!r}") from None


def _coerce_number(key: str, value: Any, kind: type) -> int | float:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, not {value!r}")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{key} must be an integer, not {value!r}")
    try:
        number: int | float = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a{'n integer' if kind is int else ' number'}, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key} must not be negative")
    return number


def _coerce_map(key: str, value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key} must be a JSON object of model names: {exc.msg}") from None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        raise ConfigError(f"{key} must map model names to GLM model ids")
    return {str(k): str(v).strip() for k, v in value.items()}


def _coerce_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {value!r}")
    return value.strip()


def _registered(attribute: str) -> tuple[str, ...]:
    """Every value of a provider's ATTRIBUTE (regions, endpoint modes) over all providers."""
    values: dict[str, None] = {}
    for name in provider_names():
        values.update(dict.fromkeys(getattr(get_provider(name), attribute)))
    return tuple(values)


def _validate(key: str, value: Any) -> None:
    if key == "provider" and value not in provider_names():
        raise ConfigError(f"provider must be one of {', '.join(provider_names())}, not {value!r}")
    if key == "key_type":
        known = (*_registered("key_types"), UNKNOWN_KEY_TYPE)
        if value not in known:
            raise ConfigError(f"key_type must be one of {', '.join(dict.fromkeys(known))}, not {value!r}")
    for name, attribute in (("region", "regions"), ("endpoint_mode", "endpoint_modes")):
        known = _registered(attribute)
        if key == name and value not in known:
            raise ConfigError(f"{name} must be one of {', '.join(known)}, not {value!r}")
    if key == "default_model" and not value:
        raise ConfigError("default_model must not be empty")
    if key.endswith("base_url") and value is not None:
        _check_url(key, value)


def _check_url(key: str, value: str) -> None:
    """A base URL is used as given: without a scheme and host every request would fail later."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key} must be a full URL starting with https:// or http:// "
                          f"(e.g. https://api.z.ai/api/paas/v4), not {value!r}")


def check_model(provider: Provider, key: str, model: str) -> None:
    """`config set` takes only models the provider has (a typo would otherwise surface as a
    failed request much later)."""
    if model not in provider.models:
        raise ConfigError(f"{key}: unknown {provider.vendor} model {model!r}; known: {', '.join(provider.models)}")


def _line_of(path: Path, key: str) -> int | None:
    """The line of config.toml that sets KEY, for messages: a top-level key or table
    (`model_map`), or a key inside a table (`providers.acme.base_url`)."""
    import re

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return None
    table, _, name = key.rpartition(".")
    assignment = re.compile(rf"""^\s*["']?{re.escape(name)}["']?\s*=""")
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    section = ""
    for number, line in enumerate(lines, 1):
        opened = header.match(line)
        if opened:
            section = opened[1].replace('"', "").replace("'", "")
            if section == key:
                return number  # the table itself: [model_map]
        elif section == table and assignment.match(line):
            return number
    return None


def _where(path: Path, key: str) -> str:
    line = _line_of(path, key)
    return f"{path}:{line}" if line is not None else str(path)


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    # key -> "default" | "config file" | "env NAME" | "flag" (api_keys: "key file" too)
    sources: dict[str, str]
    path: Path
    key_file: Path
    key_source: str  # where the key came from, never the key
    warnings: tuple[str, ...] = field(default=())
    # Other providers with a key: name -> where it came from (never the key).
    other_key_sources: dict[str, str] = field(default_factory=dict)


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed config.toml, or {} when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return _parse_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError and tomlkit's errors are ValueErrors
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    import tomlkit  # Python 3.10 has no tomllib

    return tomlkit.parse(text).unwrap()


def load_config(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    read_file: bool = True,
    flag_names: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Merge defaults, config.toml (unless READ_FILE is false), the environment and flags into
    Settings; FLAG_NAMES (setting -> option) lets an error name the option that set a value."""
    environ = _env(env)
    path = config_path(environ)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {key: "default" for key in SETTING_TYPES}
    origins: dict[str, Origin] = {}

    file_values = read_config_file(path) if read_file else {}
    tables = file_values.pop("providers", {})
    _define_providers(path, tables)
    key_file: Path | None = None
    file_warnings: list[str] = []
    for key, raw in file_values.items():
        if key == "api_key":
            raise ConfigError(f"{path}: do not store the API key in config.toml; use `codexglm config set api_key -`")
        if key not in SETTING_TYPES and key not in _PATH_KEYS:
            # A typo or a key of another version: the rest of the file still counts.
            file_warnings.append(f"{_where(path, key)}: unknown setting {key!r} ignored (known: {', '.join(CONFIG_KEYS)})")
            continue
        try:
            value = coerce(key, raw)
        except ConfigError as exc:
            raise ConfigError(f"{_where(path, key)}: {key}: {exc}") from None
        origins[key] = file_origin(path, key)
        if key == "key_file":
            key_file = Path(value).expanduser()
            continue
        values[key] = value
        sources[key] = "config file"

    provider = _provider(flags or {}, environ, values)
    for name, key in {PROVIDER_ENV: "provider", **provider.env_settings}.items():
        raw = environ.get(name, "").strip()
        if raw:
            try:
                values[key] = coerce(key, raw)
            except ConfigError as exc:
                raise ConfigError(f"${name}: {exc}") from None
            sources[key] = f"env {name}"
            origins[key] = Origin(ENV, name)

    for key, raw in (flags or {}).items():
        if key not in SETTING_TYPES:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = coerce(key, raw)
        sources[key] = "flag"
        origins[key] = Origin(FLAG, (flag_names or {}).get(key, key))

    # The proxy logs beside codexglm's other state unless told otherwise.
    if "log_dir" not in values:
        values["log_dir"] = str(state_dir(environ))
        if environ.get("CODEXGLM_STATE_DIR"):
            sources["log_dir"] = "env CODEXGLM_STATE_DIR"
            origins["log_dir"] = Origin(ENV, "CODEXGLM_STATE_DIR")
    provider = get_provider(values.get("provider", DEFAULT_PROVIDER))
    chosen_key_file = origins.pop("key_file", None)
    key_file = key_file or default_key_file(config_dir(environ), provider.name)
    # Each provider has its own default model unless one is configured.
    values.setdefault("default_model", provider.default_model)
    keys, sources["api_keys"], key_source, warnings = _load_keys(environ, key_file, provider.key_env)
    if keys:
        origins[API_KEYS] = _key_origin(sources["api_keys"], key_file, chosen_key_file)
    origins.update(_table_origins(path, tables, provider.name, values))
    others, other_sources, other_warnings = _other_providers(environ, provider.name, path, tables)
    settings = Settings(api_keys=keys, other_providers=others, origins=origins, **values)
    file_warnings += _unknown_models(settings, sources, path)
    return LoadedConfig(
        settings, sources, path, key_file, key_source, (*file_warnings, *warnings, *other_warnings), other_sources
    )


def file_origin(path: Path, key: str) -> Origin:
    """KEY of the config file at PATH (dotted inside a table), with its line."""
    return Origin(FILE, key, str(path), _line_of(path, key))


def _key_origin(label: str, key_file: Path, chosen: Origin | None) -> Origin:
    """Where the keys came from: the variable of LABEL ("env NAME"), else KEY_FILE, which
    config.toml's `key_file` (CHOSEN) may have named."""
    if label.startswith("env "):
        return Origin(ENV, label.removeprefix("env "))
    return Origin(STORED_KEY, str(key_file), chosen.path if chosen else "", chosen.line if chosen else None)


def _table_origins(path: Path, tables: Any, name: str, values: Mapping[str, Any]) -> dict[str, Origin]:
    """A custom provider's URL comes from its `[providers.NAME]` table unless a setting overrides it."""
    if not isinstance(tables, Mapping) or name not in tables or values.get("base_url"):
        return {}
    return {"base_url": file_origin(path, f"providers.{name}.base_url")}


def _other_providers(
    environ: Mapping[str, str], default: str, path: Path, tables: Any
) -> tuple[dict[str, ProviderAccess], dict[str, str], list[str]]:
    """Every provider besides DEFAULT with a key (its variable or its stored key) or with
    settings from its own environment variables."""
    others: dict[str, ProviderAccess] = {}
    key_sources: dict[str, str] = {}
    warnings: list[str] = []
    for name in provider_names():
        if name == default:
            continue
        provider = get_provider(name)
        key_file = default_key_file(config_dir(environ), name)
        keys, label, described, key_warnings = _load_keys(environ, key_file, provider.key_env)
        warnings += key_warnings
        overrides: dict[str, Any] = {}
        origins: dict[str, Origin] = {}
        if keys:
            key_sources[name] = described
            origins[API_KEYS] = _key_origin(label, key_file, None)
        for variable, key in provider.env_settings.items():
            raw = environ.get(variable, "").strip()
            if raw and key in SETTING_TYPES and key != "provider":
                try:
                    overrides[key] = coerce(key, raw)
                except ConfigError as exc:
                    raise ConfigError(f"${variable}: {exc}") from None
                origins[key] = Origin(ENV, variable)
        origins.update(_table_origins(path, tables, name, overrides))
        if keys or overrides:  # overrides alone: `codexglm login NAME` checks the key there
            others[name] = ProviderAccess(keys, overrides, origins)
    return others, key_sources, warnings


def _unknown_models(settings: Settings, sources: Mapping[str, str], path: Path) -> list[str]:
    """A model name the provider does not list is sent anyway (it may be newer than this
    table), but the user hears where it came from, in case it is a typo."""
    provider = settings.upstream
    named = [("default_model", settings.default_model), *((f"model_map.{k}", v) for k, v in settings.model_map.items())]
    notes = []
    for key, model in named:
        if provider.lookup(model) is not None or model.split("/", 1)[0].lower() in provider_names():
            continue  # a known model, or `PROVIDER/MODEL`: another provider's, routed there
        source = sources.get(key.split(".", 1)[0], "default")
        where = _where(path, key.split(".", 1)[0]) if source == "config file" else source
        notes.append(f"{where}: {key} = {model!r} is not a {provider.vendor} model codexglm knows "
                     f"(known: {', '.join(provider.models)}); it is sent as given")
    return notes


def _define_providers(path: Path, tables: Any) -> None:
    """Register the `[providers.NAME]` tables of the config file at PATH."""
    try:
        define_custom_providers(tables)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def split_keys(text: str) -> tuple[str, ...]:
    """A key pool: keys separated by commas or newlines; blanks dropped, order kept."""
    pool = (part.strip() for part in text.replace("\n", ",").split(","))
    return tuple(dict.fromkeys(key for key in pool if key))


def _provider(flags: Mapping[str, Any], environ: Mapping[str, str], file_values: Mapping[str, Any]) -> Provider:
    """The provider whose environment variables apply: flag, then environment, then file."""
    name = flags.get("provider") or environ.get(PROVIDER_ENV, "").strip() or file_values.get("provider") or DEFAULT_PROVIDER
    try:
        return get_provider(str(name))
    except UnknownProvider as exc:
        raise ConfigError(str(exc.args[0])) from None


def _load_keys(
    environ: Mapping[str, str], key_file: Path, key_variable: str
) -> tuple[tuple[str, ...], str, str, list[str]]:
    """(keys, source label, description, warnings); the environment wins over the file."""
    env_keys = split_keys(environ.get(key_variable, ""))
    if env_keys:
        return env_keys, f"env {key_variable}", f"env {key_variable} ({_count(env_keys)})", []
    try:
        text = key_file.read_text(encoding="utf-8")
        mode = key_file.stat().st_mode
    except FileNotFoundError:
        return (), "unset", "none", []
    except OSError as exc:
        return (), "unset", "none", [f"cannot read key file {key_file}: {exc.strerror}"]
    keys = split_keys(text)
    warnings = []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"key file {key_file} is readable by other users; run: chmod 600 {key_file}")
    if not keys:
        return (), "unset", "none", [*warnings, f"key file {key_file} is empty"]
    return keys, "key file", f"key file {key_file} ({_count(keys)})", warnings


def _count(keys: tuple[str, ...]) -> str:
    return "1 key" if len(keys) == 1 else f"{len(keys)} keys"


def format_value(key: str, settings: Settings) -> str:
    """A setting as shown by `codexglm config` (keys masked)."""
    if key == "api_keys":
        return ", ".join(mask_secret(k) for k in settings.api_keys) or "(none)"
    value = getattr(settings, key)
    if value is None:
        return "(built-in)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else "{}"
    return str(value)


# --- writing -----------------------------------------------------------------------------


def set_value(path: Path, key: str, raw: str) -> Any:
    """Store KEY = RAW in config.toml, keeping its comments and layout; returns the value.

    `model_map.NAME` sets one mapping entry; everything else is a top-level key.
    """
    import tomlkit

    with _locked(path):
        doc = _load_document(path)
        _define_providers(path, doc.unwrap().get("providers", {}))  # `provider` may name one of them
        value = _assign(doc, key, raw)
        _write_atomic(path, tomlkit.dumps(doc), mode=0o644)
    return value


def _assign(doc: Any, key: str, raw: str) -> Any:
    import tomlkit

    table, _, entry = key.partition(".")
    if entry:
        if table != "model_map":
            raise ConfigError(f"unknown setting {key!r}; only model_map takes a dotted name")
        value = coerce("model_map", {entry: raw})[entry]
        if "model_map" not in doc:
            doc["model_map"] = tomlkit.table()
        doc["model_map"][entry] = value
    else:
        value = coerce(key, raw)
        if isinstance(value, dict):
            table_item = tomlkit.table()
            table_item.update(value)
            doc[key] = table_item
        else:
            doc[key] = value
    return value


def unset_value(path: Path, key: str) -> bool:
    """Remove KEY (or model_map.NAME) from config.toml; False when it was not set."""
    import tomlkit

    if key not in CONFIG_KEYS and not key.startswith("model_map."):
        raise ConfigError(f"unknown setting {key!r} (known: {', '.join(CONFIG_KEYS)})")
    if not path.exists():
        return False
    with _locked(path):
        doc = _load_document(path)
        table, _, entry = key.partition(".")
        container: Any = doc.get(table) if entry else doc
        name = entry or key
        if container is None or name not in container:
            return False
        del container[name]
        _write_atomic(path, tomlkit.dumps(doc), mode=0o644)
    return True


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on PATH's sidecar `PATH.lock` (as git's config.lock) for a
    read-modify-write, so concurrent `config set` calls queue instead of losing writes.
    The sidecar stays: removing a lock file others wait on would let two writers in."""
    lock = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load_document(path: Path) -> Any:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return tomlkit.document()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except TOMLKitError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def store_api_key(path: Path, text: str) -> tuple[str, ...]:
    """Write a key (or comma-separated pool) to PATH with 0600 permissions."""
    keys = split_keys(text)
    if not keys:
        raise ConfigError("no API key given")
    _write_atomic(path, ",".join(keys) + "\n", mode=0o600)
    return keys


def remove_api_key(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot remove {path}: {exc.strerror}") from None
    return True


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    try:
        write_atomic(path, text, mode=mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace PATH in one step (readers never see half a file).  The temporary file is
    created with MODE (a fresh file, so a key is never readable by others, even briefly);
    an existing file keeps its mode unless MODE is the key file's 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep = stat.S_IMODE(path.stat().st_mode) if mode != 0o600 and path.exists() else None
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if keep is not None:
            os.chmod(tmp, keep)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
