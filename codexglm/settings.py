"""Runtime settings shared by the proxy, the launcher and doctor.

`Settings` is a plain frozen value: `codexglm.config` builds it from defaults, the config
file, the environment and flags; everything below only reads it.  It never prints its API
keys (see `__repr__`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .providers import DEFAULT_PROVIDER, Provider, get_provider
from .providers.base import UNKNOWN_KEY_TYPE

if TYPE_CHECKING:
    from .translate.options import TranslateOptions


def mask_secret(secret: str) -> str:
    """Show at most the last four characters of a secret."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-4:]


# Where a setting's value came from (`Origin.kind`).
DEFAULT = "default"
FILE = "file"  # a key of config.toml (`name` is the key, dotted inside a table)
ENV = "env"  # an environment variable (`name`)
FLAG = "flag"  # a codexglm command-line option (`name`, e.g. --glm-model)
STORED_KEY = "key file"  # the API key's 0600 file (`name` is its path)
# The Origin key of the API keys (a Settings field too, but never shown as a value).
API_KEYS = "api_keys"


@dataclass(frozen=True)
class Origin:
    """Where one setting's value came from, said the way the user would go and change it,
    so an error the value causes can name its place (server/blame.py)."""

    kind: str = DEFAULT
    name: str = ""
    # The config file (FILE; STORED_KEY when config.toml's `key_file` chose the file) and its line.
    path: str = ""
    line: int | None = None

    def place(self) -> str:
        """Where, as a phrase to follow a value: "in FILE:LINE", "from $VARIABLE", "from --glm-model",
        "from PATH (stored by `codexglm login`)", or "(the default)"."""
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        if self.kind == FILE:
            return f"in {where}"
        if self.kind == ENV:
            return f"from ${self.name}"
        if self.kind == FLAG:
            return f"from {self.name}"
        if self.kind == STORED_KEY:
            return f"from {self.name} ({f'named by `key_file` in {where}' if self.path else 'stored by `codexglm login`'})"
        return "(the default)"


@dataclass(frozen=True)
class ProviderAccess:
    """A provider besides the default one that the user has a key for: its keys, and the
    settings its own environment variables give (e.g. DEEPSEEK_BASE_URL -> base_url)."""

    api_keys: tuple[str, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # Where its keys and overrides came from (see Settings.origins).
    origins: Mapping[str, Origin] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ProviderAccess(api_keys={tuple(mask_secret(k) for k in self.api_keys)!r}, overrides={dict(self.overrides)!r})"


# Settings that belong to the default provider only; another provider starts from its own.
_PROVIDER_OWN = ("base_url", "coding_base_url", "default_model", "model_map", "key_type")


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
    # The key's type where billing depends on it (Z.ai: providers/glm/keytypes.py), and
    # whether the endpoint fallback may move a request onto a path that spends cash.
    key_type: str = UNKNOWN_KEY_TYPE
    paid_fallback: bool = False
    default_model: str = get_provider(DEFAULT_PROVIDER).default_model
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
    # The other providers the user has a key for (their models are served beside ours) or
    # has set variables for.
    other_providers: Mapping[str, ProviderAccess] = field(default_factory=dict)
    # Model ids each provider's `/models` listed beyond its table (codexglm.discovery fills it).
    discovered_models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The usage ledger (usage.sqlite3 in the state dir): rows older or beyond these caps are pruned.
    usage_ledger: bool = True
    ledger_retention_days: int = 90
    ledger_max_bytes: int = 64 * 1024 * 1024
    # The line on stderr after Codex exits: auto (not under `exec --json`), always, never.
    exit_summary: str = "auto"
    # A team gateway (`codexglm serve --team` elsewhere): Codex talks to it with the member
    # key instead of to a local proxy.  The key is in its own 0600 file (`config set member_key -`).
    gateway_url: str | None = None
    # Where each value came from (field name, or API_KEYS), filled by codexglm.config; a key
    # missing here is at its default.  Errors the value causes name that place.
    origins: Mapping[str, Origin] = field(default_factory=dict)

    def origin(self, key: str) -> Origin:
        return self.origins.get(key, Origin())

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

    def provider_names(self) -> tuple[str, ...]:
        """The default provider, then every other provider the user has a key for."""
        others = (name for name, access in self.other_providers.items() if access.api_keys and name != self.provider)
        return (self.provider, *others)

    def known_models(self) -> dict[str, frozenset[str]]:
        """Model ids (lower case) by provider, for `route_model`: the table and what `/models`
        listed of every provider the user has a key for.  A bare id of a provider without a
        key is one more name Codex may send, so it lands on the default provider's default."""
        return {
            name: frozenset(m.lower() for m in (*get_provider(name).models, *self.discovered_models.get(name, ())))
            for name in self.provider_names()
        }

    def for_provider(self, name: str) -> Settings:
        """These settings as seen by requests to provider NAME: its keys, its own overrides,
        its own default model; shared limits, timeouts and logging stay."""
        if name == self.provider:
            return self
        access = self.other_providers.get(name, ProviderAccess(()))
        defaults = {f.name: f.default for f in dataclasses.fields(Settings) if f.name in _PROVIDER_OWN}
        defaults["model_map"] = {}
        defaults["default_model"] = get_provider(name).default_model
        return self.replace(
            **{**defaults, **access.overrides},
            provider=name,
            api_keys=access.api_keys,
            other_providers={},
            origins={**{k: v for k, v in self.origins.items() if k not in (*_PROVIDER_OWN, API_KEYS)}, **access.origins},
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
        """The model that describes images for text-only models, or None when that is off;
        "auto" is off where a description would be billed to cash (`auto_vision_spends_cash`)."""
        if self.vision_model == "off" or (self.vision_model == "auto" and self.auto_vision_spends_cash):
            return None
        return self.upstream.vision_model if self.vision_model == "auto" else self.vision_model

    @property
    def auto_vision_spends_cash(self) -> bool:
        """Would the provider's own vision model be paid from the cash balance: a priced model
        on the endpoint requests go to first, which this key's type bills in cash (a Standard
        key anywhere, a Compatible one on Z.ai's general path)?  No plan quota covers it then."""
        model = self.upstream.vision_model
        if model is None or self.upstream.spec_for(model).price is None:
            return False
        return not self.upstream.plan_pays(self.key_type, self.endpoints()[0][0])

    @property
    def quota_url(self) -> str | None:
        """Where the provider reports plan usage, if it does."""
        hook = self.upstream.quota_url
        return hook(self) if hook is not None else None
