"""What a chat-completions upstream is, as data plus small hooks.

The translation core is shared by every chat-only provider; what differs (models and their
limits, where reasoning text lives, how thinking is switched, which request fields exist,
error codes and their wording, endpoints, plan usage) is described by a `Provider`.  A
provider is a new instance in its own folder, registered by name; never a new `if`.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

# How a model family takes the reasoning switch:
#   toggle  - thinking on or off
#   effort  - an effort enum, and off
#   forced  - an effort enum, cannot be switched off
#   none    - no thinking at all
ThinkingStyle = Literal["toggle", "effort", "forced", "none"]
# How replayed assistant messages carry reasoning text when there are no details to hand back:
#   field - in `reasoning_replay_field`
#   tags  - inline, as `<think>...</think>` at the start of the content
#   none  - not at all (the upstream ignores or rejects it)
ReasoningReplay = Literal["field", "tags", "none"]


@dataclass(frozen=True)
class ModelSpec:
    id: str
    display_name: str
    context_window: int
    max_output: int
    thinking: ThinkingStyle = "toggle"
    vision: bool = False
    # The model streams tool-call arguments as they are generated when asked to.
    tool_stream: bool = True
    # USD per million tokens: input, cached input, output (None = free / not billed per token).
    price: tuple[float, float, float] | None = None
    # Models whose chat schema rejects response_format (vision models).
    json_mode: bool = True
    # Served only on a subscription plan (no pay-as-you-go price yet).
    plan_only: bool = False

    @property
    def supports_reasoning(self) -> bool:
        return self.thinking != "none"


# Failure kinds: what went wrong, independent of any provider's codes.
AUTH = "auth"
ACCOUNT = "account"
PLAN = "plan"
QUOTA = "quota"
RATE_LIMIT = "rate_limit"
OVERLOADED = "overloaded"
CONTEXT = "context"
CONTENT_FILTER = "content_filter"
UNKNOWN_MODEL = "unknown_model"
BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
TRANSPORT = "transport"


class ErrorCode(NamedTuple):
    """One provider error code: its kind, and wording where the code says more than the kind."""

    kind: str
    cause: str | None = None
    fix: str | None = None


def error_codes(kind: str, *codes: int | range) -> dict[str, ErrorCode]:
    """Table rows for CODES (numbers or ranges) that share KIND and its wording."""
    flat = [c for item in codes for c in (item if isinstance(item, range) else (item,))]
    return {str(code): ErrorCode(kind) for code in flat}


class EndpointSettings(Protocol):
    """The settings a provider's endpoint hooks read (a `Settings` satisfies it)."""

    @property
    def region(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def coding_base_url(self) -> str | None: ...
    @property
    def endpoint_mode(self) -> str: ...


@dataclass(frozen=True)
class QuotaWindow:
    """One plan-usage window (e.g. a 5-hour token window) as a provider reports it."""

    kind: str  # "tokens" for token windows; anything else is informational
    minutes: int | None
    name: str  # "5-hour", "weekly", ...
    used_percent: float | None
    used: float | None
    total: float | None
    resets_at: float | None  # unix seconds


TOKENS_WINDOW = "tokens"

# What a request on an endpoint is paid with.
CASH = "cash"  # the account's money balance (pay-as-you-go)
PLAN_QUOTA = "plan"  # a subscription's quota


@dataclass(frozen=True)
class KeyType:
    """A kind of API key and what it pays with on each endpoint (by endpoint label)."""

    name: str
    label: str
    billing: Mapping[str, str]
    note: str = ""


UNKNOWN_KEY_TYPE = "unknown"


@dataclass(frozen=True)
class SearchHit:
    """One web search result as a provider's search service returns it."""

    title: str
    url: str
    snippet: str
    published: str | None = None


@dataclass(frozen=True)
class SearchService:
    """A provider's web search API: where it is, how a query is asked and read back, its cost.

    `price_per_call` is what one query costs in USD; None means the user's plan includes it
    (which is why per-call search stays off until the user opts in)."""

    url: Callable[[EndpointSettings], str]
    request: Callable[[str, int, Sequence[str], int | None], dict[str, Any]]
    parse: Callable[[Any], list[SearchHit]]
    price_per_call: float | None


ThinkingHook = Callable[[ModelSpec, "str | None"], dict[str, Any]]
ChatExtrasHook = Callable[[ModelSpec, bool, bool], dict[str, Any]]
EndpointsHook = Callable[[EndpointSettings], list[tuple[str, str]]]
QuotaUrlHook = Callable[[EndpointSettings], str]
QuotaParser = Callable[[Any], list[QuotaWindow]]


def no_thinking(spec: ModelSpec, effort: str | None) -> dict[str, Any]:
    return {}


def no_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Provider:
    name: str
    # How the provider is named to users ("Z.ai", "DeepSeek") and its models ("GLM").
    vendor: str
    model_family: str
    # `owned_by` of the models in /v1/models listings.
    model_owner: str
    models: Mapping[str, ModelSpec]
    default_model: str
    # Environment variable with the API key, and the ones overriding settings.
    key_env: str
    env_settings: Mapping[str, str]
    endpoints: EndpointsHook
    regions: Mapping[str, str] = field(default_factory=dict)
    endpoint_modes: Sequence[str] = ("default",)
    # Models a subscription plan answers with another model (the plan's own routing).
    plan_routed: Mapping[str, str] = field(default_factory=dict)
    # Ids the upstream serves although the table does not know them yet (new releases).
    passthrough_prefixes: tuple[str, ...] = ()
    # Delta/message fields that carry reasoning text, first match wins.
    reasoning_fields: tuple[str, ...] = ("reasoning_content",)
    # Field the upstream accepts reasoning in on replayed assistant messages.
    reasoning_replay_field: str = "reasoning_content"
    reasoning_replay: ReasoningReplay = "field"
    # Content may open with inline `<think>...</think>` reasoning (MiniMax without reasoning_split).
    inline_think_tags: bool = False
    # Field with structured reasoning entries the upstream wants back unmodified (OpenRouter, MiniMax).
    reasoning_details_field: str | None = None
    # Thinking mode rejects a replayed tool-call message without the reasoning field, even empty (DeepSeek).
    reasoning_required_on_tool_calls: bool = False
    thinking: ThinkingHook = no_thinking
    # Thinking can only be switched on in streaming requests (DashScope refuses it otherwise).
    thinking_streams_only: bool = False
    # Request fields beyond the shared ones (e.g. a provider's tool-argument streaming switch).
    chat_extras: ChatExtrasHook = no_extras
    max_tokens_field: str = "max_tokens"
    max_tools: int = 128
    temperature_range: tuple[float, float] = (0.0, 2.0)
    top_p_range: tuple[float, float] = (0.0, 1.0)
    # Ask for usage in streams with stream_options.include_usage.
    stream_usage_option: bool = True
    # Where usage reports cached prompt tokens (dotted paths into `usage`), first present wins.
    cached_tokens_fields: tuple[str, ...] = ("prompt_tokens_details.cached_tokens",)
    # Replayed tool-call arguments must be a JSON object, or the whole history is refused (MiniMax 2013).
    replay_json_arguments: bool = False
    # Request fields the upstream rejects; removed from every body.
    rejected_fields: frozenset[str] = frozenset()
    # Rewrite tool schemas without $ref/anyOf/oneOf for upstreams that choke on them.
    simplify_schemas: bool = False
    # The provider's own billed search tool; None when it has none.
    web_search_tool: Mapping[str, Any] | None = None
    # The provider's web search API, served to Codex at /alpha/search; None when it has none.
    search: SearchService | None = None
    # The model (same key) that describes images for models that cannot see them.
    vision_model: str | None = None
    # Error codes -> kind and wording; codes that mean "wrong endpoint for this key".
    error_codes: Mapping[str, ErrorCode] = field(default_factory=dict)
    endpoint_switch_codes: frozenset[str] = frozenset()
    # Codes that mean the key's plan does not include the requested model.
    plan_model_codes: frozenset[str] = frozenset()
    # Key types whose billing differs by endpoint; an endpoint not listed spends cash.
    key_types: Mapping[str, KeyType] = field(default_factory=dict)
    # Phrases of a message that say more than its code (checked first), and kinds by HTTP
    # status for errors whose code the table does not know.
    message_codes: tuple[tuple[str, ErrorCode], ...] = ()
    status_codes: Mapping[int, ErrorCode] = field(default_factory=dict)
    # finish_reason values that mean a failed answer -> failure kind.
    failed_finish_reasons: Mapping[str, str] = field(default_factory=lambda: {"content_filter": CONTENT_FILTER})
    # Seconds to wait on a rate limit the provider gives no hint for.
    rate_limit_retry_seconds: float = 5.0
    # UTC offset (hours) of reset times written in the provider's error messages, and its name.
    message_utc_offset: float = 0.0
    message_time_name: str = "local time"
    # Plan usage windows (None: the provider has no usage API).
    quota_url: QuotaUrlHook | None = None
    parse_quota: QuotaParser | None = None
    # Endpoint labels whose usage a plan covers (the ledger marks it as plan usage, not cash).
    plan_endpoints: frozenset[str] = frozenset()
    # Wording of the fixes in error messages: how to set the key and the model.
    key_fix: str = ""
    model_fix: str = "Set the model with `-m <model>`."
    base_url_fix: str = "Check the base URL (`codexglm config set base_url <url>`)."

    def billing(self, key_type: str, endpoint_label: str) -> str:
        """What a request with a key of KEY_TYPE pays with on an endpoint; unknown: cash."""
        known = self.key_types.get(key_type)
        return known.billing.get(endpoint_label, CASH) if known is not None else CASH

    def plan_pays(self, key_type: str, endpoint_label: str) -> bool:
        """Does a plan, not cash, pay for a request on this endpoint?  By the key's type
        where the provider has key types, else by `plan_endpoints`."""
        if self.key_types:
            return self.billing(key_type, endpoint_label) == PLAN_QUOTA
        return endpoint_label in self.plan_endpoints

    def fallback_allowed(self, key_type: str, source: str, target: str, *, paid: bool = False) -> bool:
        """Billing safety: an endpoint fallback never moves a request from an endpoint that
        does not spend cash onto one that does, unless the user opted in (PAID)."""
        return paid or self.billing(key_type, target) != CASH or self.billing(key_type, source) == CASH

    def lookup(self, model_id: str) -> ModelSpec | None:
        """The spec for a model id (case-insensitive), or None when the table does not know it.

        Tables are keyed by the provider's own spelling (`MiniMax-M3`), usually lower case.
        """
        wanted = model_id.strip().lower()
        return self.models.get(wanted) or next((spec for key, spec in self.models.items() if key.lower() == wanted), None)

    def spec_for(self, model_id: str) -> ModelSpec:
        """The spec for any upstream id; unknown ids get a conservative text-model default."""
        known = self.lookup(model_id)
        if known is not None:
            return known
        return ModelSpec(model_id, model_id, 128 * 1024, 32 * 1024, "toggle", tool_stream=False)

    def resolve_model(self, requested: str | None, default_model: str, model_map: Mapping[str, str] | None = None) -> str:
        """Map the model name Codex asked for onto one of this provider's model ids.

        User mappings win, then known ids pass through (lower-cased), ids with a known
        prefix pass through (releases newer than the table), and everything else (OpenAI
        slugs, typos) falls back to the default: an unknown id upstream only fails later.
        """
        name = (requested or "").strip()
        lowered = name.lower()
        for key, value in (model_map or {}).items():
            if key.lower() == lowered:
                return value
        # The table's own spelling goes upstream (ids are matched case-insensitively).
        known = self.lookup(name) or (self.lookup(lowered.rsplit("/", 1)[1]) if "/" in name else None)
        if known is not None:
            return known.id
        if self.passthrough_prefixes and lowered.startswith(self.passthrough_prefixes):
            return lowered
        return (model_map or {}).get("*", default_model)
