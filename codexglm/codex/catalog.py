"""The Codex model catalog (`model_catalog_json`) for the provider's models.

A catalog replaces Codex's built-in list, so every entry needs Codex's own prompt: we take
the base instructions and tool settings from the installed Codex's bundled catalog
(`codex debug models --bundled`) and the real limits from the provider's model table.
The result is cached per Codex version, catalog format and model facts, so a Codex update
brings its new prompt along while a normal launch only stats one file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import cache_dir as default_cache_dir
from ..config import write_atomic
from ..discovery import listed_models
from ..providers import get_provider, model_slug, route_model
from ..settings import Settings
from .version import CodexInfo

if TYPE_CHECKING:
    from ..providers.base import ModelSpec

# Bumped whenever the catalog's shape changes, so cached catalogs of older shapes are rebuilt.
CATALOG_FORMAT = 2

# Share of the context window after which Codex compacts (Codex clamps it to 90 %); the
# rest is left for the answer and the compaction request itself.
AUTO_COMPACT_SHARE = 0.85

# OpenAI-only fields of a bundled entry that must not reach a GLM entry: upgrade prompts,
# service tiers, OpenAI tool modes (code mode, multi-agent v2) and internal markers.
_OPENAI_ONLY = (
    "upgrade",
    "availability_nux",
    "service_tiers",
    "additional_speed_tiers",
    "default_service_tier",
    "comp_hash",
    "model_specialty",
    "multi_agent_reasoning_effort",
    "multi_agent_version",
    "auto_review_model_override",
    "guardian",
    "tool_mode",
)

_LEVEL_TEXT = {
    "none": "Thinking off",
    "minimal": "Thinking off",
    "low": "Light reasoning",
    "medium": "Balanced reasoning",
    "high": "Deep reasoning",
    "xhigh": "Extra deep reasoning",
    "max": "GLM's maximum reasoning",
}
_IDENTITY = re.compile(r"\bbased on GPT-[\w.]*\w")


class CatalogError(Exception):
    """The bundled catalog could not be read or the catalog could not be written."""


def reasoning_levels(spec: ModelSpec) -> tuple[str, ...]:
    """Codex reasoning efforts offered for a model (Codex 0.169 vocabulary).

    Toggle models think at one depth; `none`/`minimal` (config only) switch thinking off.
    """
    if spec.thinking == "forced":
        return ("low", "high", "max")
    if spec.thinking == "effort":
        return ("low", "medium", "high", "xhigh", "max")
    if spec.thinking == "toggle":
        return ("low", "medium", "high")
    return ()


def _level_text(spec: ModelSpec, level: str) -> str:
    if spec.thinking == "toggle":
        return "Thinking on (this model has a single reasoning depth)"
    return _LEVEL_TEXT.get(level, level)


def default_reasoning_level(spec: ModelSpec) -> str | None:
    """The provider's own default: thinking on, and the top effort where the model takes one."""
    levels = reasoning_levels(spec)
    if not levels:
        return None
    return "medium" if spec.thinking == "toggle" else levels[-1]


def bundled_catalog(codex: CodexInfo) -> dict[str, Any]:
    """The installed Codex's own catalog (`codex debug models --bundled`)."""
    try:
        done = subprocess.run(
            [codex.path, "debug", "models", "--bundled"],
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CatalogError(f"cannot run `codex debug models --bundled`: {exc}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise CatalogError(
            f"`codex debug models --bundled` failed (exit {done.returncode})" + (f": {detail[-1]}" if detail else "")
        )
    try:
        catalog = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"`codex debug models --bundled` printed no JSON: {exc.msg}") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("models"), list):
        raise CatalogError("`codex debug models --bundled` printed no model list")
    return catalog


def _instructions(entry: dict[str, Any]) -> str:
    messages = entry.get("model_messages") or {}
    template = messages.get("instructions_template") if isinstance(messages, dict) else None
    return template or entry.get("base_instructions") or ""


