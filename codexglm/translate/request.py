"""Responses API request body -> Chat Completions request body.

Codex sends its whole history on every turn as typed items; GLM wants role messages that
obey strict sequence rules (no `developer` role, no empty content, every `tool_calls`
entry answered in order by a `tool` message, at least one `user` message).  This module
maps every item type Codex 0.169 can send and repairs sequences GLM would reject, so a
request never fails upstream because of its shape.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError
from .models import ModelSpec, resolve_model, spec_for
from .names import ToolEntry, ToolNames
from .provider import GLM, Provider
from .reasoning import decode_compaction, reasoning_item_text
from .schema import ensure_object_schema, simplify_schema

log = logging.getLogger("codexglm.translate")

# What Codex asks for when it compacts remotely (only if a provider opts in to it).
COMPACTION_PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Summarise the conversation so far "
    "as a handoff for another model that will resume the task: progress and key decisions, "
    "important context and user preferences, what remains to be done, and any critical data "
    "or references needed to continue. Be concise and structured."
)
_COMPACTION_SUMMARY_PREFIX = "Summary of the earlier part of this conversation (context compaction):\n"
_EMPTY_TOOL_OUTPUT = "(no output)"
_MISSING_TOOL_OUTPUT = "(no output recorded: the call was interrupted or aborted)"
_CUSTOM_INPUT_DESCRIPTION = "The raw input for the tool, exactly in the format described above (a plain string, not JSON)."


@dataclass(frozen=True)
class TranslateOptions:
    default_model: str = "glm-5.1"
    model_map: dict[str, str] = field(default_factory=dict)
    web_search: bool = False
    show_reasoning: bool = True
    provider: Provider = GLM

    @classmethod
    def from_settings(cls, settings: Any) -> TranslateOptions:
        return cls(
            default_model=settings.default_model,
            model_map=dict(settings.model_map),
            web_search=settings.web_search,
            show_reasoning=settings.show_reasoning,
        )


@dataclass
class TurnContext:
    """What the response side needs to know about the request it answers."""

    model: str
    requested_model: str
    spec: ModelSpec
    tools: ToolNames
    provider: Provider = GLM
    show_reasoning: bool = True
    compaction: bool = False
    # Size of the prompt in characters, for a usage estimate if the upstream reports none.
    prompt_chars: int = 0


@dataclass
class ChatRequest:
    body: dict
    context: TurnContext
    stream: bool
    model: str
    requested_model: str


def build_chat_request(body: object, options: TranslateOptions | None = None) -> ChatRequest:
    """Translate one Responses request; raises RequestError for bodies Codex would never send."""
    options = options or TranslateOptions()
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

    model = resolve_model(requested, options.default_model, options.model_map)
    spec = spec_for(model)
    names = ToolNames()
    tools = _ToolConverter(names, provider, options.web_search).convert(body, items)

    compaction = bool(items) and items[-1].get("type") == "compaction_trigger"
    builder = _MessageBuilder(spec, names, provider)
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
    if tools and not compaction:
        chat["tools"] = tools
        chat["tool_choice"] = "auto"
        if stream and spec.tool_stream:
            chat["tool_stream"] = True
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    chat.update(provider.thinking(spec, effort))
    if response_format:
        chat["response_format"] = response_format
    _copy_sampling(body, chat, spec, provider)

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


def _input_items(raw: object) -> list[dict]:
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


def _list(value: object) -> list:
    """VALUE if it is a list; Codex always sends lists, hostile clients might not."""
    return value if isinstance(value, list) else []


def _copy_sampling(body: dict, chat: dict, spec: ModelSpec, provider: Provider) -> None:
    for key, (low, high) in (("temperature", provider.temperature_range), ("top_p", provider.top_p_range)):
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            chat[key] = min(max(float(value), low), high)
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        chat["max_tokens"] = min(limit, spec.max_output)


def _output_format(text: object, spec: ModelSpec) -> tuple[str, dict | None]:
    """`text.format` (codex exec --output-schema) -> an instruction and GLM's JSON mode."""
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


# --------------------------------------------------------------------------- tools


