"""Responses API request body -> Chat Completions request body.

Codex sends its whole history on every turn as typed items; chat upstreams want role
messages that obey strict sequence rules (`messages`).  This module reads the request's
fields, converts the tools (`tools`) and asks the provider for the fields only it has
(thinking switches, tool-argument streaming), so a request never fails upstream because
of its shape.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from ..providers.base import ModelSpec, Provider
from .errors import RequestError
from .messages import MessageBuilder
from .options import ChatRequest, TranslateOptions, TurnContext
from .tools import convert_tools

log = logging.getLogger("codexglm.translate")

# What Codex asks for when it compacts remotely (only if a provider opts in to it).
COMPACTION_PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Summarise the conversation so far "
    "as a handoff for another model that will resume the task: progress and key decisions, "
    "important context and user preferences, what remains to be done, and any critical data "
    "or references needed to continue. Be concise and structured."
)


def build_chat_request(body: object, options: TranslateOptions) -> ChatRequest:
    """Translate one Responses request; raises RequestError for bodies Codex would never send."""
    provider = options.provider
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object", None)
    requested = body.get("model")
    if not isinstance(requested, str) or not requested.strip():
        raise RequestError("`model` is required and must be a non-empty string", "model")
    items = _input_items(body.get("input"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("`stream` must be a boolean", "stream")
    _note_unknown_fields(body, options)

    model = provider.resolve_model(requested, options.default_model, options.model_map)
    spec = provider.spec_for(model)
    tools, names = convert_tools(body, items, options)

    compaction = bool(items) and items[-1].get("type") == "compaction_trigger"
    builder = MessageBuilder(spec, names, provider, options.notices)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        builder.add_system(instructions)
    for item in items:
        builder.add_item(item)
    schema_note, response_format = _output_format(body.get("text"), spec)
    if schema_note:
        builder.extend_instructions(schema_note)
    if compaction:
        builder.add_user_text(COMPACTION_PROMPT)
    messages = builder.finish()

    chat: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream and provider.stream_usage_option:
        chat["stream_options"] = {"include_usage": True}
    with_tools = bool(tools) and not compaction
    if with_tools:
        chat["tools"] = tools
        chat["tool_choice"] = "auto"
    chat.update(provider.chat_extras(spec, stream, with_tools))
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if stream or not provider.thinking_streams_only:
        chat.update(provider.thinking(spec, effort))
    if response_format:
        chat["response_format"] = response_format
    _copy_sampling(body, chat, spec, provider)
    for rejected in provider.rejected_fields:
        chat.pop(rejected, None)

    context = TurnContext(
        model=model,
        requested_model=requested,
        spec=spec,
        tools=names,
        provider=provider,
        show_reasoning=options.show_reasoning,
        compaction=compaction,
        prompt_chars=builder.chars,
    )
    return ChatRequest(body=chat, context=context, stream=stream, model=model, requested_model=requested)


# Every top-level field Codex sends, and what becomes of it: read below, or without a
# chat equivalent (OpenAI-side storage, caching, tiers and client metadata).
_READ_FIELDS = frozenset({"model", "input", "instructions", "stream", "tools", "tool_choice", "reasoning", "text",
                          "temperature", "top_p", "max_output_tokens"})
_IGNORED_FIELDS = frozenset({"parallel_tool_calls", "store", "include", "prompt_cache_key", "service_tier",
                             "client_metadata", "metadata", "user", "truncation", "previous_response_id",
                             "access_programs", "context_management", "stream_options", "prompt_cache_retention",
                             "safety_identifier", "background"})


def _note_unknown_fields(body: dict[str, Any], options: TranslateOptions) -> None:
    """Fields no rule names are ignored (a newer Codex's additions must not fail a turn),
    each logged once."""
    for name in body.keys() - _READ_FIELDS - _IGNORED_FIELDS:
        if options.notices.first(f"field:{name}"):
            log.info("ignoring the request field %r (no chat equivalent known)", name[:80])


def _input_items(raw: object) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise RequestError("`input` is required and must be a string or an array of items", "input")
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RequestError(f"input[{index}] must be an object", f"input[{index}]")
        items.append(item)
    return items


def _copy_sampling(body: dict[str, Any], chat: dict[str, Any], spec: ModelSpec, provider: Provider) -> None:
    for key, (low, high) in (("temperature", provider.temperature_range), ("top_p", provider.top_p_range)):
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            chat[key] = min(max(float(value), low), high)
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        chat[provider.max_tokens_field] = min(limit, spec.max_output)


def _output_format(text: object, spec: ModelSpec) -> tuple[str, dict[str, Any] | None]:
    """`text.format` (codex exec --output-schema) -> an instruction and the upstream's JSON mode."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return "", None
    kind = fmt.get("type")
    json_mode = {"type": "json_object"} if spec.json_mode else None
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = json.dumps(fmt["schema"], ensure_ascii=False, separators=(",", ":"))
        note = (
            "Your final answer must be a single JSON object that validates against this JSON Schema, "
            f"with no surrounding prose or code fences:\n{schema}"
        )
        return note, json_mode
    if kind == "json_object":
        return "Your final answer must be a single valid JSON object.", json_mode
    return "", None
