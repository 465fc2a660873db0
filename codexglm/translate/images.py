"""Images for models that cannot see them: find them, swap in descriptions, say so.

A text-only model gets each image of the request (user attachments and `view_image`
tool output alike) as a text description written by a vision model, marked as one;
the proxy writes the descriptions, this module only rewrites the Responses body and
builds the one-line notice Codex shows.  Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

# Where Responses input items hold content parts that may be images.
_CONTENT_KEYS = {"message": "content", "function_call_output": "output", "custom_tool_call_output": "output"}
DESCRIBE_PROMPT = (
    "Describe this image for a coding assistant that cannot see it. Transcribe all visible text, code, "
    "error messages and numbers exactly; describe layout, UI elements, diagrams and charts precisely. "
    "Be complete and factual; do not speculate."
)


def image_key(url: str) -> str:
    """The cache key of an image: a hash of its URL, which for data URLs is its bytes."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


# Items the model produced: images after the last of them are new in this request.
_MODEL_OUTPUT = frozenset({"function_call", "custom_tool_call", "local_shell_call", "tool_search_call"})


def _is_model_output(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type", "message")
    if not isinstance(kind, str):  # a hostile body's `"type": []` is no model output
        return False
    return kind in _MODEL_OUTPUT or (kind == "message" and item.get("role") == "assistant")


def _image_parts(body: Mapping[str, Any], *, new_only: bool = False) -> Iterator[dict[str, Any]]:
    items = body.get("input")
    items = items if isinstance(items, list) else []
    if new_only:
        last = max((i for i, item in enumerate(items) if _is_model_output(item)), default=-1)
        items = items[last + 1 :]
    for item in items:
        if not isinstance(item, dict):
            continue
        parts = item.get(_CONTENT_KEYS.get(str(item.get("type", "message")), ""))
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                yield part


def image_urls(body: Mapping[str, Any], *, new_only: bool = False) -> list[str]:
    """Every distinct image URL of a request, in order; with NEW_ONLY, only those after the
    model's last output (what this turn added: an attachment, a tool's image)."""
    return list(dict.fromkeys(part["image_url"] for part in _image_parts(body, new_only=new_only)))


def described_text(description: str, describer: str, model: str) -> str:
    return f"[Image description by {describer} ({model} cannot see images, so this text stands in for the image)]\n{description}"


def with_descriptions(body: dict[str, Any], descriptions: Mapping[str, str], describer: str, model: str) -> dict[str, Any]:
    """BODY with every described image (DESCRIPTIONS by image URL) replaced by its marked
    description (a new body; images without a description stay, and the translation
    leaves its usual note)."""
    def swap(part: Any) -> Any:
        if isinstance(part, dict) and part.get("type") == "input_image":
            description = descriptions.get(str(part.get("image_url")))
            if description is not None:
                return {"type": "input_text", "text": described_text(description, describer, model)}
        return part

    items = []
    for item in body.get("input") or []:
        key = _CONTENT_KEYS.get(str(item.get("type", "message"))) if isinstance(item, dict) else None
        parts = item.get(key) if key else None
        items.append({**item, key: [swap(p) for p in parts]} if key and isinstance(parts, list) else item)
    return {**body, "input": items}


def _plural(count: int) -> str:
    return "1 image" if count == 1 else f"{count} images"


def description_notice(described: int, failed: int, describer: str, model: str) -> str:
    """The one line Codex shows when images were described (or could not be)."""
    text = f"ⓘ {describer} described {_plural(described)} for {model}, which cannot see images."
    if failed:
        text += f" {_plural(failed)} could not be described and {'was' if failed == 1 else 'were'} left out."
    return text


def omitted_notice(count: int, model: str, fix: str) -> str:
    """The one line Codex shows when image descriptions are off; FIX says how to turn them on."""
    return f"ⓘ {model} cannot see images: {_plural(count)} left out ({fix})."


def notice_item(text: str) -> dict[str, Any]:
    return {"id": f"msg_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def notice_events(text: str) -> list[dict[str, Any]]:
    """A complete assistant message at output index 0, for the start of a stream (the
    caller numbers the events; the answer's own items start at index 1)."""
    item = notice_item(text)
    part = item["content"][0]
    common = {"item_id": item["id"], "output_index": 0}
    return [
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **common, "content_index": 0, "part": {**part, "text": ""}},
        {"type": "response.output_text.delta", **common, "content_index": 0, "delta": text},
        {"type": "response.output_text.done", **common, "content_index": 0, "text": text},
        {"type": "response.content_part.done", **common, "content_index": 0, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
    ]