class _ToolConverter:
    def __init__(self, names: ToolNames, provider: Provider, web_search: bool) -> None:
        self._names = names
        self._provider = provider
        self._web_search = web_search
        self._tools: list[dict] = []

    def convert(self, body: dict, items: list[dict]) -> list[dict]:
        raw_tools = body.get("tools")
        if raw_tools is not None and not isinstance(raw_tools, list):
            raise RequestError("`tools` must be an array", "tools")
        if body.get("tool_choice") == "none":
            return []
        for spec in raw_tools or []:
            self._add(spec, None)
        # Responses-Lite ships tools inside the input; tool_search loads deferred ones there.
        for item in items:
            if item.get("type") in ("additional_tools", "tool_search_output"):
                for spec in _list(item.get("tools")):
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
            for inner in _list(spec.get("tools")):
                self._add(inner, inner_ns)
        elif kind == "function" and isinstance(name, str):
            self._function(self._names.register(name, namespace, "function"), spec.get("description"), spec.get("parameters"))
        elif kind == "custom" and isinstance(name, str):
            self._function(self._names.register(name, namespace, "custom"), _custom_description(spec), _CUSTOM_PARAMETERS)
        elif kind == "tool_search":
            self._function(self._names.register("tool_search", None, "tool_search"), spec.get("description"), spec.get("parameters"))
        elif kind == "web_search" and self._web_search and self._provider.web_search_tool:
            self._tools.append(dict(self._provider.web_search_tool))
        else:
            log.debug("dropping tool of type %r the upstream cannot run", kind)

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


def _custom_description(spec: dict) -> str:
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


# --------------------------------------------------------------------------- messages


def _text_parts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    texts = []
    for part in content:
        if isinstance(part, dict):
            text = part.get("text", part.get("refusal"))
            if isinstance(text, str):
                texts.append(text)
    return texts


def _join(texts: list[str]) -> str:
    return "\n".join(t for t in texts if t.strip())


