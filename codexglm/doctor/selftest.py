"""The proxy self-test: a real Codex-shaped request through a freshly started proxy.

The request declares the three kinds of tool Codex sends (a function, a freeform custom
tool and a function inside a namespace, like an MCP server's) and asks GLM to call each.
What comes back is judged by the rules Codex 0.169's stream reader applies (protocol.md
§4.1): events it drops, items it cannot route, a missing `response.completed` id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
import trio

from ..codex.contract import TERMINAL_EVENTS, Call, Verdict, judge
from ..launcher import one_line
from ..settings import Settings
from ..translate import SSEDecoder
from ..translate.sse import SSEError
from .report import Check, Status, ms

FUNCTION = "report_status"
CUSTOM = "write_note"
NAMESPACE, NAMESPACED = "mcp__doctor", "ping"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": FUNCTION,
        "description": "Report the status of the connectivity check.",
        "strict": False,
        "parameters": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"],
                       "additionalProperties": False},
    },
    {
        "type": "custom",
        "name": CUSTOM,
        "description": "Write a short note. This is a FREEFORM tool: its input is plain text, not JSON.",
        "format": {"type": "text"},
    },
    {
        "type": "namespace",
        "name": NAMESPACE,
        "description": "Tools of the doctor MCP server.",
        "tools": [
            {
                "type": "function",
                "name": NAMESPACED,
                "description": "Answer a connectivity ping.",
                "strict": False,
                "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            }
        ],
    },
]
PROMPT = (
    "This is an automated connectivity check. Write one short sentence saying you are ready, then call "
    f'all three tools once, in parallel: {FUNCTION} with status "ok", {CUSTOM} with the text "ok", and '
    f'{NAMESPACED} from the {NAMESPACE} server with text "ok".'
)
_OUTPUT_EVENTS = ("response.output_text.delta", "response.reasoning_summary_text.delta",
                  "response.reasoning_text.delta", "response.output_item.done")


def request_body(model: str) -> dict[str, Any]:
    """A streaming request shaped like Codex 0.169's."""
    return {
        "model": model,
        "instructions": "You are Codex, a coding agent. Follow the user's instructions exactly.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        "tools": TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
    }


# --------------------------------------------------------------------------- judging


# The tools as `judge` names them, and what kind each is.
DECLARED = {FUNCTION: "function", CUSTOM: "custom", f"{NAMESPACE}.{NAMESPACED}": "function"}


def inspect_events(events: list[Any]) -> Verdict:
    """The self-test's stream judged by Codex's stream contract."""
    return judge(events, declared=DECLARED)


def _label(call: Call) -> str:
    if call.type == "custom_tool_call":
        return "freeform"
    return "namespaced" if call.namespace else "function"


def verdict(found: Verdict, timings: Mapping[str, float]) -> tuple[Status, str, str]:
    terminal = found.terminal or {}
    if terminal.get("type") == "response.failed":
        error = (terminal.get("response") or {}).get("error") or {}
        return (
            Status.FAIL,
            f"the proxy reported a failure: {error.get('message') or error.get('code') or 'no details'}",
            "See the endpoint and model checks above.",
        )
    if found.problems:
        return (
            Status.FAIL,
            f"the answer is not in the shape Codex needs: {'; '.join(found.problems)}",
            "Please report this output and the proxy's request log.",
        )
    if terminal.get("type") == "response.incomplete":
        reason = (terminal.get("response") or {}).get("incomplete_details") or {}
        return Status.WARN, f"GLM stopped early ({reason.get('reason', 'no reason given')})", "Run the doctor again."
    came = [what for what, there in (("text", found.text), ("reasoning", found.reasoning)) if there]
    if found.calls:
        labels = ", ".join(_label(call) for call in found.calls)
        came.append(f"{len(found.calls)} tool call{'s' * (len(found.calls) > 1)} ({labels})")
    latency = ""
    if "proxy_ms" in timings:
        latency = f"; the proxy adds {timings['proxy_ms']:.0f} ms"
        if "first_output_ms" in timings:
            latency += f", first output after {timings['first_output_ms']:.0f} ms"
    summary = f"{_join(came) or 'nothing'} came back in Codex's shape{latency}"
    if not found.calls:
        return Status.WARN, f"{summary}, but GLM called no tool", "Run the doctor again; if GLM never calls tools, try another default_model."
    return Status.OK, summary, ""


