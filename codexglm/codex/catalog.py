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
    from ..providers.base import ModelSpec, Provider, ThinkingHook

# Bumped whenever the catalog's shape changes, so cached catalogs of older shapes are rebuilt.
CATALOG_FORMAT = 3

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

_IDENTITY = re.compile(r"\bbased on GPT-[\w.]*\w")

# Codex's effort names, lightest first.  Codex 0.150 to 0.171 all load each of them from a
# catalog (checked with `codex debug models`) and send the chosen one as `reasoning.effort`.
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_OFF = "Thinking off: answers at once, with fewer tokens"


class CatalogError(Exception):
    """The bundled catalog could not be read or the catalog could not be written."""


def reasoning_ladder(spec: ModelSpec, thinking: ThinkingHook) -> list[tuple[str, str]]:
    """The efforts `/model` offers for a model, each with what it does: exactly one per
    distinct request the provider's THINKING hook makes of them, so no two levels ask the
    model the same thing."""
    if not spec.supports_reasoning:
        return []
    groups: list[tuple[str, list[str]]] = []  # (request, efforts that produce it), in order
    for effort in _EFFORTS:
        request = json.dumps(thinking(spec, effort), sort_keys=True)
        if groups and groups[-1][0] == request:
            groups[-1][1].append(effort)
        else:
            groups.append((request, [effort]))
    # "none" asks for no thinking unless the model always thinks ("forced").
    can_stop = spec.thinking != "forced" and len(groups) > 1
    on = [efforts for _, efforts in groups if not (can_stop and "none" in efforts)]
    ladder = [("none", _OFF)] if can_stop else []
    names = [("high" if "high" in efforts else efforts[-1]) for efforts in on]
    if len(names) == 1:
        ladder.append((names[0], "Thinking on: reasons before answering (this model has one depth)"))
    else:
        for index, name in enumerate(names):
            if index == len(names) - 1:
                depth = "Thinks longest: the model's maximum"
            else:
                depth = f"Thinks more than at {names[index - 1]}" if index else "Thinks before answering"
            ladder.append((name, depth + (" (this model cannot switch thinking off)" if not can_stop and index == 0 else "")))
    return ladder


def reasoning_levels(spec: ModelSpec, thinking: ThinkingHook) -> tuple[str, ...]:
    """The Codex reasoning efforts offered for a model in `/model`."""
    return tuple(effort for effort, _ in reasoning_ladder(spec, thinking))


def default_reasoning_level(spec: ModelSpec, thinking: ThinkingHook) -> str | None:
    """The provider's own default: thinking on, at its deepest where the model has depths."""
    levels = reasoning_levels(spec, thinking)
    return levels[-1] if levels else None


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


def _fits_a_chat_model(entry: dict[str, Any]) -> bool:
    """What a chat model behind a proxy can do: plain Responses (no Responses Lite, no
    code mode) with the freeform apply_patch tool, and Codex's prompt to go with it."""
    return (
        bool(_instructions(entry))
        and not entry.get("use_responses_lite")
        and entry.get("tool_mode") in (None, "direct")
        and entry.get("apply_patch_tool_type") == "freeform"
    )


def pick_template(models: list[Any]) -> dict[str, Any]:
    """The bundled entry to build on, chosen by what it can do rather than by its name
    (gpt-5.5 today): preferably a codex-tuned one that the picker lists."""
    usable = [m for m in models if isinstance(m, dict) and _fits_a_chat_model(m)]
    if not usable:
        raise CatalogError("Codex's bundled catalog has no plain Responses model with freeform apply_patch and base instructions")

    def score(entry: dict[str, Any]) -> tuple[bool, ...]:
        return ("codex" in str(entry.get("slug", "")), entry.get("visibility") == "list")

    return max(usable, key=score)  # max keeps the first of equals: the catalog's own order


def image_support(spec: ModelSpec, describer: str | None) -> str:
    """How a model takes images, as the catalog (and so `/model`) says it."""
    if spec.vision:
        return "sees images"
    return f"images described by {describer}" if describer else "text only"


_SHIPPED = Path(__file__).with_name("template.json")


def shipped_template() -> dict[str, Any]:
    """The template codexglm ships (a verified Codex's own entry) for a Codex whose
    bundled catalog cannot be read or holds no usable entry."""
    document = json.loads(_SHIPPED.read_text(encoding="utf-8"))
    model: dict[str, Any] = document["model"]
    return model


