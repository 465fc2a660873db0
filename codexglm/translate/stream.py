"""Chat-completion chunks -> Responses API stream events: an explicit state machine.

Codex records an output item only from `response.output_item.done` and replays recorded
items after a failed stream, so this machine streams deltas live (the UI) but holds every
`done` until the upstream has finished the answer cleanly; a response that then fails or is cut
short never leaves half an answer in Codex's history.

States: NEW -> STREAMING (after `start`) -> one terminal state: COMPLETED, FAILED or
INCOMPLETE.  Upstream chunks may interleave reasoning, text and tool-call fragments in
any of the shapes chat upstreams produce (whole calls, `tool_stream` fragments, `index: -1`,
finish_reason on the tool chunk, usage on the finish chunk or a trailing chunk).
Which finish reasons mean a failed answer, and where reasoning arrives (a delta field,
inline `<think>` tags in the content, structured `reasoning_details` entries), is the
provider's to say.
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..providers.base import CONTENT_FILTER, CONTEXT, OVERLOADED, Provider
from .errors import UpstreamError, classify_error, is_error_document
from .freeform import StringValueStream
from .names import ToolEntry
from .options import TurnContext
from .reasoning import encode_compaction, encode_reasoning
from .thinktags import REASONING, ThinkTagSplitter

Event = dict[str, Any]


class State(enum.Enum):
    NEW = "new"
    STREAMING = "streaming"
    COMPLETED = "completed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"


# Failure kind of a finish reason -> (codex error code, message).
_FAILED_FINISH = {
    CONTENT_FILTER: (
        "invalid_prompt",
        "{family} stopped the answer because its content filter flagged it (finish_reason={reason}). "
        "Rephrase the request or remove the flagged content.",
    ),
    OVERLOADED: (
        "server_error",
        "{family} reported a model inference error in the middle of the answer (finish_reason={reason}).",
    ),
    CONTEXT: (
        "context_length_exceeded",
        "The conversation no longer fits in the model's context window (finish_reason={reason}).",
    ),
}
_EMPTY_ANSWER = "{family} ended the response without any answer text or tool call."
_CUT_SHORT = "{family} closed the stream before finishing the answer."


@dataclass
class _Item:
    kind: str  # reasoning | message | call
    item_id: str
    output_index: int  # -1 until the item is announced (a call only once it has a name)
    # Deltas as they came: joining once beats `text += delta` (quadratic on long answers).
    parts: list[str] = field(default_factory=list)
    open: bool = True
    # Calls only.
    key: str = ""
    call_id: str = ""
    flat_name: str = ""
    entry: ToolEntry | None = None
    input_stream: StringValueStream | None = None
    # Reasoning only: the upstream's structured entries, merged from their fragments.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def added(self) -> bool:
        return self.output_index >= 0

    @property
    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


class StreamTranslator:
    """Feeds on decoded upstream chunks; every method returns the events to send now."""

    def __init__(
        self, context: TurnContext, *, response_id: str | None = None, created_at: int | None = None, first_index: int = 0
    ) -> None:
        self._ctx = context
        self.response_id = response_id or f"resp_{uuid.uuid4().hex}"
        self._created_at = created_at if created_at is not None else int(time.time())
        self._state = State.NEW
        self._seq = 0
        self._items: list[_Item] = []
        # Output indexes handed out (indexes below first_index carry the proxy's own notice).
        self._announced = first_index
        self._reasoning: _Item | None = None
        self._message: _Item | None = None
        self._calls: dict[str, _Item] = {}
        self._calls_by_index: dict[int, _Item] = {}
        self._last_call: _Item | None = None
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._leading_text = ""
        self._leading_reasoning = ""
        self._think_tags = ThinkTagSplitter() if context.provider.inline_think_tags else None
        self.emitted_output = False
        self.error_code: str | None = None

    # ------------------------------------------------------------------ public API

    @property
    def finished(self) -> bool:
        return self._state in (State.COMPLETED, State.FAILED, State.INCOMPLETE)

    @property
    def outcome(self) -> str:
        return self._state.value if self.finished else ""

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    def start(self) -> list[Event]:
        if self._state is not State.NEW:
            return []
        self._state = State.STREAMING
        return [
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
        ]

    def heartbeat(self) -> list[Event]:
        if self._state is not State.STREAMING:
            return []
        return [self._event("response.in_progress", response=self._response("in_progress"))]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self._state is not State.STREAMING:
            return self.start() + self.feed(chunk) if self._state is State.NEW else []
        if is_error_document(chunk):
            return self.fail(classify_error(self._ctx.provider, 200, chunk))
        events: list[Event] = []
        self._read_usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
                continue
            self._read_usage(choice.get("usage"))  # Moonshot reports it inside the last choice
            self._feed_delta(_object(choice.get("delta")) or _object(choice.get("message")), events)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._finish_reason = reason
        return events

    def feed_done(self) -> list[Event]:
        """The upstream sent `[DONE]`."""
        if self._state is not State.STREAMING:
            return []
        return self._flush_content() + self._finish(self._finish_reason or "stop")

    def end_of_stream(self) -> list[Event]:
        """The upstream body ended; without a finish_reason the answer was cut short."""
        if self._state is not State.STREAMING:
            return []
        if self._finish_reason is None:
            return self._fail("server_error", self._words(_CUT_SHORT))
        return self._flush_content() + self._finish(self._finish_reason)

    def fail(self, error: UpstreamError) -> list[Event]:
        if self.finished:
            return []
        events = self.start()
        return events + self._fail(error.codex_code, error.message)

    def _read_usage(self, usage: object) -> None:
        if isinstance(usage, dict) and usage:
            self._usage = _usage_from_chat(usage, self._ctx.provider)

    # ------------------------------------------------------------------ deltas

    def _feed_delta(self, delta: dict[str, Any], events: list[Event]) -> None:
        provider = self._ctx.provider
        shown = False
        for name in provider.reasoning_fields:
            value = delta.get(name)
            if isinstance(value, str) and value:
                self._reasoning_delta(value, events)
                shown = True
                break
        details = delta.get(provider.reasoning_details_field) if provider.reasoning_details_field else None
        if isinstance(details, list) and details:
            self._details_delta([d for d in details if isinstance(d, dict)], shown, events)
        content = delta.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str) and content:
            self._content_delta(content, events)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    self._call_delta(call, position, events)

    def _content_delta(self, content: str, events: list[Event]) -> None:
        if self._think_tags is None:
            self._text_delta(content, events)
        else:
            self._split_content(self._think_tags.feed(content), events)

    def _flush_content(self) -> list[Event]:
        """Content the inline-tag splitter still holds, now that no more can follow."""
        events: list[Event] = []
        if self._think_tags is not None:
            self._split_content(self._think_tags.close(), events)
        return events

    def _split_content(self, pieces: list[tuple[str, str]], events: list[Event]) -> None:
        for kind, piece in pieces:
            (self._reasoning_delta if kind == REASONING else self._text_delta)(piece, events)

    def _details_delta(self, details: list[dict[str, Any]], shown: bool, events: list[Event]) -> None:
        """Structured reasoning: kept for the replay; its text shown unless a field already was."""
        if not shown:
            for entry in details:
                text = entry.get("text", entry.get("summary"))
                if isinstance(text, str) and text:
                    self._reasoning_delta(text, events)
        # Entries without text (encrypted ones) still need their item.
        item = self._reasoning if self._reasoning is not None and self._reasoning.open else self._open_reasoning(events)
        _merge_details(item.details, details)

    def _open_reasoning(self, events: list[Event]) -> _Item:
        self._close_open()
        item = self._reasoning = self._new_item("reasoning")
        if self._show_items:
            events.append(self._added(item, {"type": "reasoning", "summary": []}))
            if self._ctx.show_reasoning:
                events.append(self._event("response.reasoning_summary_part.added", item_id=item.item_id,
                                          output_index=item.output_index, summary_index=0,
                                          part={"type": "summary_text", "text": ""}))
        return item

    def _reasoning_delta(self, text: str, events: list[Event]) -> None:
        if self._reasoning is None or not self._reasoning.open:
            # Models often open with a bare newline; an item starts at the first real text.
            self._leading_reasoning += text
            text = self._leading_reasoning.lstrip()
            if not text:
                return
            self._leading_reasoning = ""
            item = self._open_reasoning(events)
        else:
            item = self._reasoning
        item.parts.append(text)
        if self._show_items and self._ctx.show_reasoning:
            self.emitted_output = True
            events.append(self._event("response.reasoning_summary_text.delta", item_id=item.item_id,
                                      output_index=item.output_index, summary_index=0, delta=text))

    def _text_delta(self, text: str, events: list[Event]) -> None:
        if self._message is None or not self._message.open:
            self._leading_text += text
            text = self._leading_text.lstrip("\r\n")
            if not text.strip():
                return
            self._leading_text = ""
            self._close_open()
            self._message = self._new_item("message")
            if self._show_items:
                events.append(self._added(self._message, {"type": "message", "role": "assistant", "content": []}))
                events.append(self._event("response.content_part.added", item_id=self._message.item_id,
                                          output_index=self._message.output_index, content_index=0,
                                          part={"type": "output_text", "text": "", "annotations": []}))
        item = self._message
        item.parts.append(text)
        if self._show_items:
            self.emitted_output = True
            events.append(self._event("response.output_text.delta", item_id=item.item_id,
                                      output_index=item.output_index, content_index=0, delta=text))

    def _call_delta(self, call: dict[str, Any], position: int, events: list[Event]) -> None:
        function = _object(call.get("function"))
        name = function.get("name") if isinstance(function.get("name"), str) else ""
        arguments = function.get("arguments")
        if isinstance(arguments, (dict, list)):
            arguments = json.dumps(arguments, ensure_ascii=False)
        fragment = arguments if isinstance(arguments, str) else ""
        item = self._find_call(call, position, bool(name))
        if item is None:
            return
        if name and not item.flat_name:
            item.flat_name = name
        item.parts.append(fragment)
        if not item.added and item.flat_name:
            self._announce_call(item, events)
        elif item.added and fragment:
            self._call_fragment(item, fragment, events)

    def _find_call(self, call: dict[str, Any], position: int, has_name: bool) -> _Item | None:
        """Match a tool-call fragment to its call: by id, then by index, else the last call."""
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        index = call.get("index")
        index = index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else None
        if call_id is not None and call_id in self._calls:
            return self._calls[call_id]
        if index is not None and index in self._calls_by_index:
            known = self._calls_by_index[index]
            if call_id is None or known.call_id == call_id or known.key.startswith("index:"):
                return known
        if call_id is None and not has_name:
            return self._last_call
        self._close_open()
        item = self._new_item("call")
        item.call_id = call_id or f"call_{uuid.uuid4().hex[:24]}"
        item.key = call_id or f"index:{index if index is not None else position}"
        self._calls[item.call_id] = item
        if index is not None:
            self._calls_by_index[index] = item
        self._last_call = item
        return item

    def _announce_call(self, item: _Item, events: list[Event]) -> None:
        item.entry = self._ctx.tools.resolve(item.flat_name)
        self._number(item)
        if item.entry is not None and item.entry.kind == "custom":
            item.input_stream = StringValueStream()
        if self._show_items:
            events.append(self._added(item, self._call_item(item, status="in_progress", partial=True)))
        if item.text:
            self._call_fragment(item, item.text, events)

    def _call_fragment(self, item: _Item, fragment: str, events: list[Event]) -> None:
        if not self._show_items:
            return
        self.emitted_output = True
        if item.input_stream is not None:
            decoded = item.input_stream.feed(fragment)
            if decoded:
                events.append(self._event("response.custom_tool_call_input.delta", item_id=item.item_id,
                                          output_index=item.output_index, call_id=item.call_id, delta=decoded))
        else:
            events.append(self._event("response.function_call_arguments.delta", item_id=item.item_id,
                                      output_index=item.output_index, delta=fragment))

    # ------------------------------------------------------------------ finishing

    def _finish(self, reason: str) -> list[Event]:
        failure = self._ctx.provider.failed_finish_reasons.get(reason)
        if failure in _FAILED_FINISH:
            code, message = _FAILED_FINISH[failure]
            return self._fail(code, self._words(message, reason=reason))
        if reason == "length":
            return self._incomplete("max_output_tokens")
        # Output indexes follow announcement: a call fragment that never got a name leaves no gap.
        items = sorted((i for i in self._items if i.output_index >= 0), key=lambda i: i.output_index)
        if self._ctx.compaction:
            return self._complete_compaction()
        if not any(i.kind != "reasoning" for i in items):
            # Thinking alone would end Codex's turn with no answer; a retry usually answers.
            return self._fail("server_error", self._words(_EMPTY_ANSWER))
        events: list[Event] = []
        output = []
        for item in items:
            final = self._final_item(item)
            events.extend(self._closing_events(item, final))
            events.append(self._event("response.output_item.done", output_index=item.output_index, item=final))
            output.append(final)
        self._state = State.COMPLETED
        events.append(self._event("response.completed", response=self._response("completed", output=output, usage=self._final_usage())))
        return events

    def _complete_compaction(self) -> list[Event]:
        summary = "\n\n".join(i.text for i in self._items if i.kind == "message").strip()
        if not summary:
            return self._fail("server_error", self._words(_EMPTY_ANSWER))
        item = {"type": "compaction", "id": f"cmp_{uuid.uuid4().hex}", "encrypted_content": encode_compaction(summary)}
        self._state = State.COMPLETED
        return [
            self._event("response.output_item.added", output_index=0, item=item),
            self._event("response.output_item.done", output_index=0, item=item),
            self._event("response.completed", response=self._response("completed", output=[item], usage=self._final_usage())),
        ]

    def _fail(self, code: str, message: str) -> list[Event]:
        self._state = State.FAILED
        self.error_code = code
        response = self._response("failed", usage=self._final_usage())
        response["error"] = {"code": code, "message": message}
        return [self._event("response.failed", response=response)]

    def _incomplete(self, reason: str) -> list[Event]:
        self._state = State.INCOMPLETE
        self.error_code = reason
        response = self._response("incomplete", usage=self._final_usage())
        response["incomplete_details"] = {"reason": reason}
        return [self._event("response.incomplete", response=response)]

    def _final_item(self, item: _Item) -> dict[str, Any]:
        if item.kind == "reasoning":
            summary = [{"type": "summary_text", "text": item.text}] if self._ctx.show_reasoning else []
            return {"id": item.item_id, "type": "reasoning", "summary": summary,
                    "encrypted_content": encode_reasoning(item.text, item.details, self._ctx.provider.name)}
        if item.kind == "message":
            return {"id": item.item_id, "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": item.text, "annotations": []}]}
        return self._call_item(item, status="completed", partial=False)

    def _call_item(self, item: _Item, *, status: str, partial: bool) -> dict[str, Any]:
        entry = item.entry
        base = {"id": item.item_id, "status": status, "call_id": item.call_id}
        if entry is not None and entry.kind == "custom":
            raw = "" if partial else _custom_input(item.text)
            return {**base, "type": "custom_tool_call", "name": entry.name, "input": raw,
                    **({"namespace": entry.namespace} if entry.namespace else {})}
        if entry is not None and entry.kind == "tool_search":
            search = {} if partial else _json_object(item.text)
            return {**base, "type": "tool_search_call", "execution": "client", "arguments": search}
        name = entry.name if entry is not None else item.flat_name
        arguments = "" if partial else (item.text.strip() or "{}")
        call = {**base, "type": "function_call", "name": name, "arguments": arguments}
        if entry is not None and entry.namespace:
            call["namespace"] = entry.namespace
        return call

    def _closing_events(self, item: _Item, final: dict[str, Any]) -> list[Event]:
        common: dict[str, Any] = {"item_id": item.item_id, "output_index": item.output_index}
        part: dict[str, Any]
        if item.kind == "reasoning" and self._ctx.show_reasoning:
            part = {"type": "summary_text", "text": item.text}
            return [self._event("response.reasoning_summary_text.done", **common, summary_index=0, text=item.text),
                    self._event("response.reasoning_summary_part.done", **common, summary_index=0, part=part)]
        if item.kind == "message":
            part = {"type": "output_text", "text": item.text, "annotations": []}
            return [self._event("response.output_text.done", **common, content_index=0, text=item.text),
                    self._event("response.content_part.done", **common, content_index=0, part=part)]
        if final["type"] == "custom_tool_call":
            return [self._event("response.custom_tool_call_input.done", **common, call_id=item.call_id, input=final["input"])]
        if final["type"] == "function_call":
            return [self._event("response.function_call_arguments.done", **common, arguments=final["arguments"])]
        return []

    # ------------------------------------------------------------------ helpers

    def _words(self, template: str, **values: str) -> str:
        return template.format(family=self._ctx.provider.model_family, **values)

    @property
    def _show_items(self) -> bool:
        # A compaction answer becomes one opaque item; its text is not shown as a message.
        return not self._ctx.compaction

    def _new_item(self, kind: str) -> _Item:
        prefix = {"reasoning": "rs", "message": "msg", "call": "fc"}[kind]
        item = _Item(kind=kind, item_id=f"{prefix}_{uuid.uuid4().hex}", output_index=-1)
        if kind != "call":
            self._number(item)
        self._items.append(item)
        return item

    def _number(self, item: _Item) -> None:
        item.output_index = self._announced
        self._announced += 1

    def _close_open(self) -> None:
        for item in (self._reasoning, self._message):
            if item is not None:
                item.open = False

    def _added(self, item: _Item, body: dict[str, Any]) -> Event:
        return self._event("response.output_item.added", output_index=item.output_index,
                           item={"id": item.item_id, "status": "in_progress", **body})

    def _event(self, kind: str, **fields: Any) -> Event:
        self._seq += 1
        return {"type": kind, "sequence_number": self._seq, **fields}

    def _response(self, status: str, *, output: list[Any] | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "model": self._ctx.model,
            "output": output or [],
        }
        if usage is not None:
            response["usage"] = usage
        return response

    def _final_usage(self) -> dict[str, Any]:
        if self._usage is not None:
            return self._usage
        # No usage from upstream: estimate (~4 characters a token) so Codex can still
        # decide when to compact.
        output_chars = sum(len(i.text) for i in self._items)
        reasoning_chars = sum(len(i.text) for i in self._items if i.kind == "reasoning")
        prompt = self._ctx.prompt_chars // 4
        output = output_chars // 4
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning_chars // 4},
            "total_tokens": prompt + output,
        }


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _at(document: dict[str, Any], path: str) -> object:
    """The value at a dotted PATH, or None where any step is missing."""
    value: object = document
    for step in path.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _usage_from_chat(usage: dict[str, Any], provider: Provider) -> dict[str, Any]:
    prompt = _number(usage.get("prompt_tokens"))
    completion = _number(usage.get("completion_tokens"))
    completion_details = _object(usage.get("completion_tokens_details"))
    total = _number(usage.get("total_tokens")) or prompt + completion
    reported = (_at(usage, path) for path in provider.cached_tokens_fields)
    cached = next((_number(value) for value in reported if value is not None), 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _number(completion_details.get("reasoning_tokens"))},
        "total_tokens": total,
    }


# Fields of a structured reasoning entry that arrive in fragments (OpenRouter, MiniMax).
_FRAGMENTED = ("text", "summary", "data", "signature")


def _merge_details(merged: list[dict[str, Any]], fragments: list[dict[str, Any]]) -> None:
    """Fold streamed reasoning-detail fragments into whole entries: fragments of one entry
    share its `index` (and type); their string parts join, other keys keep their first value."""
    for fragment in fragments:
        index = fragment.get("index")
        target = next((e for e in reversed(merged) if index is not None and e.get("index") == index
                       and e.get("type") == fragment.get("type")), None)
        if target is None:
            merged.append(dict(fragment))
            continue
        for key, value in fragment.items():
            if key in _FRAGMENTED and isinstance(value, str) and isinstance(target.get(key), str):
                target[key] += value
            else:
                target.setdefault(key, value)


def _object(value: object) -> dict[str, Any]:
    """VALUE if it is a JSON object, else an empty one (upstreams omit or null fields)."""
    return value if isinstance(value, dict) else {}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _custom_input(arguments: str) -> str:
    """The raw input of a freeform call from the function arguments the model produced.

    Normally `{"input": "..."}`; models sometimes use another key or send the raw text
    itself, and that text is still the best input we have.
    """
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict):
        raw = value.get("input")
        if isinstance(raw, str):
            return raw
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
    if isinstance(value, str):
        return value
    return arguments
