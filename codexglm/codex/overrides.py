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


def codex_overrides(port: int, settings: ProxySettings, *, catalog: Path | None, model: str | None) -> list[str]:
    """The `-c` options that point codex at the proxy (`argv.codex_arguments` decides
    where they go on the installed Codex's command line)."""
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
            # Codex 0.150 ... 0.171 run their web search through the provider's /alpha/search
            # when this and the standalone_web_search feature are both on.
            *(["supports_standalone_web_search=true"] if settings.search_enabled else []),
        )
    )
    args = ["-c", f"model_provider={_toml_string(PROVIDER_ID)}", "-c", f"model_providers.{PROVIDER_ID}={{{provider}}}"]
    if settings.search_enabled:
        # The feature is "under development" in Codex; its warning would be about our choice.
        args += ["-c", "features.standalone_web_search=true", "-c", "suppress_unstable_features_warning=true"]
    if catalog is not None:
        args += ["-c", f"model_catalog_json={_toml_string(str(catalog))}"]
    if model is not None:
        args += ["-c", f"model={_toml_string(model)}"]
    return args
