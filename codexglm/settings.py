"""Runtime settings shared by the proxy, the launcher and doctor.

`Settings` is a plain frozen value: `codexglm.config` builds it from defaults, the config
file, the environment and flags; everything below only reads it.  It never prints its API
keys (see `__repr__`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .providers import DEFAULT_PROVIDER, Provider, get_provider

if TYPE_CHECKING:
    from .translate.options import TranslateOptions


def mask_secret(secret: str) -> str:
    """Show at most the last four characters of a secret."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-4:]


@dataclass(frozen=True)
class Settings:
    """Everything the proxy needs to talk to GLM and to Codex."""

    api_keys: tuple[str, ...] = ()
    # The registered provider every request goes to.
    provider: str = DEFAULT_PROVIDER
    region: str = "international"
    # Explicit endpoint overrides (full URL up to the version, without /chat/completions).
    base_url: str | None = None
    coding_base_url: str | None = None
    endpoint_mode: str = "coding-only"
    default_model: str = "glm-5.1"
    # Codex's model_reasoning_effort for default_model (None: the catalog's default); a
    # `/model` choice lands here and in default_model, never in the user's Codex config.
    reasoning_effort: str | None = None
    # Extra request-model -> GLM-model mappings; merged over the built-in table.
    model_map: dict[str, str] = field(default_factory=dict)
    # Web search through the provider's search API, billed per call: off until the user opts
    # in.  On, Codex runs its own web search through the proxy (/alpha/search), and a hosted
    # web_search tool from other clients maps to the provider's chat search tool.
    web_search: bool = False
    # Pages the model opens through web search: fetched directly, at most this much and this long.
    web_fetch_max_bytes: int = 2 * 1024 * 1024
    web_fetch_timeout: float = 15.0
    # Images for models that cannot see them: described by this model on the same key
    # ("auto": the provider's vision model, "off": the model gets a note instead).
    vision_model: str = "auto"
    vision_timeout: float = 60.0
    show_reasoning: bool = True
    # Upstream behaviour.
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    # Seconds a stream may wait for its first byte (headers included) before it is retried
    # once and then failed: a silent GLM must not hang a turn for read_timeout.
    first_byte_timeout: float = 45.0
    max_attempts: int = 4
    retry_budget: float = 60.0
    key_cooldown: float = 60.0
    max_concurrency: int = 64
    keepalive_interval: float = 10.0
    # Inbound limits.
    max_body_bytes: int = 64 * 1024 * 1024
    # Upstream answers larger than this end with an error instead of being buffered whole
    # (GLM's longest answer, 128k tokens as SSE deltas, is well under it).
    max_answer_bytes: int = 48 * 1024 * 1024
    # Seconds one write to a client may take before the client is dropped (one that stops
    # reading would otherwise hold its upstream stream and slot forever).
    send_timeout: float = 60.0
    # Observability.
    log_requests: bool = True
    log_bodies: bool = False
    log_dir: str | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    # The usage ledger (usage.sqlite3 in the state dir): rows older or beyond these caps are pruned.
    usage_ledger: bool = True
    ledger_retention_days: int = 90
    ledger_max_bytes: int = 64 * 1024 * 1024
    # The line on stderr after Codex exits: auto (not under `exec --json`), always, never.
    exit_summary: str = "auto"
    # A team gateway (`codexglm serve --team` elsewhere): Codex talks to it with the member
    # key instead of to a local proxy.  The key is in its own 0600 file (`config set member_key -`).
    gateway_url: str | None = None

    def __repr__(self) -> str:  # keys never reach a log through repr()
        fields = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "api_keys":
                value = tuple(mask_secret(k) for k in value)
            fields.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(fields)})"

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def translate_options(self) -> TranslateOptions:
        # Imported here: the launcher reads Settings on its hot path and never translates.
        from .translate.options import TranslateOptions

        return TranslateOptions(
            provider=self.upstream,
            default_model=self.default_model,
            model_map=dict(self.model_map),
            web_search=self.web_search,
            show_reasoning=self.show_reasoning,
        )

    @property
    def upstream(self) -> Provider:
        return get_provider(self.provider)

    def endpoints(self) -> list[tuple[str, str]]:
        """Upstream base URLs in the order they are tried: (label, url)."""
        return self.upstream.endpoints(self)

    @property
    def search_enabled(self) -> bool:
        """Codex's web search runs through the proxy: opted in, and the provider has a search API."""
        return self.web_search and self.upstream.search is not None

    @property
    def describer(self) -> str | None:
        """The model that describes images for text-only models, or None when that is off."""
        if self.vision_model == "off":
            return None
        return self.upstream.vision_model if self.vision_model == "auto" else self.vision_model

    @property
    def quota_url(self) -> str | None:
        """Where the provider reports plan usage, if it does."""
        hook = self.upstream.quota_url
        return hook(self) if hook is not None else None
