"""Codex's stream contract, as one judge every produced stream is held to.

These are the rules Codex 0.169's Responses stream reader applies (protocol.md §4.1):
events it drops (a delta before its item was added, a reasoning delta without its
index), items it cannot route, a terminal event it cannot parse.  Two more are our own
promises: a response that fails or is cut short records no `output_item.done` (Codex
would keep half an answer in its history), and output indexes have no gaps.  The
translator's tests, the fuzz suite and `doctor` all run their streams through `judge()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TERMINAL_EVENTS = ("response.completed", "response.failed", "response.incomplete")
# Deltas that Codex routes to the item announced by `response.output_item.added`.
_ITEM_DELTAS = (
    "response.output_text.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.function_call_arguments.delta",
    "response.custom_tool_call_input.delta",
)


@dataclass(frozen=True)
class Call:
    """One tool call as Codex will run it."""

    type: str  # function_call, custom_tool_call, tool_search_call, local_shell_call
    name: str | None
    namespace: str | None
    call_id: str


@dataclass
class Verdict:
    """What a stream held, and every rule it broke."""

    text: str = ""
    reasoning: str = ""
    calls: list[Call] = field(default_factory=list)
    terminal: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str | None:
        """completed, failed or incomplete; None when the stream never ended."""
        if self.terminal is None:
            return None
        return str(self.terminal["type"]).removeprefix("response.")


def judge(events: Iterable[Any], *, declared: Mapping[str, str] | None = None) -> Verdict:
    """Check a stream of Responses events (decoded JSON objects, in order).

    DECLARED maps the tool names the request declared (`ns.name` for namespaced tools) to
    their kind, `function` or `custom`; calls to anything else are reported.
    """
    verdict = Verdict()
    added: dict[int, Any] = {}
    done: list[int] = []
    last_sequence: int | None = None
    for position, event in enumerate(events):
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            verdict.problems.append(f"event {position + 1} has no type")
            continue
        if verdict.terminal is not None:
            verdict.problems.append(f"{kind} came after the terminal {verdict.terminal['type']}")
            break
        sequence = event.get("sequence_number")
        if isinstance(sequence, int):
            if last_sequence is not None and sequence <= last_sequence:
                verdict.problems.append(f"sequence_number {sequence} does not increase")
            last_sequence = sequence
        if position == 0 and (kind != "response.created" or not isinstance(event.get("response"), dict)):
            verdict.problems.append(f"the stream starts with {kind}, not response.created")
        if kind == "response.output_item.added":
            index = event.get("output_index")
            if isinstance(index, int):
                added[index] = (event.get("item") or {}).get("id")
        elif kind in _ITEM_DELTAS:
            _check_delta(kind, event, added, verdict)
        elif kind == "response.output_item.done":
            index = event.get("output_index")
            if isinstance(index, int):
                done.append(index)
            _check_item(event.get("item"), declared, verdict)
        elif kind in TERMINAL_EVENTS:
            verdict.terminal = event
    _check_terminal(verdict, done)
    return verdict


def _check_delta(kind: str, event: dict[str, Any], added: dict[int, Any], verdict: Verdict) -> None:
    index = event.get("output_index")
    if index is not None and index not in added:
        verdict.problems.append(f"a {kind} came before its output_item.added (Codex drops it)")
    elif index is None and not added:
        verdict.problems.append(f"a {kind} came before any output_item.added (Codex drops it)")
    if kind == "response.reasoning_summary_text.delta" and not isinstance(event.get("summary_index"), int):
        verdict.problems.append("a reasoning summary delta has no summary_index")
    if kind == "response.reasoning_text.delta" and not isinstance(event.get("content_index"), int):
        verdict.problems.append("a reasoning delta has no content_index")


def _check_item(item: Any, declared: Mapping[str, str] | None, verdict: Verdict) -> None:
    if not isinstance(item, dict):
        verdict.problems.append("an output_item.done has no item")
        return
    kind = item.get("type")
    if kind == "message":
        content = item.get("content")
        parts = content if isinstance(content, list) else []
        verdict.text += "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))
    elif kind == "reasoning":
        parts = [p for key in ("summary", "content") for p in (item.get(key) or []) if isinstance(p, dict)]
        verdict.reasoning += "".join(str(p.get("text") or "") for p in parts)
    elif kind in ("function_call", "custom_tool_call", "tool_search_call", "local_shell_call"):
        _check_call(item, kind, declared, verdict)


def _check_call(item: dict[str, Any], kind: str, declared: Mapping[str, str] | None, verdict: Verdict) -> None:
    name, namespace, call_id = item.get("name"), item.get("namespace"), item.get("call_id")
    shown = f"{namespace}.{name}" if namespace else str(name)
    if not isinstance(call_id, str) or not call_id:
        verdict.problems.append(f"the {shown} call has no call_id")
        return
    if kind == "function_call":
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            verdict.problems.append(f"the {shown} call's arguments are not a string")
            return
        try:
            json.loads(arguments)
        except ValueError:
            verdict.problems.append(f"the {shown} call's arguments are not JSON")
            return
    elif kind == "custom_tool_call" and not isinstance(item.get("input"), str):
        verdict.problems.append(f"the freeform {shown} call has no string input")
        return
    if declared is not None and kind in ("function_call", "custom_tool_call"):
        expected = declared.get(shown)
        if expected is None:
            verdict.problems.append(f"a call to {shown} matches no declared tool (Codex answers 'unsupported call')")
        elif expected == "custom" and kind == "function_call":
            verdict.problems.append(f"the freeform tool {shown} came back as a function call (Codex answers 'unsupported call')")
        elif expected == "function" and kind == "custom_tool_call":
            verdict.problems.append(f"the function {shown} came back as a freeform call")
    verdict.calls.append(Call(kind, name if isinstance(name, str) else None,
                              namespace if isinstance(namespace, str) else None, call_id))


def _check_terminal(verdict: Verdict, done: list[int]) -> None:
    terminal = verdict.terminal
    if terminal is None:
        verdict.problems.append("the stream ended without a terminal event (response.completed)")
        return
    response = terminal.get("response")
    if not isinstance(response, dict):
        verdict.problems.append(f"{terminal['type']} carries no response object")
        return
    if terminal["type"] != "response.completed":
        if done:
            verdict.problems.append(f"a {terminal['type']} response recorded {len(done)} output_item.done (half an answer)")
        return
    if not isinstance(response.get("id"), str) or not response["id"]:
        verdict.problems.append("response.completed has no response.id (Codex fails to parse it)")
    if sorted(done) != list(range(len(done))):
        verdict.problems.append(f"output indexes {sorted(done)} have gaps or repeats")
    usage = response.get("usage")
    if usage is not None and not all(
        isinstance(usage.get(k), int) for k in ("input_tokens", "output_tokens", "total_tokens")
    ):
        verdict.problems.append("response.completed carries usage without input/output/total tokens")