class _MessageBuilder:
    """Accumulates chat messages, keeping GLM's sequence rules as it goes."""

    def __init__(self, spec: ModelSpec, names: ToolNames, provider: Provider) -> None:
        self._spec = spec
        self._names = names
        self._provider = provider
        self._leading_system: list[str] = []
        self._messages: list[dict] = []
        self._pending_reasoning: list[str] = []
        self._open_assistant: dict | None = None
        # Tool calls of the open assistant message still waiting for their outputs.
        self._awaiting: list[str] = []
        self._outputs: dict[str, dict] = {}
        self._answered: set[str] = set()
        self.chars = 0

    # -- entry points

    def add_system(self, text: str) -> None:
        if not text.strip():
            return
        self._close_assistant()
        if not self._messages:
            self._leading_system.append(text)
        else:
            self._append({"role": "system", "content": text})

    def extend_instructions(self, text: str) -> None:
        """Add to the leading system message, after everything Codex put there."""
        self._leading_system.append(text)

    def add_user_text(self, text: str) -> None:
        self._close_assistant()
        self._pending_reasoning.clear()
        self._append({"role": "user", "content": text})

    def add_item(self, item: dict) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            log.debug("skipping input item of unknown type %r", kind)
            return
        handler(self, item)

    def finish(self) -> list[dict]:
        self._close_assistant()
        messages = list(self._messages)
        if self._leading_system:
            messages.insert(0, {"role": "system", "content": "\n\n".join(self._leading_system)})
        if not any(m["role"] == "user" for m in messages):
            # GLM rejects a conversation without a user turn (1214).
            position = 1 if self._leading_system else 0
            messages.insert(position, {"role": "user", "content": "Continue."})
        self.chars += sum(len(t) for t in self._leading_system)
        return messages

    # -- item handlers

    def _message(self, item: dict) -> None:
        role = item.get("role")
        content = item.get("content")
        if role in ("developer", "system"):
            self.add_system(_join(_text_parts(content)))
        elif role == "assistant":
            self._assistant_text(_join(_text_parts(content)))
        elif role == "user":
            self._user(content)
        else:
            log.debug("skipping message with role %r", role)

    def _reasoning(self, item: dict) -> None:
        text = reasoning_item_text(item)
        if self._open_assistant is not None and self._calls_pending():
            # Thinking GLM did after a call, within the same response: part of that message.
            if text.strip():
                field = self._provider.reasoning_replay_field
                before = self._open_assistant.get(field)
                self._open_assistant[field] = f"{before}\n\n{text}" if before else text
            return
        # Otherwise a reasoning item starts a new model response.
        self._close_assistant()
        if text.strip():
            self._pending_reasoning.append(text)

    def _function_call(self, item: dict) -> None:
        name = item.get("name")
        if not isinstance(name, str):
            log.debug("skipping function_call without a name")
            return
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        self._tool_call(item, self._names.chat_name(name, namespace), arguments)

    def _custom_tool_call(self, item: dict) -> None:
        name = item.get("name")
        if not isinstance(name, str):
            return
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        raw = item.get("input") if isinstance(item.get("input"), str) else ""
        self._tool_call(item, self._names.chat_name(name, namespace), json.dumps({"input": raw}, ensure_ascii=False))

    def _local_shell_call(self, item: dict) -> None:
        action = item.get("action") if isinstance(item.get("action"), dict) else {}
        self._tool_call(item, "local_shell", json.dumps(action, ensure_ascii=False))

    def _tool_search_call(self, item: dict) -> None:
        arguments = item.get("arguments")
        self._tool_call(item, self._names.chat_name("tool_search"), json.dumps(arguments if arguments is not None else {}, ensure_ascii=False))

    def _tool_output(self, item: dict) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            return
        if call_id in self._awaiting:
            self._outputs.setdefault(call_id, item)
            if not self._calls_pending():
                self._close_assistant()
            return
        if call_id in self._answered:
            return  # the same output replayed
        # An output whose call is not in history, or was already closed with a placeholder
        # (a late output): keep the information.
        self._close_assistant()
        text, images = self._output_content(item)
        self._answered.add(call_id)
        note = {"type": "text", "text": f"(output of an earlier tool call {call_id})\n{text}"}
        self._append({"role": "user", "content": self._content([note, *images])})

    def _tool_search_output(self, item: dict) -> None:
        tools = _list(item.get("tools"))
        loaded = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        self._tool_output({"call_id": item.get("call_id"), "output": "Loaded tools: " + (", ".join(loaded) or "none")})

    def _compaction(self, item: dict) -> None:
        summary = decode_compaction(item.get("encrypted_content"))
        if summary is None:
            log.debug("skipping a compaction item this proxy did not produce")
            return
        self.add_user_text(_COMPACTION_SUMMARY_PREFIX + summary)

    def _ignore(self, item: dict) -> None:
        log.debug("input item %r has no chat equivalent; skipped", item.get("type"))

    # -- helpers

    def _append(self, message: dict) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self.chars += len(content)
        last = self._messages[-1] if self._messages else None
        if last is not None and last["role"] == message["role"] and message["role"] in ("user", "system"):
            last["content"] = _merge_content(last["content"], message["content"])
            return
        self._messages.append(message)

    def _user(self, content: object) -> None:
        parts = content if isinstance(content, list) else [{"type": "input_text", "text": content if isinstance(content, str) else ""}]
        chat_parts: list[dict] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
                if part["text"].strip():
                    chat_parts.append({"type": "text", "text": part["text"]})
            elif kind == "input_image":
                chat_parts.append(self._image_part(part))
            elif kind in ("input_file", "input_audio"):
                chat_parts.append({"type": "text", "text": f"[{kind[6:]} omitted: not supported by {self._spec.id}]"})
        if not chat_parts:
            return
        self._close_assistant()
        # Reasoning of a response that showed nothing does not carry over a user turn.
        self._pending_reasoning.clear()
        self._append({"role": "user", "content": self._content(chat_parts)})

    def _image_part(self, part: dict) -> dict:
        url = part.get("image_url")
        if self._spec.vision and isinstance(url, str) and url:
            return {"type": "image_url", "image_url": {"url": url}}
        reason = f"{self._spec.id} does not accept images" if not self._spec.vision else "the image was given by file id"
        return {"type": "text", "text": f"[image omitted: {reason}]"}

    def _content(self, parts: list[dict]) -> str | list[dict]:
        """Plain string unless there is an image (GLM text models want strings)."""
        if any(p["type"] != "text" for p in parts):
            return parts
        return "\n".join(p["text"] for p in parts)

    def _assistant_text(self, text: str) -> None:
        if not text.strip():
            return
        message = self._open_assistant
        if message is not None and self._calls_pending():
            pass  # text GLM gave after a call, within the same response, stays with it
        elif message is None or message.get("tool_calls"):
            self._close_assistant()
            previous = self._messages[-1] if self._messages else None
            if previous is not None and previous["role"] == "assistant" and previous.get("content") == text and "tool_calls" not in previous:
                # A response replayed after a failed stream (Codex keeps the earlier copy).
                self._pending_reasoning.clear()
                return
            message = self._new_assistant()
        elif message.get("content") == text or str(message.get("content")).endswith("\n\n" + text):
            return  # the same message twice in a row (replayed after a failed stream)
        message["content"] = f"{message['content']}\n\n{text}" if message.get("content") else text
        self.chars += len(text)

    def _new_assistant(self) -> dict:
        message: dict = {"role": "assistant"}
        if self._pending_reasoning:
            message[self._provider.reasoning_replay_field] = "\n\n".join(self._pending_reasoning)
            self._pending_reasoning.clear()
        self._messages.append(message)
        self._open_assistant = message
        return message

    def _tool_call(self, item: dict, flat: str, arguments: str) -> None:
        call_id = item.get("call_id") or item.get("id")
        if not isinstance(call_id, str) or call_id in self._awaiting:
            return  # unanswerable, or the same call replayed within one response
        message = self._open_assistant
        if message is None or self._outputs:
            self._close_assistant()
            message = self._new_assistant()
        message.setdefault("tool_calls", []).append(
            {"id": call_id, "type": "function", "function": {"name": flat, "arguments": arguments}}
        )
        self._awaiting.append(call_id)
        self.chars += len(arguments)

    def _calls_pending(self) -> bool:
        """Calls of the open assistant message still wait for their outputs."""
        return any(call_id not in self._outputs for call_id in self._awaiting)

    def _close_assistant(self) -> None:
        """End the open assistant message: answer every call, in call order."""
        if self._open_assistant is None:
            return
        images_after: list[dict] = []
        for call_id in self._awaiting:
            output = self._outputs.get(call_id)
            if output is None:
                text = _MISSING_TOOL_OUTPUT
            else:
                text, images = self._output_content(output)
                images_after.extend(images)
                self._answered.add(call_id)
            self._messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
            self.chars += len(text)
        if images_after:
            # GLM tool messages are text only; a vision model sees the images right after.
            intro = {"type": "text", "text": "Images returned by the tools above:"}
            self._messages.append({"role": "user", "content": [intro, *images_after]})
        self._open_assistant = None
        self._awaiting = []
        self._outputs = {}

    def _output_content(self, item: dict) -> tuple[str, list[dict]]:
        output = item.get("output")
        if isinstance(output, dict):
            # Older shape {"content": ..., "success": ...}.
            output = output.get("content", output.get("body", json.dumps(output, ensure_ascii=False)))
        if isinstance(output, str):
            return (output if output.strip() else _EMPTY_TOOL_OUTPUT), []
        texts: list[str] = []
        images: list[dict] = []
        for part in output if isinstance(output, list) else []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "input_image":
                image = self._image_part(part)
                if image["type"] == "image_url":
                    images.append(image)
                    texts.append("[image attached below]")
                else:
                    texts.append(image["text"])
        text = "\n".join(t for t in texts if t.strip())
        return (text or _EMPTY_TOOL_OUTPUT), images