def pick_template(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The bundled entry closest to what a chat model behind a proxy can do: a plain
    Responses model (no Responses Lite, no code mode) with the freeform apply_patch tool,
    preferably a codex-tuned one that the picker lists."""
    usable = [m for m in models if isinstance(m, dict) and _instructions(m)]
    if not usable:
        raise CatalogError("Codex's bundled catalog has no model with base instructions")

    def score(entry: dict[str, Any]) -> tuple[bool, ...]:
        return (
            not entry.get("use_responses_lite"),
            entry.get("tool_mode") in (None, "direct"),
            entry.get("apply_patch_tool_type") == "freeform",
            "codex" in str(entry.get("slug", "")),
            entry.get("visibility") == "list",
        )

    return max(usable, key=score)  # max keeps the first of equals: the catalog's own order


def catalog_entry(
    spec: ModelSpec, template: dict[str, Any], *, vendor: str, slug: str | None = None, priority: int = 0
) -> dict[str, Any]:
    """One catalog entry: Codex's prompt and tool shape from TEMPLATE, the model's facts from SPEC."""
    entry = copy.deepcopy(template)
    for name in _OPENAI_ONLY:
        entry.pop(name, None)
    identity = f"based on {spec.display_name}"
    instructions = _IDENTITY.sub(identity, _instructions(template), count=1)
    messages = template.get("model_messages")
    if isinstance(messages, dict) and messages.get("instructions_template"):
        entry["model_messages"] = {
            "instructions_template": instructions,
            "instructions_variables": messages.get("instructions_variables"),
        }
    else:
        entry.pop("model_messages", None)
    levels = reasoning_levels(spec)
    window = spec.context_window
    name = slug or spec.id
    entry.update(
        slug=name,
        display_name=spec.display_name if name == spec.id else f"{name} ({spec.display_name})",
        description=f"{vendor} {spec.display_name} through codexglm",
        base_instructions=instructions,
        context_window=window,
        max_context_window=window,
        auto_compact_token_limit=int(window * AUTO_COMPACT_SHARE),
        effective_context_window_percent=template.get("effective_context_window_percent") or 95,
        input_modalities=["text", "image"] if spec.vision else ["text"],
        supported_reasoning_levels=[{"effort": level, "description": _level_text(spec, level)} for level in levels],
        default_reasoning_level=default_reasoning_level(spec),
        supports_reasoning_summaries=spec.supports_reasoning,
        supports_reasoning_summary_parameter=spec.supports_reasoning,
        default_reasoning_summary="auto" if spec.supports_reasoning else "none",
        supports_reasoning_effort_updates=False,
        apply_patch_tool_type="freeform",
        web_search_tool_type="text",
        shell_type=template.get("shell_type") or "unified_exec",
        use_responses_lite=False,
        support_verbosity=False,
        default_verbosity=None,
        supports_parallel_tool_calls=True,
        supports_search_tool=False,
        supports_image_detail_original=False,
        experimental_supported_tools=[],
        visibility="list",
        supported_in_api=True,
        priority=priority,
    )
    return entry


def catalog_slugs(
    settings: Settings, extra_models: Iterable[str] = (), discovered: Mapping[str, Iterable[str]] | None = None
) -> dict[str, ModelSpec]:
    """Every model name Codex may ask for -> the spec of the provider's model behind it.

    Every model of every provider the user has a key for (its table plus the ids its
    `/models` listed, DISCOVERED), under slugs unique across providers (`model_slug`); then
    the configured default, model-map names and any model given on the command line, so
    Codex never falls back to generic metadata.
    """
    listed: dict[str, ModelSpec] = {}
    for name in settings.provider_names():
        models = listed_models(get_provider(name), list((discovered or {}).get(name, ())))
        listed.update((model_slug(name, model_id, settings.provider), model.spec) for model_id, model in models.items())
    # Each provider's default model first: Codex offers sub-agents only the first few models.
    slugs: dict[str, ModelSpec] = {}
    for name in settings.provider_names():
        default = settings.for_provider(name).default_model
        spec = get_provider(name).lookup(default)
        slug = model_slug(name, spec.id if spec is not None else default, settings.provider)
        if slug in listed:
            slugs[slug] = listed[slug]
    slugs.update(listed)
    known = settings.known_models()
    for name in [settings.default_model, *settings.model_map, *extra_models]:
        if name and name != "*" and name.lower() not in {slug.lower() for slug in slugs}:
            provider_name, model = route_model(settings.model_map.get(name, name), known, settings.provider)
            route = settings.for_provider(provider_name)
            provider = route.upstream
            slugs[name] = provider.spec_for(provider.resolve_model(model, route.default_model, route.model_map))
    return slugs


def slug_vendors(settings: Settings, slugs: Iterable[str]) -> dict[str, str]:
    """The vendor of each slug another provider than the default one serves."""
    known = settings.known_models()
    vendors = {}
    for slug in slugs:
        provider = route_model(settings.model_map.get(slug, slug), known, settings.provider)[0]
        if provider != settings.provider:
            vendors[slug] = get_provider(provider).vendor
    return vendors


def catalog_document(
    bundled: dict[str, Any], slugs: dict[str, ModelSpec], vendor: str, vendors: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The catalog; VENDORS names the vendor of slugs not served by VENDOR's provider."""
    template = pick_template(bundled["models"])
    return {
        "models": [
            catalog_entry(spec, template, slug=slug, priority=index, vendor=(vendors or {}).get(slug, vendor))
            for index, (slug, spec) in enumerate(slugs.items())
        ]
    }


def _digest(slugs: dict[str, ModelSpec], vendor: str) -> str:
    """Cache key: everything the catalog is made of besides Codex's version (in the name)."""
    facts = [CATALOG_FORMAT, vendor, [(slug, repr(spec)) for slug, spec in slugs.items()]]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def _version_tag(codex: CodexInfo) -> str:
    return f"catalog-{'.'.join(map(str, codex.version))}-"


def build_catalog(
    codex: CodexInfo,
    settings: Settings,
    *,
    extra_models: Iterable[str] = (),
    cache_dir: Path | None = None,
    scratch: Callable[[], Path] | None = None,
) -> Path:
    """The catalog file for this Codex and these settings, built on first use.

    Catalogs live in the cache dir; when it cannot be written, SCRATCH() names a private
    directory to use instead (its owner removes it).
    """
    directory = cache_dir or default_cache_dir()
    slugs = catalog_slugs(settings, dict.fromkeys(extra_models), settings.discovered_models)
    vendor = settings.upstream.vendor
    vendors = slug_vendors(settings, slugs)
    name = _version_tag(codex) + _digest(slugs, json.dumps(vendors, sort_keys=True) if vendors else vendor) + ".json"
    path = directory / name
    if path.is_file():
        return path
    text = json.dumps(catalog_document(bundled_catalog(codex), slugs, vendor, vendors), ensure_ascii=False)
    try:
        write_atomic(path, text)
    except OSError as exc:
        if scratch is None:
            raise CatalogError(f"cannot write the model catalog to {directory}: {exc.strerror or exc}") from None
        path = scratch() / name
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise CatalogError(f"cannot write the model catalog to {path.parent}: {exc.strerror or exc}") from None
        return path
    _prune(directory, current=path, tag=_version_tag(codex))
    return path


# Catalogs kept per Codex version: one per configuration a user switches between.
_KEEP_PER_VERSION = 4


def _prune(directory: Path, *, current: Path, tag: str) -> None:
    """Drop catalogs of other Codex versions, and all but the newest few of this one."""
    same: list[tuple[float, Path]] = []
    for old in directory.glob("catalog-*.json"):
        if not old.name.startswith(tag):
            old.unlink(missing_ok=True)
        elif old != current:
            try:
                same.append((old.stat().st_mtime, old))
            except OSError:
                continue
    for _, old in sorted(same, reverse=True)[_KEEP_PER_VERSION - 1 :]:
        old.unlink(missing_ok=True)
