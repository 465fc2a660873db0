"""Codex's input items -> chat messages that obey the chat sequence rules.

No `developer` role, no empty content, every `tool_calls` entry answered in order by a
`tool` message, at least one `user` message: chat upstreams reject histories that break
these rules, so the builder repairs them as it goes.  Reasoning goes back the way the
provider wants it (`_replay_reasoning`): in a field, inline `<think>` tags, or its own
structured entries, unmodified.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..providers.base import ModelSpec, Provider
from .names import ToolNames
from .options import Notices
from .reasoning import decode_compaction, decode_reasoning_details, reasoning_item_text
from .thinktags import wrap
from .tools import as_list

log = logging.getLogger("codexglm.translate")

_COMPACTION_SUMMARY_PREFIX = "Summary of the earlier part of this conversation (context compaction):\n"
# A compaction another provider made (an OpenAI-encrypted summary, openai/codex#45401):
# unreadable here, so the model is told that earlier context is missing instead.
_FOREIGN_COMPACTION_NOTE = (
    "(An earlier part of this conversation was compacted by another model provider into a summary "
    "that cannot be read here; ask the user for any detail from it that you need.)"
)
_EMPTY_TOOL_OUTPUT = "(no output)"
_MISSING_TOOL_OUTPUT = "(no output recorded: the call was interrupted or aborted)"


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


class MessageBuilder:
    """Accumulates chat messages, keeping chat sequence rules as it goes.

    Consecutive user or system messages are merged; their pieces are joined once, when
    the next message starts, so a history of any length is translated in linear time.
    """

    def __init__(self, spec: ModelSpec, names: ToolNames, provider: Provider, notices: Notices) -> None:
        self._spec = spec
        self._notices = notices
        self._names = names
        self._provider = provider
        self._leading_system: list[str] = []
        self._messages: list[dict[str, Any]] = []
        self._pending_reasoning: list[str] = []
        self._pending_details: list[Any] = []
        self._open_assistant: dict[str, Any] | None = None
        # Tool calls of the open assistant message still waiting for their outputs.
        self._awaiting: list[str] = []
        self._outputs: dict[str, dict[str, Any]] = {}
        self._answered: set[str] = set()
        # Pieces of the last message's content while consecutive messages merge into it.
        self._tail: list[str | list[dict[str, Any]]] | None = None
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
        self._forget_reasoning()
        self._append({"role": "user", "content": text})

    def add_item(self, item: dict[str, Any]) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            if self._notices.first(f"item:{kind}"):
                log.warning("skipping input items of unknown type %r (a newer Codex?); they have no chat equivalent yet",
                            str(kind)[:80])
            return
        handler(self, item)

    def finish(self) -> list[dict[str, Any]]:
        self._close_assistant()
        self._flush_tail()
        messages = list(self._messages)
        for message in messages:
            if message["role"] == "assistant":
                self._replay_reasoning(message)
        if self._leading_system:
            messages.insert(0, {"role": "system", "content": "\n\n".join(self._leading_system)})
        if not any(m["role"] == "user" for m in messages):
            # Chat upstreams reject a conversation without a user turn (GLM: 1214).
            position = 1 if self._leading_system else 0
            messages.insert(position, {"role": "user", "content": "Continue."})
        self.chars += sum(len(t) for t in self._leading_system)
        return messages

    # -- item handlers

    def _message(self, item: dict[str, Any]) -> None:
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

    def _reasoning(self, item: dict[str, Any]) -> None:
        text = reasoning_item_text(item)
        details = decode_reasoning_details(item.get("encrypted_content"), self._provider.name)
        if self._open_assistant is not None and self._calls_pending():
            # Thinking the model did after a call, within the same response: part of that message.
            if text.strip():
                field = self._provider.reasoning_replay_field
                before = self._open_assistant.get(field)
                self._open_assistant[field] = f"{before}\n\n{text}" if before else text
            if details and self._provider.reasoning_details_field:
                self._open_assistant.setdefault(self._provider.reasoning_details_field, []).extend(details)
            return
        # Otherwise a reasoning item starts a new model response.
        self._close_assistant()
        if text.strip():
            self._pending_reasoning.append(text)
        self._pending_details.extend(details)

    def _function_call(self, item: dict[str, Any]) -> None:
        name = item.get("name")
        if not isinstance(name, str):
            log.debug("skipping function_call without a name")
            return
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        self._tool_call(item, self._names.chat_name(name, namespace), arguments)

    def _custom_tool_call(self, item: dict[str, Any]) -> None:
        name = item.get("name")
        if not isinstance(name, str):
            return
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        raw = item.get("input") if isinstance(item.get("input"), str) else ""
        self._tool_call(item, self._names.chat_name(name, namespace), json.dumps({"input": raw}, ensure_ascii=False))

    def _local_shell_call(self, item: dict[str, Any]) -> None:
        action = item.get("action") if isinstance(item.get("action"), dict) else {}
        self._tool_call(item, "local_shell", json.dumps(action, ensure_ascii=False))

    def _tool_search_call(self, item: dict[str, Any]) -> None:
        arguments = item.get("arguments")
        self._tool_call(item, self._names.chat_name("tool_search"), json.dumps(arguments if arguments is not None else {}, ensure_ascii=False))

    def _tool_output(self, item: dict[str, Any]) -> None:
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

    def _tool_search_output(self, item: dict[str, Any]) -> None:
        tools = as_list(item.get("tools"))
        loaded = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        self._tool_output({"call_id": item.get("call_id"), "output": "Loaded tools: " + (", ".join(loaded) or "none")})

    def _compaction(self, item: dict[str, Any]) -> None:
        summary = decode_compaction(item.get("encrypted_content"))
        if summary is None:
            if self._notices.first("foreign-compaction"):
                log.warning("a compaction item this proxy did not produce (another provider's) became a short note")
            self.add_user_text(_FOREIGN_COMPACTION_NOTE)
            return
        self.add_user_text(_COMPACTION_SUMMARY_PREFIX + summary)

    def _ignore(self, item: dict[str, Any]) -> None:
        log.debug("input item %r has no chat equivalent; skipped", item.get("type"))

    # -- helpers

    def _append(self, message: dict[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self.chars += len(content)
        last = self._messages[-1] if self._messages else None
        if last is not None and last["role"] == message["role"] and message["role"] in ("user", "system"):
            if self._tail is None:
                self._tail = [last["content"]]
            self._tail.append(message["content"])
            return
        self._push(message)

    def _push(self, message: dict[str, Any]) -> None:
        self._flush_tail()
        self._messages.append(message)

    def _flush_tail(self) -> None:
        if self._tail is not None:
            self._messages[-1]["content"] = _merge_content(self._tail)
            self._tail = None

    def _user(self, content: object) -> None:
        parts = content if isinstance(content, list) else [{"type": "input_text", "text": content if isinstance(content, str) else ""}]
        chat_parts: list[dict[str, Any]] = []
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
        self._forget_reasoning()
        self._append({"role": "user", "content": self._content(chat_parts)})

    def _image_part(self, part: dict[str, Any]) -> dict[str, Any]:
        url = part.get("image_url")
        if self._spec.vision and isinstance(url, str) and url:
            return {"type": "image_url", "image_url": {"url": url}}
        reason = f"{self._spec.id} does not accept images" if not self._spec.vision else "the image was given by file id"
        return {"type": "text", "text": f"[image omitted: {reason}]"}

    def _content(self, parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        """Plain string unless there is an image (text models of some upstreams want strings)."""
        if any(p["type"] != "text" for p in parts):
            return parts
        return "\n".join(p["text"] for p in parts)

    def _assistant_text(self, text: str) -> None:
        if not text.strip():
            return
        message = self._open_assistant
        if message is not None and self._calls_pending():
            pass  # text the model gave after a call, within the same response, stays with it
        elif message is None or message.get("tool_calls"):
            self._close_assistant()
            previous = self._messages[-1] if self._messages else None
            if previous is not None and previous["role"] == "assistant" and previous.get("content") == text and "tool_calls" not in previous:
                # A response replayed after a failed stream (Codex keeps the earlier copy).
                self._forget_reasoning()
                return
            message = self._new_assistant()
        elif message.get("content") == text or str(message.get("content")).endswith("\n\n" + text):
            return  # the same message twice in a row (replayed after a failed stream)
        message["content"] = f"{message['content']}\n\n{text}" if message.get("content") else text
        self.chars += len(text)

    def _new_assistant(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if self._pending_reasoning:
            message[self._provider.reasoning_replay_field] = "\n\n".join(self._pending_reasoning)
            self._pending_reasoning.clear()
        if self._pending_details and self._provider.reasoning_details_field:
            message[self._provider.reasoning_details_field] = list(self._pending_details)
        self._pending_details.clear()
        self._push(message)
        self._open_assistant = message
        return message

    def _tool_call(self, item: dict[str, Any], flat: str, arguments: str) -> None:
        call_id = item.get("call_id") or item.get("id")
        if not isinstance(call_id, str) or not call_id or call_id in self._awaiting:
            return  # unanswerable, or the same call replayed within one response
        message = self._open_assistant
        if message is None or self._outputs:
            self._close_assistant()
            message = self._new_assistant()
        if self._provider.replay_json_arguments and not _is_json_object(arguments):
            # A call the model botched (cut off, not JSON) would make every later request fail.
            arguments = json.dumps({"unparsed_arguments": arguments}, ensure_ascii=False)
        message.setdefault("tool_calls", []).append(
            {"id": call_id, "type": "function", "function": {"name": flat, "arguments": arguments}}
        )
        self._awaiting.append(call_id)
        self.chars += len(arguments)

    def _forget_reasoning(self) -> None:
        self._pending_reasoning.clear()
        self._pending_details.clear()

    def _replay_reasoning(self, message: dict[str, Any]) -> None:
        """Put an assistant message's reasoning where the provider takes it back.

        Structured entries, when the provider has them, carry the reasoning alone; otherwise
        the text goes in the field, inline into the content, or nowhere.  A thinking-mode
        upstream that insists on the field for tool-call turns gets it, empty if need be.
        """
        provider = self._provider
        field = provider.reasoning_replay_field
        if provider.reasoning_details_field and message.get(provider.reasoning_details_field):
            message.pop(field, None)
            return
        if provider.reasoning_replay == "tags":
            text = message.pop(field, None)
            if text:
                message["content"] = wrap(text, message.get("content") or "")
        elif provider.reasoning_replay == "none":
            message.pop(field, None)
        elif provider.reasoning_required_on_tool_calls and message.get("tool_calls"):
            message.setdefault(field, "")

    def _calls_pending(self) -> bool:
        """Calls of the open assistant message still wait for their outputs."""
        return any(call_id not in self._outputs for call_id in self._awaiting)

    def _close_assistant(self) -> None:
        """End the open assistant message: answer every call, in call order."""
        if self._open_assistant is None:
            return
        images_after: list[dict[str, Any]] = []
        for call_id in self._awaiting:
            output = self._outputs.get(call_id)
            if output is None:
                text = _MISSING_TOOL_OUTPUT
            else:
                text, images = self._output_content(output)
                images_after.extend(images)
                self._answered.add(call_id)
            self._push({"role": "tool", "tool_call_id": call_id, "content": text})
            self.chars += len(text)
        if images_after:
            # Chat tool messages are text only; a vision model sees the images right after.
            intro = {"type": "text", "text": "Images returned by the tools above:"}
            self._push({"role": "user", "content": [intro, *images_after]})
        self._open_assistant = None
        self._awaiting = []
        self._outputs = {}

    def _output_content(self, item: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        output = item.get("output")
        if isinstance(output, dict):
            # Older shape {"content": ..., "success": ...}.
            output = output.get("content", output.get("body", json.dumps(output, ensure_ascii=False)))
        if isinstance(output, str):
            return (output if output.strip() else _EMPTY_TOOL_OUTPUT), []
        texts: list[str] = []
        images: list[dict[str, Any]] = []
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


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _merge_content(pieces: list[str | list[dict[str, Any]]]) -> str | list[dict[str, Any]]:
    if all(isinstance(piece, str) for piece in pieces):
        return "\n\n".join(piece for piece in pieces if isinstance(piece, str))
    parts: list[dict[str, Any]] = []
    texts: list[str] = []  # consecutive string pieces become one text part
    for piece in pieces:
        if isinstance(piece, str):
            texts.append(piece)
            continue
        if texts:
            parts.append({"type": "text", "text": "\n\n".join(texts)})
            texts = []
        parts.extend(piece)
    if texts:
        parts.append({"type": "text", "text": "\n\n".join(texts)})
    return parts


_HANDLERS = {
    "message": MessageBuilder._message,
    "reasoning": MessageBuilder._reasoning,
    "function_call": MessageBuilder._function_call,
    "custom_tool_call": MessageBuilder._custom_tool_call,
    "local_shell_call": MessageBuilder._local_shell_call,
    "tool_search_call": MessageBuilder._tool_search_call,
    "function_call_output": MessageBuilder._tool_output,
    "custom_tool_call_output": MessageBuilder._tool_output,
    "tool_search_output": MessageBuilder._tool_search_output,
    "compaction": MessageBuilder._compaction,
    "compaction_summary": MessageBuilder._compaction,
    "context_compaction": MessageBuilder._compaction,
    # Hosted results without content (web search), markers and Lite-mode tool carriers
    # (their tools were collected by ToolConverter) have nothing to say upstream.
    "web_search_call": MessageBuilder._ignore,
    "image_generation_call": MessageBuilder._ignore,
    "compaction_trigger": MessageBuilder._ignore,
    "additional_tools": MessageBuilder._ignore,
    "configuration_update": MessageBuilder._ignore,
    "agent_message": MessageBuilder._ignore,
}