def _merge_content(first: str | list[dict], second: str | list[dict]) -> str | list[dict]:
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    as_parts = lambda c: [{"type": "text", "text": c}] if isinstance(c, str) else list(c)  # noqa: E731
    return as_parts(first) + as_parts(second)


_HANDLERS = {
    "message": _MessageBuilder._message,
    "reasoning": _MessageBuilder._reasoning,
    "function_call": _MessageBuilder._function_call,
    "custom_tool_call": _MessageBuilder._custom_tool_call,
    "local_shell_call": _MessageBuilder._local_shell_call,
    "tool_search_call": _MessageBuilder._tool_search_call,
    "function_call_output": _MessageBuilder._tool_output,
    "custom_tool_call_output": _MessageBuilder._tool_output,
    "tool_search_output": _MessageBuilder._tool_search_output,
    "compaction": _MessageBuilder._compaction,
    "compaction_summary": _MessageBuilder._compaction,
    "context_compaction": _MessageBuilder._compaction,
    # Hosted results without content (web search), markers and Lite-mode tool carriers
    # (their tools were collected by _ToolConverter) have nothing to say to GLM.
    "web_search_call": _MessageBuilder._ignore,
    "image_generation_call": _MessageBuilder._ignore,
    "compaction_trigger": _MessageBuilder._ignore,
    "additional_tools": _MessageBuilder._ignore,
    "configuration_update": _MessageBuilder._ignore,
    "agent_message": _MessageBuilder._ignore,
}
