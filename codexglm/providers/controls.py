"""Request switches that several providers share, as named data a provider (or a
`[providers.NAME]` table in config.toml) picks instead of writing a hook, and the shape
of an OpenAI-compatible provider (`compatible_provider`).

Thinking: how a request turns thinking on or off (`TOGGLES`) and where an effort level goes
(`effort_field`, a dotted path).  The model's `ThinkingStyle` says which of the two it takes:
toggle models only the switch, effort models both, forced models only the effort.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import EndpointSettings, EndpointsHook, ModelSpec, Provider, ThinkingHook

# Codex efforts that mean "do not think".
_OFF = ("none", "minimal")

# Toggle name -> (fields when on, fields when off).
TOGGLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "thinking-type": ({"thinking": {"type": "enabled"}}, {"thinking": {"type": "disabled"}}),
    "thinking-adaptive": ({"thinking": {"type": "adaptive"}}, {"thinking": {"type": "disabled"}}),
    "enable-thinking": ({"enable_thinking": True}, {"enable_thinking": False}),
    "reasoning-object": ({"reasoning": {"enabled": True}}, {"reasoning": {"enabled": False}}),
    "none": ({}, {}),
}


def _merged(base: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """BASE with VALUE set at a dotted PATH (nested objects are copied, never shared)."""
    result = {key: dict(item) if isinstance(item, dict) else item for key, item in base.items()}
    head, _, rest = path.partition(".")
    if not rest:
        result[head] = value
        return result
    inner = result.get(head)
    result[head] = _merged(inner if isinstance(inner, dict) else {}, rest, value)
    return result


def thinking_control(toggle: str, effort_field: str | None = None, efforts: Mapping[str, str] | None = None) -> ThinkingHook:
    """A thinking hook: TOGGLE switches thinking, EFFORTS maps Codex's effort onto the
    provider's values (an effort it does not list is not sent) at EFFORT_FIELD."""
    if toggle not in TOGGLES:
        raise ValueError(f"unknown thinking toggle {toggle!r} (known: {', '.join(TOGGLES)})")
    on, off = TOGGLES[toggle]
    levels = dict(efforts or {})

    def fields(spec: ModelSpec, effort: str | None) -> dict[str, Any]:
        level = effort.lower() if isinstance(effort, str) else None
        if spec.thinking == "none":
            return {}
        if spec.thinking != "forced" and level in _OFF:
            return dict(off)
        result = dict(on) if spec.thinking != "forced" else {}
        if spec.thinking != "toggle" and effort_field and level in levels:
            result = _merged(result, effort_field, levels[level])
        return result

    return fields


def region_endpoints(regions: Mapping[str, str]) -> EndpointsHook:
    """One endpoint: the base URL override, else the region's URL (the first region by default)."""
    default = next(iter(regions.values()))

    def endpoints(settings: EndpointSettings) -> list[tuple[str, str]]:
        return [("default", (settings.base_url or regions.get(settings.region, default)).rstrip("/"))]

    return endpoints


def compatible_provider(
    *,
    name: str,
    vendor: str,
    models: Mapping[str, ModelSpec],
    default_model: str,
    regions: Mapping[str, str],
    key_env: str,
    base_url_env: str,
    key_help: str = "",
    **quirks: Any,
) -> Provider:
    """An OpenAI-compatible provider: one base URL per region, overridden by BASE_URL_ENV,
    a key in KEY_ENV, and the fixes worded from those; QUIRKS are the remaining `Provider` fields."""
    quirks.setdefault("model_family", vendor)
    quirks.setdefault("model_owner", name)
    return Provider(
        name=name,
        vendor=vendor,
        models=models,
        default_model=default_model,
        key_env=key_env,
        env_settings={base_url_env: "base_url"},
        endpoints=region_endpoints(regions),
        regions=dict(regions),
        key_fix=f"Check {key_env}{key_help}.",
        base_url_fix=f"Check {base_url_env}: the URL before /chat/completions, e.g. {next(iter(regions.values()))}.",
        **quirks,
    )
