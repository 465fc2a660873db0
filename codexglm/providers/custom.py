"""A provider defined only by a `[providers.NAME]` table in config.toml, no code.

The table names the base URL, the key variable and the models, and picks the same quirk
switches the built-in providers use (see `Provider`), e.g.::

    [providers.acme]
    base_url = "https://llm.acme.example/v1"
    key_env = "ACME_API_KEY"
    models = ["acme-coder", { id = "acme-large", context_window = 262144, thinking = "effort" }]
    inline_think_tags = true
    thinking_toggle = "thinking-type"
    effort_field = "reasoning_effort"
    efforts = { high = "high", max = "max" }

Everything is checked here; a bad table is a `ValueError` whose message names the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from .base import ModelSpec, Provider, ReasoningReplay, ThinkingStyle
from .controls import TOGGLES, compatible_provider, thinking_control

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULT_CONTEXT = 128 * 1024
_DEFAULT_OUTPUT = 32 * 1024

# Provider fields a table may set directly, with their value type.
_SWITCHES: dict[str, type] = {
    "reasoning_replay_field": str,
    "inline_think_tags": bool,
    "reasoning_details_field": str,
    "reasoning_required_on_tool_calls": bool,
    "replay_json_arguments": bool,
    "thinking_streams_only": bool,
    "max_tokens_field": str,
    "stream_usage_option": bool,
    "simplify_schemas": bool,
    "max_tools": int,
}
_LISTS = ("reasoning_fields", "cached_tokens_fields", "rejected_fields")
_OWN = ("base_url", "key_env", "base_url_env", "models", "default_model", "vendor", "model_family",
        "context_window", "max_output", "thinking", "reasoning_replay", "thinking_toggle", "effort_field", "efforts")
KNOWN_KEYS = (*_OWN, *_SWITCHES, *_LISTS)
_MODEL_KEYS = ("id", "display_name", "context_window", "max_output", "thinking", "vision", "price")


def _typed(where: str, value: Any, kind: type) -> Any:
    # bool is an int in Python; a TOML `true` is never a number here.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where} must be a {kind.__name__}, not {value!r}")
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where} must not be empty")
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
        raise ValueError(f"{where} must be positive")
    return value


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise ValueError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list of strings")
    return tuple(_typed(f"{where}[{i}]", item, str) for i, item in enumerate(value))


def _only(where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")


def _model(where: str, entry: Any, table: Mapping[str, Any]) -> ModelSpec:
    if isinstance(entry, str):
        entry = {"id": entry}
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a model id or a table with `id`")
    _only(where, entry, _MODEL_KEYS)
    model_id = _typed(f"{where}.id", entry.get("id"), str)
    style = entry.get("thinking", table.get("thinking", "toggle"))
    return ModelSpec(
        model_id,
        _typed(f"{where}.display_name", entry.get("display_name", model_id), str),
        _typed(f"{where}.context_window", entry.get("context_window", table.get("context_window", _DEFAULT_CONTEXT)), int),
        _typed(f"{where}.max_output", entry.get("max_output", table.get("max_output", _DEFAULT_OUTPUT)), int),
        _choice(f"{where}.thinking", style, get_args(ThinkingStyle)),
        vision=_typed(f"{where}.vision", entry.get("vision", False), bool),
        tool_stream=False,
        price=_price(f"{where}.price", entry.get("price")),
    )


def _price(where: str, value: Any) -> tuple[float, float, float] | None:
    """USD per million tokens as [input, cached input, output]; None when the table gives none."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise ValueError(f"{where} must be [input, cached input, output] in USD per million tokens")
    return float(value[0]), float(value[1]), float(value[2])


def custom_provider(name: str, table: Any) -> Provider:
    """The provider a `[providers.NAME]` table describes."""
    where = f"providers.{name}"
    if not _NAME.fullmatch(name):
        raise ValueError(f"{where}: a provider name is lower-case letters, digits, - and _")
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    _only(where, table, KNOWN_KEYS)
    base_url = _typed(f"{where}.base_url", table.get("base_url"), str)
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"{where}.base_url must be an http(s) URL (the part before /chat/completions)")
    key_env = _typed(f"{where}.key_env", table.get("key_env", f"{name.upper().replace('-', '_')}_API_KEY"), str)
    url_env = _typed(f"{where}.base_url_env", table.get("base_url_env", f"{name.upper().replace('-', '_')}_BASE_URL"), str)
    for label, variable in (("key_env", key_env), ("base_url_env", url_env)):
        if not _VARIABLE.fullmatch(variable):
            raise ValueError(f"{where}.{label} must be an environment variable name, not {variable!r}")
    raw_models = table.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise ValueError(f"{where}.models must list at least one model")
    models = [_model(f"{where}.models[{i}]", entry, table) for i, entry in enumerate(raw_models)]
    table_models = {spec.id: spec for spec in models}
    default = _typed(f"{where}.default_model", table.get("default_model", models[0].id), str)
    chosen = next((spec for spec in models if spec.id.lower() == default.lower()), None)
    if chosen is None:
        raise ValueError(f"{where}.default_model {default!r} is not one of its models")
    vendor = _typed(f"{where}.vendor", table.get("vendor", name), str)
    toggle = _choice(f"{where}.thinking_toggle", table.get("thinking_toggle", "none"), tuple(TOGGLES))
    efforts = table.get("efforts", {})
    if not isinstance(efforts, Mapping) or not all(isinstance(v, str) and v for v in efforts.values()):
        raise ValueError(f"{where}.efforts must map Codex efforts to the provider's effort values")
    effort_field = _typed(f"{where}.effort_field", table["effort_field"], str) if "effort_field" in table else None
    switches = {key: _typed(f"{where}.{key}", table[key], kind) for key, kind in _SWITCHES.items() if key in table}
    lists: dict[str, Any] = {key: _strings(f"{where}.{key}", table[key]) for key in _LISTS if key in table}
    if "rejected_fields" in lists:
        lists["rejected_fields"] = frozenset(lists["rejected_fields"])
    replay: ReasoningReplay = _choice(f"{where}.reasoning_replay", table.get("reasoning_replay", "field"),
                                      get_args(ReasoningReplay))
    return compatible_provider(
        name=name,
        vendor=vendor,
        model_family=_typed(f"{where}.model_family", table.get("model_family", vendor), str),
        models=table_models,
        default_model=chosen.id,
        regions={"international": base_url},
        key_env=key_env,
        base_url_env=url_env,
        thinking=thinking_control(toggle, effort_field, dict(efforts)),
        reasoning_replay=replay,
        model_fix=f"Set the model with `-m <model>`; {name} serves {', '.join(spec.id for spec in models)}.",
        **switches,
        **lists,
    )