def _join(parts: list[str]) -> str:
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- running


async def selftest(settings: Settings, timeout: float) -> Check:
    """Start the proxy on a free loopback port, send the request, stop the proxy."""
    try:
        from ..server import serve
    except ImportError as exc:  # a broken install: quart or hypercorn missing
        return Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy cannot be loaded: {one_line(exc)}",
                     "Reinstall codexglm with its dependencies (pip install --force-reinstall codexglm).")

    token = secrets.token_urlsafe(24)
    crashed: list[BaseException] = []

    async def run_proxy(task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(settings, token, task_status=task_status)
        except Exception as exc:  # reported as the check's result, not as a traceback
            crashed.append(exc)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        try:
            host, port = await nursery.start(run_proxy)
        except RuntimeError:
            reason = one_line(crashed[0]) if crashed else "it stopped before listening"
            return Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy did not start: {reason}",
                         "See the loopback port check above; `codexglm serve` shows the full error.")
        try:
            check = await _exchange(f"http://{host}:{port}/v1/responses", token, settings.default_model, timeout)
        finally:
            nursery.cancel_scope.cancel()
    if crashed:
        return Check("proxy.selftest", "self-test", Status.FAIL, f"the proxy failed: {one_line(crashed[0])}",
                     "Please report this output and the proxy's server.log.")
    return replace(check, timings={**check.timings, "elapsed_ms": ms(trio.current_time() - started)})


async def _exchange(url: str, token: str, model: str, timeout: float) -> Check:
    events: list[Any] = []
    timings: dict[str, float] = {}
    title = "self-test"
    sent = trio.current_time()
    with trio.move_on_after(timeout):
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False) as http:
                async with http.stream("POST", url, json=request_body(model),
                                       headers={"Authorization": f"Bearer {token}"}) as response:
                    if response.status_code != 200:
                        body = (await response.aread())[:2000].decode(errors="replace")
                        return Check("proxy.selftest", title, Status.FAIL,
                                     f"the proxy answered HTTP {response.status_code}: {_error_text(body)}",
                                     "Please report this output and the proxy's request log.")
                    await _read_events(response, events, timings, sent)
        except (httpx.HTTPError, SSEError) as exc:
            return Check("proxy.selftest", title, Status.FAIL, f"the stream from the proxy broke: {one_line(exc)}",
                         "Please report this output and the proxy's server.log.", timings)
        status, message, fix = verdict(inspect_events(events), timings)
        return Check("proxy.selftest", title, status, message, fix, timings)
    got = f" after {len(events)} events" if events else ""
    return Check("proxy.selftest", title, Status.WARN, f"no complete answer within {timeout:.0f} s{got}",
                 "GLM was slow; run the doctor again.", timings)


async def _read_events(response: httpx.Response, events: list[Any], timings: dict[str, float], sent: float) -> None:
    decoder = SSEDecoder()
    async for raw in response.aiter_raw():
        for payload in decoder.feed(raw):
            if payload == "[DONE]":
                continue
            try:
                event = json.loads(payload)
            except ValueError:
                event = None
            now = trio.current_time() - sent
            if not events:
                timings["proxy_ms"] = ms(now)
            if isinstance(event, dict) and event.get("type") in _OUTPUT_EVENTS and "first_output_ms" not in timings:
                timings["first_output_ms"] = ms(now)
            events.append(event)
            if isinstance(event, dict) and event.get("type") in TERMINAL_EVENTS:
                timings["total_ms"] = ms(now)
                return


def _error_text(body: str) -> str:
    try:
        error = json.loads(body).get("error") or {}
        return str(error.get("message") or body)
    except (ValueError, AttributeError):
        return body.strip() or "no body"


