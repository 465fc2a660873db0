"""The `-c` overrides that point Codex at the proxy, and the provider entry they define.

Codex is configured purely with command-line overrides: nothing in the user's files
changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

# Not a reserved id (openai, ollama, lmstudio), and a display name other than "OpenAI",
# which would switch Codex to remote compaction (protocol.md §5.2).
PROVIDER_ID = "codexglm"
PROVIDER_NAME = "codexglm (GLM)"
TOKEN_ENV = "CODEXGLM_PROXY_TOKEN"

# The proxy already retries upstream failures with backoff and key rotation; Codex adds
# one transport retry for a lost connection and two stream retries for a stream that
# broke after its first byte (the proxy cannot replay those).
REQUEST_MAX_RETRIES = 1
STREAM_MAX_RETRIES = 2


class ProxySettings(Protocol):
    """The settings the overrides read (a `Settings` satisfies it)."""

    @property
    def keepalive_interval(self) -> float: ...
    @property
    def search_enabled(self) -> bool: ...


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX for the rest).
    return json.dumps(text)


def stream_idle_timeout_ms(settings: ProxySettings) -> int:
    """How long Codex waits between events: the proxy sends a keep-alive event every
    keepalive_interval seconds, so several missed ones mean it is wedged."""
    return int(max(60.0, settings.keepalive_interval * 6) * 1000)


def _provider_fields(base_url: str, settings: ProxySettings) -> list[tuple[str, str]]:
    """The provider entry's keys and TOML values: one source for `-c` and config.toml."""
    return [
        ("name", _toml_string(PROVIDER_NAME)),
        ("base_url", _toml_string(base_url)),
        ("env_key", _toml_string(TOKEN_ENV)),
        ("wire_api", '"responses"'),
        ("request_max_retries", str(REQUEST_MAX_RETRIES)),
        ("stream_max_retries", str(STREAM_MAX_RETRIES)),
        ("stream_idle_timeout_ms", str(stream_idle_timeout_ms(settings))),
        ("supports_websockets", "false"),
        # Codex 0.150 ... 0.171 run their web search through the provider's /alpha/search
        # when this and the standalone_web_search feature are both on.
        *([("supports_standalone_web_search", "true")] if settings.search_enabled else []),
    ]


def _search_fields(settings: ProxySettings) -> list[tuple[str, str]]:
    if not settings.search_enabled:
        return []
    # The feature is "under development" in Codex; its warning would be about our choice.
    return [("features.standalone_web_search", "true"), ("suppress_unstable_features_warning", "true")]


def _root_fields(catalog: Path | None, model: str | None, effort: str | None = None) -> list[tuple[str, str]]:
    fields = [("model_provider", _toml_string(PROVIDER_ID))]
    if catalog is not None:
        fields.append(("model_catalog_json", _toml_string(str(catalog))))
    if model is not None:
        fields.append(("model", _toml_string(model)))
    if effort is not None:
        fields.append(("model_reasoning_effort", _toml_string(effort)))
    return fields


def codex_overrides(
    port: int, settings: ProxySettings, *, catalog: Path | None, model: str | None, effort: str | None = None
) -> list[str]:
    """The `-c` options that point codex at the proxy (`argv.codex_arguments` decides
    where they go on the installed Codex's command line)."""
    provider = ", ".join(f"{key}={value}" for key, value in _provider_fields(f"http://127.0.0.1:{port}/v1", settings))
    (key, value), *rest = _root_fields(catalog, model, effort)  # model_provider first
    args = ["-c", f"{key}={value}", "-c", f"model_providers.{PROVIDER_ID}={{{provider}}}"]
    for key, value in [*rest, *_search_fields(settings)]:
        args += ["-c", f"{key}={value}"]
    return args


def codex_config_toml(base_url: str, settings: ProxySettings, *, catalog: Path | None, model: str | None) -> str:
    """The same provider as `codex_overrides`, as config.toml text for a Codex set up by hand
    (`codexglm serve --print-codex-config`)."""
    lines = [f"{key} = {value}" for key, value in [*_root_fields(catalog, model), *_search_fields(settings)]]
    lines += ["", f"[model_providers.{PROVIDER_ID}]"]
    lines += [f"{key} = {value}" for key, value in _provider_fields(base_url, settings)]
    return "\n".join(lines) + "\n"
