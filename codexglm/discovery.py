"""Models on day one: each provider's `/models` answer, cached, merged with its data table.

A provider's table knows limits and prices; its `/models` answer knows what it serves
today (GLM-5.4 was served the day it came out, before any table had it).  The answer is
cached per provider in the cache dir and refreshed at most daily (`codexglm models
--refresh` forces it); a model the answer lists but the table does not gets the
provider's conservative defaults (`Provider.spec_for`) and a note, and works.  Reading
the cache is cheap and never touches the network, so the launcher and the proxy use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import cache_dir, write_atomic
from .providers import get_provider
from .providers.base import ModelSpec, Provider
from .settings import API_KEYS, Settings

REFRESH_SECONDS = 24 * 3600.0
_TIMEOUT = 8.0
# Ids in `/models` lists that are not chat models (Z.ai's China list carries `embedding-3`).
_NOT_CHAT = ("embedding", "rerank", "tts", "whisper", "moderation")
_UNKNOWN_NOTE = "listed by {vendor} but not in codexglm's table: conservative limits ({context}k context, text only)"


class DiscoveryError(Exception):
    """A provider's model list could not be fetched or read (one line, no secrets)."""


@dataclass(frozen=True)
class ListedModel:
    """A model as `codexglm models` and the catalog see it."""

    spec: ModelSpec
    note: str = ""


def _cache_file(provider: str, directory: Path | None) -> Path:
    return (directory or cache_dir()) / f"models-{provider}.json"


def cached_ids(provider: str, directory: Path | None = None) -> tuple[list[str], float | None]:
    """The ids the last `/models` answer listed, and when it was fetched (None: never)."""
    try:
        document = json.loads(_cache_file(provider, directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], None
    ids = document.get("ids") if isinstance(document, dict) else None
    fetched = document.get("fetched_at") if isinstance(document, dict) else None
    if not isinstance(ids, list) or not isinstance(fetched, (int, float)):
        return [], None
    return [i for i in ids if isinstance(i, str)], float(fetched)


def is_stale(fetched_at: float | None, now: float | None = None) -> bool:
    return fetched_at is None or (now if now is not None else time.time()) - fetched_at >= REFRESH_SECONDS


def parse_model_ids(document: Any) -> list[str]:
    """Chat model ids of a `/models` answer, in order, as the provider spells them
    (`MiniMax-M3`), without duplicates (however they are cased).

    Both shapes providers use are read: OpenAI's `{"data": [{"id": ...}]}` and the Codex
    root's `{"models": [{"slug": ...}]}`; anything else yields nothing."""
    entries: list[Any] = []
    if isinstance(document, Mapping):
        for field, name in (("data", "id"), ("models", "slug")):
            items = document.get(field)
            if isinstance(items, list):
                entries += [item.get(name) for item in items if isinstance(item, Mapping)]
    first: dict[str, str] = {}  # lower-case id -> its first spelling
    for entry in entries:
        model_id = entry.strip() if isinstance(entry, str) else ""
        if model_id and not any(marker in model_id.lower() for marker in _NOT_CHAT):
            first.setdefault(model_id.lower(), model_id)
    return list(first.values())


def fetch_ids(settings: Settings, *, transport: Any = None) -> list[str]:
    """GET `/models` on the provider's first endpoint with its first key (sync: a CLI call)."""
    import httpx

    provider = settings.upstream
    if not settings.api_keys:
        raise DiscoveryError(f"no {provider.vendor} key")
    label, base = settings.endpoints()[0]
    try:
        with httpx.Client(transport=transport, timeout=_TIMEOUT) as client:
            response = client.get(base + "/models", headers={"Authorization": f"Bearer {settings.api_keys[0]}"})
    except httpx.HTTPError as exc:
        where = _where_set(settings, label, None)
        raise DiscoveryError(f"cannot reach {provider.vendor} for its model list ({type(exc).__name__}){where}") from None
    if response.status_code != 200:
        where = _where_set(settings, label, response.status_code)
        raise DiscoveryError(f"{provider.vendor} /models answered HTTP {response.status_code}{where}")
    try:
        return parse_model_ids(response.json())
    except ValueError:
        raise DiscoveryError(f"{provider.vendor} /models answered something that is not JSON") from None


def _where_set(settings: Settings, label: str, status: int | None) -> str:
    """The clause naming where the key (401, 403) or the URL (no answer, 404) behind a failed
    listing was set, when the user set it; "" otherwise."""
    from .server.blame import URL, Attempt, clause  # only on failure: the launch path stays light

    names = {None: (URL,), 404: (URL,), 401: (API_KEYS,), 403: (API_KEYS,)}.get(status, ())
    note = clause(settings, names, Attempt(endpoint=label, key=1))
    return f" {note}" if note else ""


def store_ids(provider: str, ids: list[str], directory: Path | None = None, *, now: float | None = None) -> None:
    document = {"fetched_at": now if now is not None else time.time(), "ids": ids}
    write_atomic(_cache_file(provider, directory), json.dumps(document))


def refresh(settings: Settings, directory: Path | None = None, *, force: bool = False, transport: Any = None) -> list[str]:
    """The provider's listed ids: from the cache while fresh, else fetched and cached."""
    ids, fetched = cached_ids(settings.provider, directory)
    if force or is_stale(fetched):
        ids = fetch_ids(settings, transport=transport)
        try:
            store_ids(settings.provider, ids, directory)
        except OSError:
            pass  # an unwritable cache only means asking again next time
    return ids


def _routed_note(provider: Provider, model_id: str) -> str:
    target = provider.plan_routed.get(model_id)
    return f"{provider.vendor}'s subscription plan answers it with {target}" if target else ""


def listed_models(provider: Provider, discovered: list[str]) -> dict[str, ListedModel]:
    """The provider's table, then every discovered id it lacks (with its note)."""
    models = {model_id: ListedModel(spec, _routed_note(provider, model_id)) for model_id, spec in provider.models.items()}
    for model_id in discovered:
        if provider.lookup(model_id) is None and model_id not in models:
            spec = provider.spec_for(model_id)
            note = _UNKNOWN_NOTE.format(vendor=provider.vendor, context=spec.context_window // 1024)
            models[model_id] = ListedModel(spec, note)
    return models


def with_discovered(settings: Settings, directory: Path | None = None) -> Settings:
    """SETTINGS knowing the cached model lists of every provider the user has a key for, so
    the catalog lists them and the proxy serves them (no network: the cache only)."""
    discovered = {}
    for name in settings.provider_names():
        provider = get_provider(name)
        extra = tuple(i for i in cached_ids(name, directory)[0] if provider.lookup(i) is None)
        if extra:
            discovered[name] = extra
    return settings.replace(discovered_models=discovered)
