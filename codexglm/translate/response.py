"""A non-streaming chat completion -> a Responses `response` object.

The completion is replayed through the stream state machine as one chunk, so streaming
and non-streaming answers follow exactly the same rules (names, freeform tools, reasoning
blobs, finish reasons, usage).
"""

from __future__ import annotations

from typing import Any

from .errors import is_error_document
from .options import TurnContext
from .stream import StreamTranslator


def translate_completion(completion: dict[str, Any], context: TurnContext, *, response_id: str | None = None) -> dict[str, Any]:
    choices = completion.get("choices") if isinstance(completion.get("choices"), list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    chunk = {
        "choices": [{"index": 0, "delta": message, "finish_reason": choice.get("finish_reason") or "stop"}],
        "usage": completion.get("usage"),
    }
    if is_error_document(completion):
        chunk = {"error": completion["error"]}
    translator = StreamTranslator(context, response_id=response_id)
    events = translator.start() + translator.feed(chunk) + translator.feed_done()
    response: dict[str, Any] = events[-1]["response"]
    return response