def catalog_entry(
    spec: ModelSpec,
    template: dict[str, Any],
    *,
    vendor: str,
    thinking: ThinkingHook,
    slug: str | None = None,
    priority: int = 0,
    describer: str | None = None,
) -> dict[str, Any]:
    """One catalog entry: Codex's prompt and tool shape from TEMPLATE, the model's facts from SPEC.

    DESCRIBER is the vision model the proxy has describe images for text-only models (None: off)."""
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
    ladder = reasoning_ladder(spec, thinking)
    window = spec.context_window
    name = slug or spec.id
    entry.update(
        slug=name,
        display_name=spec.display_name if name == spec.id else f"{name} ({spec.display_name})",
        description=f"{vendor} {spec.display_name} through codexglm ({image_support(spec, describer)})",
        base_instructions=instructions,
        context_window=window,
        max_context_window=window,
        auto_compact_token_limit=int(window * AUTO_COMPACT_SHARE),
        effective_context_window_percent=template.get("effective_context_window_percent") or 95,
        # Images always reach the proxy: it describes them for text-only models, or leaves
        # a note and tells the user (the description above says which models see them).
        input_modalities=["text", "image"],
        supported_reasoning_levels=[{"effort": level, "description": text} for level, text in ladder],
        default_reasoning_level=ladder[-1][0] if ladder else None,
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


def slug_providers(settings: Settings, slugs: Iterable[str]) -> dict[str, Provider]:
    """The provider of each slug that another provider than the default one serves."""
    known = settings.known_models()
    others = {}
    for slug in slugs:
        provider = route_model(settings.model_map.get(slug, slug), known, settings.provider)[0]
        if provider != settings.provider:
            others[slug] = get_provider(provider)
    return others


def catalog_document(
    template: dict[str, Any],
    slugs: dict[str, ModelSpec],
    vendor: str,
    thinking: ThinkingHook,
    others: Mapping[str, Provider] | None = None,
    describer: str | None = None,
) -> dict[str, Any]:
    """The catalog; OTHERS names the provider of slugs the default provider does not serve
    (their vendor and thinking controls are that provider's)."""
    others = others or {}
    return {
        "models": [
            catalog_entry(
                spec,
                template,
                slug=slug,
                priority=index,
                vendor=others[slug].vendor if slug in others else vendor,
                thinking=others[slug].thinking if slug in others else thinking,
                describer=describer,
            )
            for index, (slug, spec) in enumerate(slugs.items())
        ]
    }


def _digest(
    slugs: dict[str, ModelSpec],
    vendor: str,
    thinking: ThinkingHook,
    describer: str | None,
    others: Mapping[str, Provider] | None = None,
) -> str:
    """Cache key: everything the catalog is made of besides Codex's version (in the name)."""
    others = others or {}
    facts = [CATALOG_FORMAT, vendor, describer,
             [(slug, repr(spec), others[slug].name if slug in others else "",
               reasoning_ladder(spec, others[slug].thinking if slug in others else thinking))
              for slug, spec in slugs.items()]]
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
    on_fallback: Callable[[str], None] | None = None,
) -> Path:
    """The catalog file for this Codex and these settings, built on first use.

    Catalogs live in the cache dir; when it cannot be written, SCRATCH() names a private
    directory to use instead (its owner removes it).  When Codex's bundled catalog gives
    no template, ON_FALLBACK (if given) is told why and the shipped template is used; the
    result is named apart, so the next launch asks Codex again.
    """
    directory = cache_dir or default_cache_dir()
    slugs = catalog_slugs(settings, dict.fromkeys(extra_models), settings.discovered_models)
    vendor, thinking = settings.upstream.vendor, settings.upstream.thinking
    others = slug_providers(settings, slugs)
    describer = settings.describer
    name = _version_tag(codex) + _digest(slugs, vendor, thinking, describer, others) + ".json"
    path = directory / name
    if path.is_file():
        return path
    try:
        template = pick_template(bundled_catalog(codex)["models"])
    except CatalogError as exc:
        if on_fallback is None:
            raise
        on_fallback(f"{exc}; using the model template codexglm ships")
        template = shipped_template()
        name = name.replace(".json", "-shipped.json")
        path = directory / name
    text = json.dumps(catalog_document(template, slugs, vendor, thinking, others, describer), ensure_ascii=False)
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
