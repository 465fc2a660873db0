"""Describing images for text-only models with the provider's vision model, on the same key.

Codex resends the whole history every turn, so each image would be described again and
again: descriptions are cached by image hash (bounded, least recently used out first).
Every description is bounded in time (`vision_timeout`), size (the provider's image limit)
and length (`_MAX_DESCRIPTION_TOKENS`), and is one upstream request in the request log
and the usage ledger like any other.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import trio

from ..codex.origin import RequestOrigin
from ..translate.images import (
    DESCRIBE_PROMPT,
    description_notice,
    image_key,
    image_urls,
    omitted_notice,
    with_descriptions,
)
from .proxy import Proxy
from .upstream import UpstreamFailure, upstream_json

log = logging.getLogger("codexglm.vision")

CHAT_PATH = "/chat/completions"
# GLM's vision models take images up to 5 MB; a data URL is base64, 4/3 of the bytes.
MAX_IMAGE_URL_CHARS = 5 * 1024 * 1024 * 4 // 3 + 256
_MAX_DESCRIPTION_TOKENS = 2048
_CACHE_ENTRIES = 512
_HASH_OFF_LOOP_CHARS = 1024 * 1024
# Descriptions in flight at once per proxy: a resumed history full of images must not
# take every upstream slot from the turns themselves.
_PARALLEL_DESCRIPTIONS = 4


class ImageDescriber:
    """One per proxy: the cache and the upstream calls that fill it."""

    def __init__(self, proxy: Proxy, model: str) -> None:
        self._proxy = proxy
        self.model = model
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._slots = trio.CapacityLimiter(_PARALLEL_DESCRIPTIONS)

    def cached(self, key: str) -> str | None:
        description = self._cache.get(key)
        if description is not None:
            self._cache.move_to_end(key)
        return description

    def _remember(self, key: str, description: str) -> None:
        self._cache[key] = description
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)

    async def describe_all(self, urls: list[str], origin: RequestOrigin | None) -> dict[str, str]:
        """Descriptions by image URL for the URLs that could be described (concurrently)."""
        # Hashing megabytes of data URLs every turn would stall the loop: a thread does it.
        if sum(map(len, urls)) > _HASH_OFF_LOOP_CHARS:
            keys = await trio.to_thread.run_sync(lambda: [image_key(url) for url in urls])
        else:
            keys = [image_key(url) for url in urls]
        found: dict[str, str] = {}

        async def one(url: str, key: str) -> None:
            description = self.cached(key)
            if description is None:
                async with self._slots:
                    description = await self._describe(url, origin)
            if description:
                self._remember(key, description)
                found[url] = description

        async with trio.open_nursery() as nursery:
            for url, key in zip(urls, keys):
                nursery.start_soon(one, url, key)
        return found

    def _payload(self, url: str) -> bytes:
        provider = self._proxy.upstream.provider
        spec = provider.spec_for(self.model)
        content = [{"type": "text", "text": DESCRIBE_PROMPT}, {"type": "image_url", "image_url": {"url": url}}]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "stream": False,
            provider.max_tokens_field: min(_MAX_DESCRIPTION_TOKENS, spec.max_output),
            # Thinking would only slow a description down.
            **provider.thinking(spec, "none"),
        }
        return upstream_json(body)

    async def _describe(self, url: str, origin: RequestOrigin | None) -> str | None:
        if len(url) > MAX_IMAGE_URL_CHARS:
            log.warning("image of %d characters not described (over the vision model's limit)", len(url))
            return None
        proxy = self._proxy
        record = proxy.begin("vision")
        record.model_in = record.model_out = self.model
        record.stream = False
        record.origin = origin
        completion: dict[str, Any] | None = None
        try:
            with trio.move_on_after(proxy.settings.vision_timeout):
                async with proxy.upstream.call(CHAT_PATH, self._payload(url), stream=False) as call:
                    record.call = call.stats
                    completion = await call.json()
            if completion is None:
                record.outcome, record.error = "failed", "timeout"
            else:
                record.usage, record.outcome = completion.get("usage"), "completed"
        except UpstreamFailure as failure:
            record.outcome, record.error = "failed", failure.error.codex_code
        finally:
            proxy.finish(record)
        return _message_text(completion) if completion is not None else None


def _message_text(completion: dict[str, Any]) -> str | None:
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some vision endpoints answer in parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        return None
    # GLM's vision models may wrap the answer in box tags.
    text = content.replace("<|begin_of_box|>", "").replace("<|end_of_box|>", "").strip()
    return text or None


async def prepare_images(
    proxy: Proxy, describer: ImageDescriber | None, body: dict[str, Any], origin: RequestOrigin | None
) -> tuple[dict[str, Any], str | None]:
    """BODY with its images described when the model cannot see them, and the notice for
    Codex (None when nothing new needs saying)."""
    urls = image_urls(body)
    requested = body.get("model")
    if not urls or not isinstance(requested, str):
        return body, None
    settings = proxy.settings
    provider = proxy.upstream.provider
    model = provider.resolve_model(requested, settings.default_model, settings.model_map)
    if provider.spec_for(model).vision:
        return body, None
    fresh = image_urls(body, new_only=True)
    if describer is None:
        return body, omitted_notice(len(fresh), model, _describe_fix(proxy)) if fresh else None
    descriptions = await describer.describe_all(urls, origin)
    described = sum(1 for url in fresh if url in descriptions)
    notice = description_notice(described, len(fresh) - described, describer.model, model) if fresh else None
    return with_descriptions(body, descriptions, describer.model, model), notice


def _describe_fix(proxy: Proxy) -> str:
    settings = proxy.settings
    vision = proxy.upstream.provider.vision_model
    if vision is not None and settings.vision_model == "auto" and settings.auto_vision_spends_cash:
        return (f"not described: with this key and endpoint {vision} would be billed to your cash balance; "
                f"to describe them anyway: `codexglm config set vision_model {vision}`")
    if vision is not None:
        return "describe them with a vision model: `codexglm config set vision_model auto`"
    return "set `vision_model` to a vision model of your provider to have them described"
