"""Codex's tools -> chat function tools.

Namespaces (MCP servers) flatten to reversible names, freeform tools become a function
with one string parameter whose description carries the grammar, hosted tools the
upstream cannot run are dropped, and schemas are made acceptable to the provider.
"""

from __future__ import annotations

import logging
from typing import Any

from ..providers.base import Provider
from . import codec
from .errors import RequestError
from .names import ToolEntry, ToolNames
from .options import Notices, TranslateOptions
from .schema import ensure_object_schema, simplify_schema

log = logging.getLogger("codexglm.translate")
_CUSTOM_INPUT_DESCRIPTION = "The raw input for the tool, exactly in the format described above (a plain string, not JSON)."
# Tools Codex declares that run on OpenAI's side (or that need a provider opt-in): dropped.
_HOSTED_TOOLS = frozenset({"web_search", "web_search_preview", "image_generation", "local_shell", "file_search",
                           "code_interpreter", "computer_use_preview", "mcp"})


def as_list(value: object) -> list[Any]:
    """VALUE if it is a list; Codex always sends lists, hostile clients might not."""
    return value if isinstance(value, list) else []


def convert_tools(
    body: dict[str, Any], items: list[dict[str, Any]], options: TranslateOptions
) -> tuple[list[dict[str, Any]], ToolNames]:
    """The chat tools for a request and the map of their names, remembered per route."""
    raw_tools = body.get("tools")
    if raw_tools is not None and not isinstance(raw_tools, list):
        raise RequestError("`tools` must be an array", "tools")
    if body.get("tool_choice") == "none":
        return [], ToolNames()
    # Responses-Lite ships tools inside the input; tool_search loads deferred ones there.
    loaded = [item.get("tools") for item in items if item.get("type") in ("additional_tools", "tool_search_output")]
    key = codec.dumps([raw_tools, loaded])  # all a route's translation of them depends on
    cached = options.tool_cache.lookup(key)
    if cached is not None:
        return cached
    names = ToolNames()
    converter = ToolConverter(names, options.provider, options.web_search, options.notices)
    entry = converter.convert([*(raw_tools or []), *(spec for tools in loaded for spec in as_list(tools))]), names
    options.tool_cache.store(key, entry)
    return entry


class ToolConverter:
    def __init__(self, names: ToolNames, provider: Provider, web_search: bool, notices: Notices) -> None:
        self._notices = notices
        self._names = names
        self._provider = provider
        self._web_search = web_search
        self._tools: list[dict[str, Any]] = []

    def convert(self, specs: list[Any]) -> list[dict[str, Any]]:
        for spec in specs:
            self._add(spec, None)
        limit = self._provider.max_tools
        if len(self._tools) > limit:
            log.warning("dropping %d tools beyond the upstream limit of %d", len(self._tools) - limit, limit)
        return self._tools[:limit]

    def _add(self, spec: object, namespace: str | None) -> None:
        if not isinstance(spec, dict):
            return
        kind = spec.get("type")
        name = spec.get("name")
        if kind == "namespace" and isinstance(name, str):
            # Responses-Lite wraps plain top-level functions in a namespace called "functions".
            inner_ns = None if name == "functions" else name
            for inner in as_list(spec.get("tools")):
                self._add(inner, inner_ns)
        elif kind == "function" and isinstance(name, str):
            self._function(self._names.register(name, namespace, "function"), spec.get("description"), spec.get("parameters"))
        elif kind == "custom" and isinstance(name, str):
            self._function(self._names.register(name, namespace, "custom"), _custom_description(spec), _CUSTOM_PARAMETERS)
        elif kind == "tool_search":
            self._function(self._names.register("tool_search", None, "tool_search"), spec.get("description"), spec.get("parameters"))
        elif kind == "web_search" and self._web_search and self._provider.web_search_tool:
            self._tools.append(dict(self._provider.web_search_tool))
        elif kind in _HOSTED_TOOLS or kind in ("namespace", "function", "custom"):
            log.debug("dropping a tool of type %r the upstream cannot run (or without a name)", kind)
        elif self._notices.first(f"tool:{kind}"):
            log.warning("dropping tools of unknown type %r (a newer Codex?); the model will not see them", str(kind)[:80])

    def _function(self, entry: ToolEntry, description: object, parameters: object) -> None:
        schema = ensure_object_schema(parameters)
        if self._provider.simplify_schemas:
            schema = simplify_schema(schema)
        text = description if isinstance(description, str) and description.strip() else entry.name
        if entry.namespace:
            text = f"[{entry.namespace}] {text}"
        self._tools.append({"type": "function", "function": {"name": entry.flat, "description": text, "parameters": schema}})


_CUSTOM_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": _CUSTOM_INPUT_DESCRIPTION}},
    "required": ["input"],
}


def _custom_description(spec: dict[str, Any]) -> str:
    description = spec.get("description")
    text = description if isinstance(description, str) else ""
    fmt = spec.get("format")
    if isinstance(fmt, dict) and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax") or "grammar"
        text += (
            "\n\nPass the raw text as the `input` parameter. It must match this "
            f"{syntax} grammar:\n```\n{fmt['definition']}\n```"
        )
    else:
        text += "\n\nPass the raw text as the `input` parameter."
    return text.strip()


